"""Training progress for people: step/total, loss per identity, steps/s and ETA.

On a terminal one line is redrawn in place (a bar); when stdout is not a terminal (CI logs, `| tee`)
a plain line is printed every `every` steps instead, so logs stay readable. Before the first step of
each compile the user is told that it compiles and roughly how long that takes, because that first
step is silent for up to a minute or two on a CPU (72 s for effnet-face-v2 at 64 px, measured here).
`quiet=True` prints nothing.

The ETA counts the stage changes still ahead (`pending_changes`), each at a measured cost: the extra
time of the first step after each change so far (a recompile, or the stage switch's few assignments),
before any, the caller's `change_cost` estimate, else the run's own first compile.
"""
from __future__ import annotations

import sys
import time

import keras

COMPILE_NOTE = ("the first step compiles the training graph: about a minute on a CPU "
                "(2-3 min for large encoders), seconds on a GPU; later steps are fast")
RECOMPILE_NOTE = "new stage: the next step recompiles the training graph (about a minute on a CPU)"
SWITCH_NOTE = "new stage: switched by variables, no recompile"


def format_seconds(seconds: float) -> str:
    """`75` -> `1m15s`; `3700` -> `1h01m`; short and fixed-ish width for progress lines."""
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{(seconds % 3600) // 60:02d}m"


class Progress(keras.callbacks.Callback):
    """A Keras callback that reports a run's progress (see the module docstring).

    Args:
        total: the run's last step.
        step_fn: returns the trainer's current global step (the trainer counts steps itself).
        label: what is training, e.g. "train" or "pretrain".
        identities: identity names whose `<name>_loss` is shown beside the total loss.
        every: steps between plain lines when stdout is not a terminal.
        stream: where to write (default: sys.stdout); `quiet` silences it.
        pending_changes: returns how many stage changes are still ahead (the ETA adds their cost).
        change_cost: seconds one change is expected to cost until one has been measured (None: the
            first compile's time, as each change recompiles).
        recompiles: whether a stage change recompiles (what the note at each new `fit()` says).
        clock: the time source (tests drive it by hand).
    """

    def __init__(self, total: int, step_fn, *, label: str = "train", identities=(), every: int = 10,
                 stream=None, quiet: bool = False, pending_changes=None, change_cost: float | None = None,
                 recompiles: bool = True, clock=time.perf_counter):
        super().__init__()
        self.total = int(total)
        self.step_fn = step_fn
        self.label = label
        self.identities = list(identities)
        self.every = max(1, int(every))
        self.stream = stream or sys.stdout
        self.quiet = quiet
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._t0 = None
        self._s0 = None
        self._compiling_since = None
        self._drawn = False
        self._fits = 0
        self.pending_changes = pending_changes or (lambda: 0)
        self.change_cost = change_cost
        self.recompiles = recompiles
        self.clock = clock
        self.compile_seconds: float | None = None  # the first fit's first step
        self.change_seconds: list[float] = []      # measured extra time of each stage change
        self._rate: float | None = None            # steps/s, kept across fits
        self._ended: float | None = None
        from zoo.tfquiet import StderrFilter
        self._filter = StderrFilter()  # hides grappler's harmless "remapper failed" during compiles

    def _write(self, text: str) -> None:
        if self.quiet:
            return
        self.stream.write(text)
        self.stream.flush()

    def on_train_begin(self, logs=None):
        self._compiling_since = self.clock()
        self._t0 = None
        self._fits += 1
        note = COMPILE_NOTE if self._fits == 1 else RECOMPILE_NOTE if self.recompiles else SWITCH_NOTE
        self._write(f"[{self.label}] step {self.step_fn() + 1}/{self.total}: {note}\n")
        if keras.backend.backend() == "tensorflow":
            self._filter.start()

    def on_train_batch_end(self, batch, logs=None):
        step = self.step_fn()
        now = self.clock()
        if self._t0 is None:  # the first (compiling) step is not part of the speed
            self._filter.stop()
            compile_s = now - self._compiling_since
            if self._fits == 1:
                self.compile_seconds = compile_s
            elif self._ended is not None:  # a stage change: from the last fit's end, less one ordinary step
                step_s = 1.0 / self._rate if self._rate else 0.0
                self.change_seconds.append(max(0.0, now - self._ended - step_s))
            self._t0, self._s0 = now, step
            if not self.tty:
                self._write(f"[{self.label}] first step done in {compile_s:.0f}s\n")
        if self.tty or step % self.every == 0 or step >= self.total:
            self._write(self.line(step, logs or {}, now))

    def line(self, step: int, logs: dict, now: float | None = None) -> str:
        now = self.clock() if now is None else now
        done = step - (self._s0 or step)
        rate = done / (now - self._t0) if self._t0 is not None and now > self._t0 and done > 0 else None
        if rate:
            self._rate = rate
        rate = rate or self._rate
        parts = [f"step {step}/{self.total}"]
        if "loss" in logs:
            parts.append(f"loss {float(logs['loss']):.4f}")
        per = [f"{name} {float(logs[f'{name}_loss']):.4f}" for name in self.identities if f"{name}_loss" in logs]
        if per:
            parts[-1] += " (" + ", ".join(per) + ")"
        if rate:
            parts.append(f"{rate:.2f} steps/s")
            eta = (self.total - step) / rate
            pending = int(self.pending_changes()) if step < self.total else 0
            cost = self.change_estimate()
            if pending and cost is not None and cost >= 0.5:
                eta += pending * cost
                parts.append(f"ETA {format_seconds(eta)} (with {pending} stage change{'s' * (pending > 1)} "
                             f"~{format_seconds(cost)} each)")
            else:
                parts.append(f"ETA {format_seconds(eta)}")
        text = "  ".join(parts)
        if not self.tty:
            return f"[{self.label}] {text}\n"
        width = 24
        filled = int(width * min(1.0, step / max(1, self.total)))
        self._drawn = True
        return f"\r[{self.label}] |{'#' * filled}{'.' * (width - filled)}| {text}\x1b[K"

    def change_estimate(self) -> float | None:
        """Seconds one stage change costs: the mean measured so far, else `change_cost`, else the first
        compile's time (None before anything is known)."""
        if self.change_seconds:
            return sum(self.change_seconds) / len(self.change_seconds)
        if self.change_cost is not None:
            return float(self.change_cost)
        return self.compile_seconds

    def close(self) -> None:
        """Give stderr back if `fit()` ended (or raised) before its first step finished."""
        self._filter.stop()

    def on_train_end(self, logs=None):
        self._ended = self.clock()
        self.close()
        if self._drawn and self.tty:
            self._write("\n")
            self._drawn = False
