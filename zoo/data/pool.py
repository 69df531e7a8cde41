"""`BatchPool`: a run's batches made ahead by worker processes, handed over through shared memory.

A training run's batch `step` is a pure function of (seed, step) (`zoo.data.sampler.BatchSampler.batch`,
`zoo.training.feed.batch_at`), so any process may make any batch: workers decode, align and augment
batches `step+1, step+2, ...` while the model trains on `step`, and the data are the same for any number
of workers (0 = in this process). `get(step)` answers in any order (a resume, Keras peeking at the first
batch): a step not in flight restarts the pipeline there.

Why a small pool of our own rather than `keras.utils.PyDataset(use_multiprocessing=True)` or `grain`:
Keras' enqueuer starts a fresh process pool for every `fit()` (a run makes one per chunk of 10 steps, and
a swap run one per stage) and pickles every batch through a pipe (58 MB a batch at 256 px, batch 32);
`grain` is not installed here and would add a dependency for one job. This pool lives for a whole
`train()` call, forks once (the workers inherit the corpus, its memory-mapped crop cache and the
dataset's caches copy-on-write, and never import TensorFlow: nothing is unpickled), and writes each batch
into a slot of one anonymous shared mapping (`mmap`, MAP_SHARED): no name in /dev/shm to leak when a
process is killed. The consumer gets a copy, so a slot is free again as soon as `get` returns.

Workers ignore SIGINT (Ctrl-C is the trainer's: it stops at a step boundary), die with their parent
(PR_SET_PDEATHSIG on Linux, and a parent-pid check between tasks), and are stopped by `close()` (also
run when the pool is garbage-collected or the interpreter exits): a sentinel, then SIGTERM, then SIGKILL.
An exception in a worker is raised again in the trainer with the worker's traceback; a worker that dies
raises `RunError`. A pool whose workers are alive but hand back nothing for `stall` seconds (a worker stuck
on a lock it inherited from a thread of the trainer at the fork) prints the workers' Python stacks to
stderr, is replaced by a fresh fork, and after a second stall makes batches in this process: a warning,
never a hung run. Without `fork` (Windows, macOS' default) the pool makes batches in this process.
"""
from __future__ import annotations

import logging
import mmap
import multiprocessing as mp
import os
import queue
import signal
import sys
import time
import traceback
import warnings
import weakref

import numpy as np

from zoo.errors import DataError, RunError

log = logging.getLogger(__name__)

__all__ = ["BatchPool", "default_workers", "resolve_workers"]

_TIMEOUT = 0.5  # seconds between liveness checks while waiting (never a limit on how long a batch may take)
_STALL = 300.0  # seconds with no batch from live workers before the pool is replaced (a batch takes ~1 s)


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def default_workers() -> int:
    """Workers when none are asked for: one per core but the trainer's, at least 1, at most 16."""
    return max(1, min(16, _cores() - 1))


def resolve_workers(workers) -> int:
    """`None`/"auto" -> `default_workers()`; an int >= 0 as given (0: batches in the trainer's process)."""
    if workers is None or workers == "auto":
        return default_workers()
    try:
        n = int(workers)
    except (TypeError, ValueError):
        n = -1
    if n < 0:
        from zoo.errors import InputError
        raise InputError(f"data workers must be an integer >= 0 or 'auto' (0: no worker processes). "
                         f"Received: workers={workers!r}")
    return n


# --- batches as flat arrays ------------------------------------------------------------------------

def _flatten(obj, leaves: list):
    if isinstance(obj, np.ndarray):
        leaves.append(np.ascontiguousarray(obj))
        return ("a", len(leaves) - 1)
    if isinstance(obj, (tuple, list)):
        return ("t" if isinstance(obj, tuple) else "l", [_flatten(v, leaves) for v in obj])
    if isinstance(obj, dict):
        return ("d", [(k, _flatten(v, leaves)) for k, v in obj.items()])
    return ("o", obj)


def _unflatten(tree, leaves):
    kind, value = tree
    if kind == "a":
        return leaves[value]
    if kind in ("t", "l"):
        items = [_unflatten(v, leaves) for v in value]
        return tuple(items) if kind == "t" else items
    if kind == "d":
        return {k: _unflatten(v, leaves) for k, v in value}
    return value


# --- the worker ------------------------------------------------------------------------------------

def _die_with_parent() -> None:
    if sys.platform.startswith("linux"):
        try:
            import ctypes
            libc = ctypes.CDLL("libc.so.6", use_errno=True)
            libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
            libc.prctl(15, b"facezoo-data")  # PR_SET_NAME: what ps and top show
        except OSError:
            pass


