"""`SwapTrainer`: the swap model trained under a freeze schedule, one `fit()` per stage, into a run folder.

The stage machine (enter a stage at its step or when the plateau trigger fires, recompile with a fresh
optimizer and carry the moments over), the chunk callback (`_Control`: step counter, losses.csv,
checkpoints, previews), exact resume from a checkpoint, and BatchNorm calibration before saves.
Why one module of about 360 lines: `SwapTrainer` is one class whose methods share its state; splitting
it further means the shared chunked loop of issue 15, not moving code.
"""
from __future__ import annotations

import csv
import dataclasses
import logging
import os
import time
import warnings
from pathlib import Path

import keras
import numpy as np

from zoo import runs
from zoo.interrupt import StopRequest, TrainingInterrupted, stop_on_interrupt
from zoo.losses import FaceLoss
from zoo.optim import (make_optimizer, optimizer_state, restore_optimizer_state, state_from_file)
from zoo.progress import Progress
from zoo.schedule import FreezeSchedule, Plateau, apply_stage, trainable_label
from zoo.training.batchnorm import CALIBRATION_PIXELS, recalibrate_batchnorm
from zoo.training.config import TrainConfig, resolve_jit
from zoo.training.feed import StepBatches, batch_as_dicts, batch_at

log = logging.getLogger("facezoo.train")

__all__ = ["SwapTrainer"]


class _Control(keras.callbacks.Callback):
    """Counts steps, records chunk losses, decides stage ends, checkpoints and previews."""

    def __init__(self, trainer, stop_at: int | None, plateau: Plateau | None):
        super().__init__()
        self.trainer = trainer
        self.stop_at = stop_at
        self.plateau = plateau
        self.reason = None

    def on_train_batch_end(self, batch, logs=None):
        t = self.trainer
        t.step += 1
        if self.stop_at is not None and t.step >= self.stop_at:
            self.reason = "step"
            self.model.stop_training = True
        if t.stop_request.requested:  # Ctrl-C: stop at this step boundary (see zoo.interrupt)
            self.reason = "interrupt"
            self.model.stop_training = True

    def on_epoch_end(self, epoch, logs=None):
        t = self.trainer
        logs = {k: float(v) for k, v in (logs or {}).items()}
        t.record_losses(logs)
        if self.plateau is not None and self.plateau.fired(t.stage_losses):
            self.reason = "plateau"
            self.model.stop_training = True
        if t.step - t.last_preview >= t.config.preview_every:
            t.write_preview()
        if t.step - t.last_checkpoint >= t.config.checkpoint_every:
            t.save_checkpoint()


