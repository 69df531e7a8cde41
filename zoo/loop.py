"""The one chunked training loop under `SwapTrainer` and `Pretrainer`: Keras `fit()` in chunks of steps.

`ChunkedLoop` is the base of both trainers. It owns what a run of either kind does between its steps:
the step-indexed feed (`step_feed_class()`: item `i` is batch `offset + i` of the run, so a resumed run
sees the batches it would have seen), the control callback (counts steps, stops at a step or on Ctrl-C,
records each chunk's losses in losses.csv, checkpoints every `checkpoint_every` steps), the one
checkpoint writer (`save_checkpoint`, through `zoo.runs.write_checkpoint_dir`: a temp folder renamed,
the newest `keep_checkpoints` kept), resume bookkeeping, TensorBoard, the progress line and the
caller's own Keras callbacks (`callbacks=`). File names and `read_state` are `zoo.runs`'s.
`LoopConfig` holds the loop's knobs; `TrainConfig` and `PretrainConfig` extend it.

A trainer supplies its feed (`feed`), its state (`state`), the fits of one `train()` call (through
`fit_until` inside `run_chunks`) and, optionally, hooks: `note_loss`, `loss_columns`, `end_chunk`,
`prepare_save`, `save_scope`, `write_checkpoint`. The stage machine (`SwapTrainer`) and data
parallelism (`Pretrainer`) sit on top. Keras loads only when a loop runs: `import zoo.loop` is cheap.
"""
from __future__ import annotations

import contextlib
import csv
import dataclasses
import functools
import logging
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

from zoo import runs
from zoo.interrupt import StopRequest, TrainingInterrupted, stop_on_interrupt

__all__ = ["ChunkedLoop", "LoopConfig", "step_feed_class"]


@dataclass(frozen=True)
class LoopConfig:
    """The knobs every chunked run has (`TrainConfig` and `PretrainConfig` extend it; a subclass may
    change a default, never a meaning)."""

    steps: int = 1000
    learning_rate: float = 2e-4
    chunk: int = 10                  # steps per Keras epoch: loss logging (and plateau resolution)
    checkpoint_every: int = 200
    keep_checkpoints: int = 1        # one full checkpoint (the newest); disk, issue 19
    tensorboard: bool = True         # RUN/logs: TensorBoard event files, when tensorboard is installed
    # the compile step's knobs (`zoo.compiling.compile_for_training`, shared by both trainers)
    recon: str = "mae"               # reconstruction term: mae | mse
    ssim_weight: float = 0.5
    ms_ssim: bool | None = None      # None: on at >= 128 px
    mask_weight: float = 0.5
    clipnorm: float | None = 1.0     # per-variable gradient clipping; None: off
    jit_compile: str | bool = "auto"  # auto: XLA except TensorFlow on CPU (`zoo.compiling.resolve_jit`)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict):
        """The config saved in a state.json (unknown keys from other versions are ignored)."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})

    @classmethod
    def from_state(cls, state: dict, steps: int | None = None):
        """A run's saved config, with a new total of `steps` when given (resume)."""
        config = cls.from_dict(state.get("config", {}))
        return config if steps is None else dataclasses.replace(config, steps=int(steps))


@functools.cache
def _keras_classes():
    import keras

    class StepFeed(keras.utils.PyDataset):
        """Infinite view of a run's batches from global step `offset` on: item `i` is `batch(offset + i)`."""

        def __init__(self, batch, offset: int, workers: int = 1, use_multiprocessing: bool = False,
                     max_queue_size: int = 10):
            super().__init__(workers=workers, use_multiprocessing=use_multiprocessing,
                             max_queue_size=max_queue_size)
            self.batch = batch
            self.offset = int(offset)

        @property
        def num_batches(self):
            return None

        def __getitem__(self, index):
            return self.batch(self.offset + index)

    class LoopControl(keras.callbacks.Callback):
        """Counts steps, stops at `stop_at` or on Ctrl-C (or when `stop_when()` names a reason after a
        chunk), records each chunk's losses and checkpoints when one is due. `reason`: why it stopped."""

        def __init__(self, loop, stop_at: int, stop_when=None):
            super().__init__()
            self.loop = loop
            self.stop_at = stop_at
            self.stop_when = stop_when
            self.reason = None

        def on_train_batch_end(self, batch, logs=None):
            loop = self.loop
            loop.step += 1
            if loop.step >= self.stop_at:
                self.reason = "step"
                self.model.stop_training = True
            if loop.stop_request.requested:  # Ctrl-C: stop at this step boundary (see zoo.interrupt)
                self.reason = "interrupt"
                self.model.stop_training = True

        def on_epoch_end(self, epoch, logs=None):
            loop = self.loop
            loop.record_losses({k: float(v) for k, v in (logs or {}).items()})
            reason = self.stop_when() if self.stop_when is not None else None
            if reason:
                self.reason = reason
                self.model.stop_training = True
            loop.end_chunk()
            if loop.step - loop.last_checkpoint >= loop.config.checkpoint_every:
                loop.save_checkpoint()

    return StepFeed, LoopControl


