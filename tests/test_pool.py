"""The parallel data path (`zoo.data.pool`): the same batches for any worker count, exact resume of both
trainers through it, errors raised in the trainer, and no worker process left behind (Ctrl-C, kill, errors)."""
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="worker processes fork (Linux)")


def _alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie, dead but not yet reaped, counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _wait_gone(pids, limit=60.0) -> list:
    """The pids still alive once all are gone or `limit` s passed (a guard against hanging, not a timing test)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.1)
    return [p for p in pids if _alive(p)]


def _same(a, b):
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for k in a:
            _same(a[k], b[k])
    elif isinstance(a, (tuple, list)):
        assert type(a) is type(b) and len(a) == len(b)
        for u, v in zip(a, b):
            _same(u, v)
    else:
        np.testing.assert_array_equal(a, b)
        assert np.asarray(a).dtype == np.asarray(b).dtype


def test_two_workers_make_the_batches_of_one_process_in_any_order():
    from zoo.data.corpus import open_corpus
    from zoo.data.pool import BatchPool

    sampler = open_corpus("synthetic:30").sampler(6, 32, holdout=2, seed=5)
    with BatchPool(sampler.batch, 2) as pool, BatchPool(sampler.batch, 0) as here:
        for step in [3, 4, 5, 6, 0, 1, 1, 7, 40]:   # in order, back (a resume), again, ahead
            _same(pool.get(step), here.get(step))
        pids = pool.pids
        assert len(pids) == 2 and all(_alive(p) for p in pids)
    assert _wait_gone(pids) == []


def test_workers_hand_over_uint8_batches_that_expand_to_the_float_batches_exactly():
    """The pretrainer's path: workers make `compact_batch` (uint8, a quarter of the bytes), the trainer
    scales it (`expand_batch`); the result is `sampler.batch(step)` bit for bit."""
    from zoo.data.corpus import open_corpus
    from zoo.data.pool import BatchPool
    from zoo.data.sampler import expand_batch

    sampler = open_corpus("synthetic:30").sampler(6, 32, holdout=2, seed=5)
    with BatchPool(sampler.compact_batch, 2) as pool:
        for step in [0, 1, 9]:
            compact = pool.get(step)
            assert compact[0].dtype == compact[2].dtype == np.uint8 and compact[1].dtype == np.int32
            _same(expand_batch(compact), sampler.batch(step))
    x, _, y = sampler.batch(0)
    assert x.dtype == y.dtype == np.float32 and 0.0 <= x.min() and x.max() <= 1.0


def test_nested_batches_round_trip_and_oversized_batches_still_arrive():
    from zoo.data.pool import BatchPool

    def make(step):  # the swap trainer's shape: tuples of per-identity arrays; later batches may be larger
        n = 2 if step < 3 else 5
        return ((np.full((n, 4, 4, 3), step, np.float32), np.ones((n, 4, 4, 3), np.float32)),
                {"ids": np.arange(n, dtype=np.int32) + step, "name": f"batch-{step}"})

    with BatchPool(make, 2) as pool:
        for step in range(6):
            _same(pool.get(step), make(step))


def test_a_worker_error_reaches_the_trainer_and_stops_the_pool():
    from zoo.data.pool import BatchPool
    from zoo.errors import DataError

    def make(step):
        if step == 4:
            raise DataError(f"corrupt face in batch {step}")
        return np.full((2, 3), step, np.float32)

    pool = BatchPool(make, 2)
    pool.get(0)
    pids = pool.pids
    with pytest.raises(DataError, match="corrupt face in batch 4"):
        for step in range(1, 10):
            pool.get(step)
    assert pool.closed and _wait_gone(pids) == []


def test_a_dead_worker_is_a_run_error_not_a_hang():
    from zoo.data.pool import BatchPool
    from zoo.errors import RunError

    def make(step):
        if step >= 2 and os.getpid() != parent:
            os._exit(3)  # a worker killed mid-batch (out of memory, a segfault in a decoder)
        return np.zeros(4, np.float32)

    parent = os.getpid()
    pool = BatchPool(make, 1)
    pool.get(0)
    with pytest.raises(RunError, match="died with exit code 3"):
        for step in range(1, 6):
            pool.get(step)


def test_stalled_workers_are_replaced_and_print_their_stacks(tmp_path, capfd, caplog):
    """A worker that hangs (a lock inherited from another thread at the fork) does not hang the run: after
    `stall` seconds of silence the pool prints the workers' stacks, forks new workers and goes on."""
    from zoo.data.pool import BatchPool

    token = tmp_path / "hang-once"
    token.write_text("")

    def make(step):
        if os.getpid() != parent and token.exists():
            token.unlink()
            _hung_in_a_worker()
        return np.full((2, 3), step, np.float32)

    parent = os.getpid()
    with BatchPool(make, 2, stall=10.0) as pool:  # long enough that a fresh fork answers in time
        for step in range(8):
            np.testing.assert_array_equal(pool.get(step), make(step))
        assert pool.workers == 2 and len(pool.pids) == 2 and all(_alive(p) for p in pool.pids)
    assert "Starting new workers" in caplog.text
    assert "_hung_in_a_worker" in capfd.readouterr().err  # faulthandler's dump, from the stuck worker