class SwapTrainer:
    """Trains a `SwapModel` on a dataset under a `FreezeSchedule`, writing a run folder.

    Args:
        model: the `SwapModel` (shared encoder + decoders).
        schedule: the `FreezeSchedule` (validated against the encoder before any step).
        dataset: a `zoo.data.dataset.FaceDataset` or any indexable whose item `i` is
            (inputs per identity, targets+masks per identity).
        run_dir: the run folder (see `zoo.runs`).
        config: `TrainConfig`.
        meta: extra facts for `state.json` (encoder reference, data folders, ...).
    """

    def __init__(self, model, schedule: FreezeSchedule, dataset, run_dir, config: TrainConfig | None = None,
                 meta: dict | None = None, workers: int = 1, use_multiprocessing: bool = False):
        self.model = model
        self.schedule = FreezeSchedule.parse(schedule) if isinstance(schedule, str) else schedule
        self.schedule.validate(model.encoder)
        self.dataset = dataset
        self.run_dir = Path(run_dir)
        self.config = config or TrainConfig()
        self.target_steps = int(self.config.steps)  # the total `train()` runs to; recorded in state.json
        self.meta = dict(meta or {})
        self.workers = workers
        self.use_multiprocessing = use_multiprocessing
        self.step = 0
        self.stage_index = 0
        self.stage_start = 0
        self.stage_losses: list[float] = []
        self.history: list[dict] = []
        self.last_checkpoint = 0
        self.last_preview = 0
        self._carry_state: dict | None = None
        self._compiled_stage: int | None = None
        self._preview_batch = None
        self._calibrated_step: int | None = None
        self.progress = True  # the step/loss/ETA line (zoo.progress); recipes turn it off with --quiet
        self.progress_label = "train"
        self.stop_request = StopRequest()
        self.run_dir.mkdir(parents=True, exist_ok=True)

    # --- resume --------------------------------------------------------------------------------

    @classmethod
    def resume(cls, run_dir, dataset, *, config: TrainConfig | None = None, **kwargs) -> "SwapTrainer":
        """Continue a run from its last complete checkpoint: same step, stage and optimizer state."""
        state = runs.read_state(run_dir)
        model = runs.load_run(run_dir)
        saved = TrainConfig(**{k: v for k, v in state.get("config", {}).items()
                               if k in {f.name for f in dataclasses.fields(TrainConfig)}})
        if config is not None:
            saved = dataclasses.replace(saved, steps=config.steps)
        trainer = cls(model, FreezeSchedule.parse(state["schedule"]), dataset, run_dir, saved,
                      meta=state.get("meta"), **kwargs)
        trainer.step = int(state["step"])
        trainer.stage_index = int(state["stage"])
        trainer.stage_start = int(state.get("stage_start", 0))
        trainer.stage_losses = list(state.get("stage_losses", []))
        trainer.history = list(state.get("stage_history", []))
        trainer.last_checkpoint = trainer.last_preview = trainer.step
        runs.truncate_losses(run_dir, trainer.step)
        optimizer_file = runs.checkpoint_dir(run_dir, state) / runs.OPTIMIZER
        if optimizer_file.exists():
            trainer._carry_state = state_from_file(optimizer_file)
        else:  # dropped to save disk (the quickstart's finished pretraining): moments restart from zero
            log.warning("%s has no %s: the optimizer starts afresh", optimizer_file.parent, runs.OPTIMIZER)
        log.info("resumed %s at step %d, stage %d (%s)", run_dir, trainer.step, trainer.stage_index + 1,
                 trainer.stage.describe())
        return trainer

    # --- stages ---------------------------------------------------------------------------------

    @property
    def stage(self):
        return self.schedule.stages[self.stage_index]

    def _compile_for_stage(self) -> None:
        """Apply the stage's trainable set, recompile with a fresh optimizer, carry the slots over."""
        if getattr(self.model, "optimizer", None) is not None and self.model.optimizer.built:
            self._carry_state = optimizer_state(self.model, self.model.optimizer)
        n_weights = apply_stage(self.model.encoder, self.schedule, self.stage)
        size = self.model.input_size
        ms = self.config.ms_ssim if self.config.ms_ssim is not None else size >= 128
        loss = FaceLoss(recon=self.config.recon, ssim_weight=self.config.ssim_weight, ms_ssim=ms,
                        mask_weight=self.config.mask_weight)
        optimizer = make_optimizer(self.model, self.model.encoder, learning_rate=self.config.learning_rate,
                                   encoder_lr=self.stage.lr_multiplier)
        self.model.compile(optimizer=optimizer, loss={k: loss for k in self.model.identities},
                           jit_compile=resolve_jit(self.config.jit_compile))
        self.model.optimizer.build(self.model.trainable_variables)
        carried = 0
        if self._carry_state is not None:
            carried = restore_optimizer_state(self.model, self.model.optimizer, self._carry_state)
        self._compiled_stage = self.stage_index
        log.info("stage %d/%d at step %d: %s; %d trainable encoder weights; %d optimizer slots carried over",
                 self.stage_index + 1, len(self.schedule.stages), self.step, self.stage.describe(),
                 n_weights, carried)

    def _next_stage(self):
        if self.stage_index + 1 < len(self.schedule.stages):
            return self.schedule.stages[self.stage_index + 1]
        return None

    def _enter_stage(self, index: int, reason: str) -> None:
        self.stage_index = index
        self.stage_start = self.step
        self.stage_losses = []
        self.history.append({"stage": index, "trainable": self.stage.trainable, "step": self.step,
                             "reason": reason, "lr_multiplier": self.stage.lr_multiplier,
                             "time": time.time()})
        log.info("-> stage %d (%s) begins at step %d (%s)", index + 1, trainable_label(self.stage.trainable),
                 self.step, reason)

    # --- the loop -------------------------------------------------------------------------------

    def train(self, steps: int | None = None, *, finalize: bool = True) -> dict:
        """Train until `steps` (total, counting earlier calls); returns the final state dict.

        `finalize=False` skips the closing checkpoint, preview and plot (for callers that train in
        slices and evaluate between them).
        """
        total = int(steps or self.target_steps)
        self.target_steps = total
        if not self.history:
            self._enter_stage(0, "start")
        # Stages whose step start has already passed (resume) are entered at once.
        self._advance_by_step()
        if self._compiled_stage != self.stage_index:
            self._compile_for_stage()
        callbacks_extra = self._tensorboard()
        progress = Progress(total, lambda: self.step, label=self.progress_label, identities=self.model.identities,
                            every=max(1, self.config.chunk), quiet=not self.progress)
        callbacks_extra.append(progress)
        with stop_on_interrupt() as self.stop_request:
            try:
                self._train_until(total, callbacks_extra)
            finally:
                progress.close()
        if not finalize:
            return self.state()
        if self.last_checkpoint != self.step or not (self.run_dir / runs.STATE).exists():
            self.save_checkpoint()
        if self.last_preview != self.step:
            self.write_preview()
        self.plot_losses()
        return self.state()

    def _train_until(self, total: int, callbacks_extra: list) -> None:
        """The stage loop: one `fit()` per stage (or until Ctrl-C, then save and raise)."""
        try:
            while self.step < total:
                nxt = self._next_stage()
                stop_at = total
                plateau = None
                if nxt is not None:
                    if isinstance(nxt.start, int):
                        stop_at = min(total, max(nxt.start, self.step + 1))
                    else:
                        plateau = nxt.start
                control = _Control(self, stop_at, plateau)
                chunk = max(1, self.config.chunk)
                epochs_left = -(-(stop_at - self.step) // chunk)
                data = StepBatches(self.dataset, self.model.identities, self.step, self.workers,
                                    self.use_multiprocessing)
                first_epoch = self.step // chunk
                with warnings.catch_warnings():
                    # The step stream is infinite by design (a resumed run continues where it stopped);
                    # Keras' warning that it cannot shuffle it is expected. Scoped here, not set at import.
                    warnings.filterwarnings("ignore", message=r".*infinite PyDataset.*")
                    self.model.fit(data, steps_per_epoch=chunk, initial_epoch=first_epoch,
                                   epochs=first_epoch + epochs_left, verbose=0,
                                   callbacks=[control, *callbacks_extra])
                if nxt is not None and (control.reason == "plateau" or
                                        (isinstance(nxt.start, int) and self.step >= nxt.start)):
                    self._enter_stage(self.stage_index + 1, "plateau" if control.reason == "plateau" else "step")
                    if not self.stop_request.requested:  # a resumed run compiles the new stage itself
                        self._compile_for_stage()
                if self.stop_request.requested:
                    raise TrainingInterrupted(self.step, self.run_dir)
        except KeyboardInterrupt as exc:
            log.warning("interrupted at step %d: saving a checkpoint", self.step)
            if self.last_checkpoint != self.step or not (self.run_dir / runs.STATE).exists():
                self.save_checkpoint()
            if isinstance(exc, TrainingInterrupted):
                raise
            raise TrainingInterrupted(self.step, self.run_dir) from None

    def _advance_by_step(self) -> None:
        while True:
            nxt = self._next_stage()
            if nxt is None or not isinstance(nxt.start, int) or self.step < nxt.start:
                return
            self._enter_stage(self.stage_index + 1, "step")

    def _tensorboard(self) -> list:
        if not self.config.tensorboard:
            return []
        import importlib.util
        if importlib.util.find_spec("tensorflow") is None or importlib.util.find_spec("tensorboard") is None:
            return []
        return [keras.callbacks.TensorBoard(log_dir=str(self.run_dir / runs.LOGS), update_freq="epoch",
                                            write_graph=False)]

    # --- records --------------------------------------------------------------------------------

    def record_losses(self, logs: dict) -> None:
        chunk = max(1, self.config.chunk)
        loss = logs.get("loss")
        if loss is None:
            return
        self.stage_losses.extend([loss] * chunk)
        path = self.run_dir / runs.LOSSES
        keys = ["loss"] + [f"{k}_loss" for k in self.model.identities]
        new = not path.exists()
        with open(path, "a", newline="") as f:
            writer = csv.writer(f)
            if new:
                writer.writerow(["step", *keys, "stage", "time"])
            writer.writerow([self.step, *[f"{logs.get(k, float('nan')):.6f}" for k in keys],
                             self.stage_index + 1, f"{time.time():.3f}"])

    def state(self) -> dict:
        return {
            "step": self.step,
            "stage": self.stage_index,
            "stage_start": self.stage_start,
            "stage_losses": self.stage_losses[-4 * 1000:],
            "stage_history": self.history,
            "schedule": self.schedule.to_string(),
            "identities": list(self.model.identities),
            "input_size": self.model.input_size,
            "config": {**self.config.to_dict(), "steps": self.target_steps},
            "meta": self.meta,
            "backend": keras.backend.backend(),
        }

    def calibrate(self, batches: int = 8) -> int:
        """Bring the encoder's BatchNorm statistics up to date (see `recalibrate_batchnorm`) from the
        run's own recent batches; called before every checkpoint, preview and evaluation."""
        if hasattr(self.model, "jax_state_sync"):
            self.model.jax_state_sync()
        if not self.config.calibrate_batchnorm:
            return 0
        if self._calibrated_step == self.step:  # a checkpoint and a preview at the same step: once
            return 0
        self._calibrated_step = self.step

        faces = []
        for i in range(batches):
            x, _ = batch_as_dicts(batch_at(self.dataset, max(0, self.step - 1 - i)), self.model.identities)
            faces.extend(np.asarray(v) for v in x.values())
        faces = np.concatenate(faces, axis=0)
        # Few large forward passes: eager dispatch per layer, not arithmetic, dominates small batches on
        # CPU (8 x 16 faces of effnet-face-v2 at 64 px: 6.4 s; 1 x 128: 1.1 s). Capped by pixels for memory.
        per_pass = max(1, CALIBRATION_PIXELS // int(np.prod(faces.shape[1:3])))
        return recalibrate_batchnorm(self.model.encoder,
                                     np.array_split(faces, -(-len(faces) // per_pass)))

    def save_checkpoint(self) -> Path:
        """Write a complete checkpoint folder, then point model.keras and state.json at it.

        A kill at any moment leaves the previous checkpoint and state.json intact.
        """
        self.calibrate()
        final, _ = runs.write_checkpoint_dir(self.run_dir, self.step, self.model, self.state(),
                                             keep=self.config.keep_checkpoints)
        # RUN/model.keras: a hard link to the checkpoint's file, swapped in atomically.
        link_tmp = self.run_dir / f".{runs.MODEL}.{os.getpid()}.tmp"
        if link_tmp.exists():
            link_tmp.unlink()
        os.link(final / runs.MODEL, link_tmp)
        os.replace(link_tmp, self.run_dir / runs.MODEL)
        self.last_checkpoint = self.step
        log.info("checkpoint at step %d -> %s", self.step, final)
        return final

    def write_preview(self) -> Path | None:
        """A PNG grid: for each of the first two identities X, Y: X, X->X, X->Y (rows of samples)."""
        self.calibrate()
        from zoo.preview import preview_grid, write_png

        if self._preview_batch is None:
            x, y = batch_as_dicts(batch_at(self.dataset, 0), self.model.identities)
            self._preview_batch = {k: np.asarray(v)[:4, ..., :3] for k, v in y.items()}
        grid = preview_grid(self.model, self._preview_batch)
        path = self.run_dir / runs.PREVIEWS / f"step-{self.step:08d}.png"
        write_png(path, grid)
        self.last_preview = self.step
        return path

    def plot_losses(self) -> Path | None:
        from zoo.preview import plot_losses
        return plot_losses(self.run_dir / runs.LOSSES, self.history, self.run_dir / runs.LOSS_PLOT)