def step_feed_class():
    """The `StepFeed` class (a `keras.utils.PyDataset`; importing Keras on first use)."""
    return _keras_classes()[0]


class ChunkedLoop:
    """The base of a trainer: a model trained by `fit()` in chunks into a run folder (module docstring).

    Subclasses call `_init_loop` from their `__init__` and implement `feed(offset)` and `state()`.
    """

    progress_label = "train"
    logger = logging.getLogger("facezoo.train")

    def _init_loop(self, model, run_dir, config: LoopConfig, meta: dict | None, callbacks, spec=None) -> None:
        self.model = model
        self.run_dir = Path(run_dir)
        self.config = config
        self.spec = spec  # the run's `zoo.runspec.RunSpec`, saved whole in every state.json
        self.meta = {**dict(meta or {}), **(spec.meta() if spec is not None else {})}
        self.callbacks = list(callbacks or ())  # the caller's Keras callbacks, run in every fit()
        self.step = 0
        self.target_steps = int(self.config.steps)  # the total `train()` runs to; recorded in state.json
        self.last_checkpoint = 0
        self.seconds = 0.0  # time spent in train() (pretraining runs record it)
        self.progress = True  # the step/loss/ETA line (zoo.progress); recipes turn it off with --quiet
        self.stop_request = StopRequest()
        self.data_workers = getattr(self, "data_workers", None)  # None: sized from the cores (zoo.data.pool)
        self._pool = None
        self.run_dir.mkdir(parents=True, exist_ok=True)

    @property
    def is_chief(self) -> bool:
        """Whether this process writes the run folder (all but the other workers of a multi-process run)."""
        return True

    # --- hooks ------------------------------------------------------------------------------------

    def feed(self, offset: int):
        """The run's batches from global step `offset` on, as `fit()` input (a `StepFeed`)."""
        raise NotImplementedError

    def state(self) -> dict:
        """What state.json records (subclasses add their own keys)."""
        import keras
        state = {"step": self.step, "config": {**self.config.to_dict(), "steps": self.target_steps},
                 "meta": self.meta, "backend": keras.backend.backend()}
        if self.spec is not None:
            state["spec"] = {**self.spec.to_dict(), "config": state["config"]}
        return state

    def note_loss(self, loss: float) -> None:
        """A chunk's mean loss, before it is written to losses.csv."""

    def loss_columns(self, logs: dict) -> dict:
        """The losses.csv columns between `step` and `time`: {name: formatted value}."""
        return {"loss": f"{logs['loss']:.6f}"}

    def end_chunk(self) -> None:
        """After each chunk's losses are recorded, before a due checkpoint."""

    def progress_identities(self):
        return ()

    def progress_options(self) -> dict:
        """Extra `zoo.progress.Progress` options (the trainer's stage changes still ahead, for the ETA)."""
        return {}

    def prepare_save(self) -> None:
        """Bring the model's variables up to date before a checkpoint."""
        if hasattr(self.model, "jax_state_sync"):
            self.model.jax_state_sync()

    def save_scope(self):
        return contextlib.nullcontext()

    def batch_pool(self, make):
        """The run's `zoo.data.pool.BatchPool` over `make(step)` (`data_workers` processes), made once per
        `train()` call and closed when it returns, raises or is interrupted."""
        if self._pool is None or self._pool.closed:
            from zoo.data.pool import BatchPool
            self._pool = BatchPool(make, self.data_workers)
        return self._pool

    def close_pool(self) -> None:
        """Stop the data workers (no orphans on Ctrl-C or an error)."""
        if getattr(self, "_pool", None) is not None:
            self._pool.close()
            self._pool = None

    def checkpoint_pending(self) -> bool:
        """Whether the closing (or interrupted) `train()` must write a checkpoint."""
        return self.last_checkpoint != self.step or not (self.run_dir / runs.STATE).exists()

    # --- records ----------------------------------------------------------------------------------

    def record_losses(self, logs: dict) -> None:
        """Append the chunk's losses to RUN/losses.csv (step, `loss_columns`, time)."""
        loss = logs.get("loss")
        if loss is None:
            return
        self.note_loss(float(loss))
        if not self.is_chief:
            return
        columns = self.loss_columns(logs)
        path = self.run_dir / runs.LOSSES
        new = not path.exists()
        with open(path, "a", newline="") as f:
            writer = csv.writer(f)
            if new:
                writer.writerow(["step", *columns, "time"])
            writer.writerow([self.step, *columns.values(), f"{time.time():.3f}"])

    def write_checkpoint(self, folder, keep: int) -> Path:
        """RUN/checkpoints/step-N (model.keras, optimizer.npz, state.json) written complete or not at all,
        then RUN/state.json pointed at it; the newest `keep` checkpoints stay (`zoo.runs`)."""
        final, _ = runs.write_checkpoint_dir(folder, self.step, self.model, self.state(), keep=keep)
        return final

    def save_checkpoint(self) -> Path | None:
        """Write a complete checkpoint of this step; a kill at any moment leaves the previous one and
        state.json intact."""
        self.prepare_save()
        with self.save_scope():
            final = self.write_checkpoint(self.run_dir, keep=self.config.keep_checkpoints)
        self.last_checkpoint = self.step
        self.logger.info("checkpoint at step %d -> %s", self.step, final)
        return final

    def _resumed(self, state: dict) -> None:
        """Continue at a checkpoint's step; losses.csv loses the rows logged after it."""
        self.step = self.last_checkpoint = int(state["step"])
        if self.is_chief:
            runs.truncate_losses(self.run_dir, self.step)

    # --- the loop ---------------------------------------------------------------------------------

    def _tensorboard(self) -> list:
        if not self.config.tensorboard:
            return []
        import importlib.util
        if importlib.util.find_spec("tensorflow") is None or importlib.util.find_spec("tensorboard") is None:
            return []
        import keras
        return [keras.callbacks.TensorBoard(log_dir=str(self.run_dir / runs.LOGS), update_freq="epoch",
                                            write_graph=False)]

    def fit_until(self, stop_at: int, callbacks: list, stop_when=None):
        """One `fit()` from the current step to `stop_at` (or Ctrl-C, or `stop_when()`), in chunks of
        `config.chunk` steps; returns the `LoopControl` (its `reason` says why it stopped)."""
        control = _keras_classes()[1](self, stop_at, stop_when)
        chunk = max(1, int(self.config.chunk))
        first = self.step // chunk
        epochs = -(-(stop_at - self.step) // chunk)
        with warnings.catch_warnings():
            # The step stream is infinite by design (a resumed run continues where it stopped); Keras'
            # warning that it cannot shuffle it is expected. Scoped here, not set at import.
            warnings.filterwarnings("ignore", message=r".*infinite PyDataset.*")
            self.model.fit(self.feed(self.step), steps_per_epoch=chunk, initial_epoch=first, epochs=first + epochs,
                           verbose=0, shuffle=False, callbacks=[control, *callbacks])
        return control

    def run_chunks(self, total: int, fits, scope=None) -> None:
        """Run `fits(callbacks)` (the trainer's `fit_until` calls up to `total`) with the progress line,
        TensorBoard and the caller's callbacks, inside `scope`, with Ctrl-C stopping at a step boundary:
        an interrupted run saves a checkpoint and raises `TrainingInterrupted`. Adds the time to `seconds`."""
        from zoo.progress import Progress

        progress = Progress(total, lambda: self.step, label=self.progress_label, identities=self.progress_identities(),
                            every=max(1, int(self.config.chunk)), quiet=not self.progress,
                            **self.progress_options())
        callbacks = [*self._tensorboard(), *self.callbacks, progress]
        start = time.perf_counter()
        with stop_on_interrupt() as self.stop_request, scope or contextlib.nullcontext():
            try:
                fits(callbacks)
                if self.stop_request.requested and self.step < total:
                    raise TrainingInterrupted(self.step, self.run_dir)
            except KeyboardInterrupt as exc:
                self.seconds += time.perf_counter() - start
                start = None
                self.logger.warning("interrupted at step %d: saving a checkpoint", self.step)
                if self.checkpoint_pending():
                    self.save_checkpoint()
                if isinstance(exc, TrainingInterrupted):
                    raise
                raise TrainingInterrupted(self.step, self.run_dir) from None
            finally:
                self.close_pool()
                progress.close()
                if start is not None:
                    self.seconds += time.perf_counter() - start