def test_workers_that_stall_twice_give_way_to_batches_made_here(caplog):
    from zoo.data.pool import BatchPool

    def make(step):
        if os.getpid() != parent:
            _hung_in_a_worker()
        return np.full((2, 3), step, np.float32)

    parent = os.getpid()
    with BatchPool(make, 2, stall=1.0) as pool:
        pool.get(0)
        pids = pool.pids
        for step in range(1, 4):
            np.testing.assert_array_equal(pool.get(step), make(step))
        assert pool.workers == 0 and pool.pids == []
    assert "trainer's process" in caplog.text
    assert _wait_gone(pids) == []


def _hung_in_a_worker():
    import time
    while True:
        time.sleep(0.1)


_SCRIPT = textwrap.dedent("""
    import signal, sys, time
    signal.signal(signal.SIGINT, signal.default_int_handler)  # also when started with SIGINT ignored
    sys.path.insert(0, {root!r})
    from zoo.data.corpus import open_corpus
    from zoo.data.pool import BatchPool
    pool = BatchPool(open_corpus("synthetic:20").sampler(4, 32, holdout=2).batch, 2)
    pool.get(0); pool.get(1)
    print("PIDS", *pool.pids, flush=True)
    try:
        while True:
            time.sleep(0.05)
    finally:
        pool.close()
""")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL])
def test_no_orphan_workers_after_ctrl_c_or_kill(tmp_path, sig):
    """Ctrl-C (SIGINT to the whole process group, as a terminal sends it) or SIGKILL of the trainer:
    its data workers go too (SIGINT: `close()`; SIGKILL: they die with their parent)."""
    script = tmp_path / "feed.py"
    script.write_text(_SCRIPT.format(root=str(ROOT)))
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith("PIDS"), proc.stderr.read()[-2000:]
        pids = [int(p) for p in line.split()[1:]]
        assert len(pids) == 2 and all(_alive(p) for p in pids)
        if sig == signal.SIGINT:
            os.killpg(proc.pid, signal.SIGINT)
        else:
            proc.kill()
        proc.wait(timeout=120)
        assert _wait_gone(pids) == []
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _tagged(tag: str) -> list:
    """Live processes whose environment carries `FACEZOO_POOL_TEST=tag` (a trainer and its workers)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if f"FACEZOO_POOL_TEST={tag}".encode() in (entry / "environ").read_bytes().split(b"\0"):
                    found.append(int(entry.name))
            except OSError:
                continue
    return [p for p in found if _alive(p)]


@pytest.mark.slow
def test_ctrl_c_of_facezoo_pretrain_leaves_no_worker_and_resumes(tmp_path):
    """`facezoo pretrain` with 2 data workers: Ctrl-C saves and exits 130 with no process left behind;
    --resume continues from the saved step through a new pool."""
    import json
    import uuid

    run, tag = tmp_path / "run", uuid.uuid4().hex
    cmd = [sys.executable, "-m", "recipes.cli", "pretrain", "--corpus", "synthetic:12", "--size", "32",
           "--batch-size", "4", "--chunk", "1", "--decoder-width", "16", "--holdout", "2", "--eval-steps", "0",
           "--workers", "2", "--run", str(run)]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1", "FACEZOO_POOL_TEST": tag}
    proc = subprocess.Popen(cmd + ["--steps", "400"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    seen = []
    for line in proc.stdout:  # the progress line after a finished step: the pool is running
        seen.append(line)
        if "loss" in line and "step" in line:
            break
    workers = [p for p in _tagged(tag) if p != proc.pid]
    assert len(workers) == 2, "".join(seen)[-3000:]
    proc.send_signal(signal.SIGINT)
    rest, _ = proc.communicate(timeout=600)
    out = "".join(seen) + rest
    assert proc.returncode == 130 and "Traceback" not in out, out[-3000:]
    assert _wait_gone(workers) == [] and _tagged(tag) == []
    step = json.loads((run / "state.json").read_text())["step"]
    done = subprocess.run(cmd + ["--steps", str(step + 2), "--resume", "--quiet"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert json.loads((run / "state.json").read_text())["step"] == step + 2
    assert _tagged(tag) == []


def _pretrainer(run, workers, steps, resume=False):
    import keras

    from zoo.data.corpus import open_corpus
    from zoo.pretrain import PretrainConfig, Pretrainer, build_pretrain_model

    from _support import tiny_encoder as _tiny_encoder

    sampler = open_corpus("synthetic:12").sampler(4, 32, holdout=2, seed=1)
    if resume:
        trainer = Pretrainer.resume(run, sampler, workers=workers)
    else:
        keras.utils.set_random_seed(0)
        config = PretrainConfig(steps=steps, batch_size=4, size=32, chunk=1, checkpoint_every=100,
                                decoder_width=16, tensorboard=False)
        build = lambda: build_pretrain_model(_tiny_encoder(32), 12, size=32, decoder_width=16, inter="conv",
                                             inter_channels=16)
        trainer = Pretrainer.create(build, sampler, run, config, workers=workers)
    trainer.progress = False
    trainer.train(steps)
    return [np.asarray(w) for w in trainer.model.weights]


def test_pretraining_with_workers_gives_the_weights_of_one_process_and_resumes_exactly(tmp_path):
    one = _pretrainer(tmp_path / "w0", 0, 3)
    two = _pretrainer(tmp_path / "w2", 2, 3)
    for a, b in zip(one, two):
        np.testing.assert_array_equal(a, b)
    _pretrainer(tmp_path / "r2", 2, 2)
    resumed = _pretrainer(tmp_path / "r2", 2, 3, resume=True)
    for a, b in zip(two, resumed):
        np.testing.assert_array_equal(a, b)


@pytest.mark.slow
def test_swap_training_with_workers_gives_the_batches_and_weights_of_one_process(tmp_path):
    import keras

    import zoo
    from zoo.data.dataset import ArraySource, FaceDataset
    from zoo.training import SwapTrainer, TrainConfig

    rng = np.random.default_rng(0)
    faces = [rng.integers(0, 255, (6, 40, 40, 3), dtype=np.uint8) for _ in range(2)]

    def run(workers, folder):
        keras.utils.set_random_seed(0)
        dataset = FaceDataset([ArraySource(f) for f in faces], batch_size=2, size=32, seed=3)
        encoder = zoo.build_encoder("mobilenet-face", input_size=32)
        model = zoo.build_swap_model(encoder, ["a", "b"], decoder_width=16)
        trainer = SwapTrainer(model, "frozen", dataset, tmp_path / folder,
                              TrainConfig(steps=3, chunk=1, checkpoint_every=100, tensorboard=False),
                              workers=workers)
        trainer.progress = False
        feed = trainer.feed(0)
        batches = [feed[i] for i in range(3)]
        trainer.close_pool()
        trainer.train(3)
        return batches, [np.asarray(w) for w in model.weights]

    (b0, w0), (b2, w2) = run(0, "w0"), run(2, "w2")
    _same(b0, b2)
    for a, b in zip(w0, w2):
        np.testing.assert_array_equal(a, b)