def _worker(make, tasks, results, buf, slot_bytes: int, parent: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C belongs to the trainer (zoo.interrupt)
    _die_with_parent()
    try:
        import faulthandler
        faulthandler.register(signal.SIGUSR1, all_threads=True)  # the pool asks for stacks when stalled
    except (AttributeError, ValueError, OSError):  # no SIGUSR1 (Windows) or no usable stderr
        pass
    if os.getppid() != parent:
        return
    while True:
        try:
            task = tasks.get(timeout=1.0)
        except queue.Empty:
            if os.getppid() != parent:
                return
            continue
        if task is None:
            return
        gen, step, slot = task
        try:
            leaves: list = []
            tree = _flatten(make(step), leaves)
            total = sum(a.nbytes for a in leaves)
            if total > slot_bytes:
                results.put((gen, step, slot, "pickled", (tree, leaves)))
                continue
            layout, offset = [], slot * slot_bytes
            for a in leaves:
                buf[offset:offset + a.nbytes] = a.reshape(-1).view(np.uint8).data
                layout.append((a.dtype.str, a.shape, offset))
                offset += a.nbytes
            results.put((gen, step, slot, "shm", (tree, layout)))
        except BaseException as exc:  # noqa: BLE001 - every failure goes back to the trainer
            text = traceback.format_exc()
            try:
                import pickle
                pickle.dumps(exc)
            except Exception:  # noqa: BLE001
                exc = None
            results.put((gen, step, slot, "error", (exc, text)))


def _stop(procs, tasks, buf) -> None:
    """Stop the workers: a sentinel each, then SIGTERM, then SIGKILL; release the mapping."""
    for _ in procs:
        try:
            tasks.put_nowait(None)
        except Exception:  # noqa: BLE001 - a closed queue: the workers go by signal
            break
    for p in procs:
        p.join(timeout=2.0)
    for p in procs:
        if p.is_alive():
            p.terminate()
            p.join(timeout=2.0)
        if p.is_alive():
            p.kill()
            p.join()
    for q in (tasks,):
        q.cancel_join_thread()
        q.close()
    try:
        buf.close()
    except (BufferError, ValueError):
        pass


class BatchPool:
    """Batches `make(step)` made ahead by `workers` processes (0: here, on demand).

    `get(step)` -> the batch (nested tuples/lists/dicts of numpy arrays, as `make` returns it), a copy
    owned by the caller. `depth` batches are in flight at most (default: 2 per worker). Use as a
    context manager or call `close()`; `pids` lists the worker processes (tests check none survive).
    """

    def __init__(self, make, workers=None, *, depth: int | None = None, stall: float = _STALL):
        self.make = make
        self.stall = float(stall)
        self.workers = resolve_workers(workers)
        if self.workers and "fork" not in mp.get_all_start_methods():
            log.info("no fork on this platform: data batches are made in the trainer's process")
            self.workers = 0
        self.depth = int(depth or 2 * self.workers + 1)
        self._procs: list = []
        self._started = False
        self._gen = 0
        self._next = None          # the next step to hand to the workers
        self._inflight: dict[int, int] = {}   # step -> slot, this generation
        self._ready: dict[int, tuple] = {}    # step -> (slot, kind, payload)
        self._free: list[int] = []
        self._recent: dict[int, object] = {}  # the last batches handed out (Keras reads the first two twice)
        self._finalizer = None
        self._stalls = 0
        self.closed = False

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self._procs]

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # --- start and stop ----------------------------------------------------------------------------

    def _start(self, first) -> None:
        leaves: list = []
        _flatten(first, leaves)
        self.slot_bytes = max(64, sum(a.nbytes for a in leaves))
        self._spawn()
        self._started = True

    def _spawn(self) -> None:
        """Fork the workers with a fresh mapping and fresh queues; every slot free."""
        ctx = mp.get_context("fork")
        self._procs = []
        self._buf = mmap.mmap(-1, self.slot_bytes * self.depth)
        self._tasks, self._results = ctx.Queue(), ctx.Queue()
        parent = os.getpid()
        # OpenCV's thread pool does not survive a fork: a child that touches it (even setNumThreads) can
        # hang on threads it does not have. Fork with the pool at one thread (no threads), so each worker
        # runs OpenCV serially on its own core, then give this process its threads back.
        cv2 = sys.modules.get("cv2")
        threads = cv2.getNumThreads() if cv2 is not None else None
        if cv2 is not None:
            cv2.setNumThreads(1)
        try:
            with warnings.catch_warnings():
                # JAX warns that a fork of its (multithreaded) process may deadlock: true of a child that
                # runs JAX; these run numpy and OpenCV only. Scoped to the fork.
                warnings.filterwarnings("ignore", message=r".*os\.fork\(\) was called.*")
                for k in range(self.workers):
                    p = ctx.Process(target=_worker, name=f"facezoo-data-{k}", daemon=True,
                                    args=(self.make, self._tasks, self._results, self._buf, self.slot_bytes,
                                          parent))
                    p.start()
                    self._procs.append(p)
        finally:
            if cv2 is not None:
                cv2.setNumThreads(threads)
        self._free = list(range(self.depth))
        self._inflight.clear()
        self._ready.clear()
        self._finalizer = weakref.finalize(self, _stop, self._procs, self._tasks, self._buf)

    def close(self) -> None:
        """Stop the workers (idempotent); the pool makes no more batches."""
        self.closed = True
        if self._finalizer is not None:
            self._finalizer()
        self._inflight.clear()
        self._ready.clear()
        self._recent.clear()

    # --- batches -----------------------------------------------------------------------------------

    def get(self, step: int):
        """Batch `step`: from the workers when they made it ahead, else made now (and the pipeline
        restarted from there)."""
        step = int(step)
        if self.closed:
            raise RunError("the data pool is closed (its training call ended); make a new one")
        if self.workers == 0:
            return self.make(step)
        if step in self._recent:
            return self._recent[step]
        if not self._started:
            batch = self.make(step)
            self._start(batch)
            self._next = step + 1
            self._fill()
            return self._remember(step, batch)
        if step not in self._inflight and step not in self._ready:
            self._restart(step)
        while step not in self._ready:
            if not self._receive():
                self._replace_stalled(step)
                if self.workers == 0:
                    return self._remember(step, self.make(step))
        slot, kind, payload = self._ready.pop(step)
        batch = self._take(slot, kind, payload)
        self._fill()
        return self._remember(step, batch)

    def _remember(self, step: int, batch):
        self._recent[step] = batch
        while len(self._recent) > 2:
            self._recent.pop(next(iter(self._recent)))
        return batch

    def _restart(self, step: int) -> None:
        self._gen += 1  # results of the older generation only free their slots
        self._ready_slots_free()
        self._next = step
        self._fill()

    def _ready_slots_free(self) -> None:
        for slot, _, _ in self._ready.values():
            self._free.append(slot)
        self._ready.clear()
        self._inflight.clear()

    def _fill(self) -> None:
        while self._free:
            slot = self._free.pop()
            self._inflight[self._next] = slot
            self._tasks.put((self._gen, self._next, slot))
            self._next += 1

    def _receive(self) -> bool:
        """Take one result from the workers; False when none came for `stall` seconds."""
        waited_from = time.monotonic()
        while True:
            try:
                gen, step, slot, kind, payload = self._results.get(timeout=_TIMEOUT)
                break
            except queue.Empty:
                self._check_alive()
                if time.monotonic() - waited_from > self.stall:
                    return False
        if gen != self._gen:
            self._free.append(slot)
            self._fill()
            return True
        self._inflight.pop(step, None)
        if kind == "error":
            exc, text = payload
            self.close()
            if isinstance(exc, BaseException):
                raise exc.with_traceback(None) from RunError(f"in data worker, batch {step}:\n{text}")
            raise DataError(f"a data worker failed on batch {step}:\n{text}")
        self._ready[step] = (slot, kind, payload)
        return True

    def _replace_stalled(self, step: int) -> None:
        """Live workers that made nothing for `stall` seconds: print their stacks, stop them, and fork
        new ones from `step` on (after a second stall, make batches in this process from now on)."""
        self._stalls += 1
        pids = self.pids
        for pid in pids:
            try:
                os.kill(pid, signal.SIGUSR1)  # faulthandler in the worker prints its stacks to stderr
            except (AttributeError, OSError):
                pass
        time.sleep(1.0)
        self._finalizer()
        again = self._stalls < 2
        log.warning("data workers %s made no batch in %.0f s (batch %d outstanding); their stacks are on "
                    "stderr. %s", pids, self.stall, step,
                    "Starting new workers." if again else
                    "Making batches in the trainer's process from now on (as --workers 0).")
        if again:
            self._spawn()
            self._restart(step)
        else:
            self.workers = 0
            self._procs = []

    def _check_alive(self) -> None:
        for p in self._procs:
            if p.exitcode is not None:
                code = p.exitcode
                self.close()
                raise RunError(f"data worker {p.name} (pid {p.pid}) died with exit code {code}; "
                               "rerun with --workers 0 to make batches in the trainer's process and see why")

    def _take(self, slot: int, kind: str, payload):
        tree, layout = payload
        if kind == "pickled":
            leaves = layout
        else:
            leaves = []
            for dtype, shape, offset in layout:
                dt = np.dtype(dtype)
                count = int(np.prod(shape, dtype=np.int64))
                leaves.append(np.frombuffer(self._buf, dt, count, offset).reshape(shape).copy())
        self._free.append(slot)
        return _unflatten(tree, leaves)
