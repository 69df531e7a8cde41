"""`SwapTrainer`: the swap model trained under a freeze schedule, one `fit()` per stage, into a run folder.

The chunked loop itself (feed from any step, step counter, losses.csv, checkpoints, Ctrl-C, TensorBoard,
the caller's `callbacks=`) is `zoo.loop.ChunkedLoop`, shared with the pretrainer. On top of it, here:
the stage machine (enter a stage at its step or when the plateau trigger fires; either recompile with
a fresh optimizer and carry the moments over, or, on short runs, switch stages by variables without a
recompile: `zoo.training.switch`, chosen by `TrainConfig.stage_switch`), previews, exact resume of the
stage and optimizer state, BatchNorm calibration before saves, and the loss plot, written on Ctrl-C
too (the recipe then prints the run's disk summary, as at the end).
"""
from __future__ import annotations

import functools
import logging
import os
import time
from pathlib import Path

import numpy as np

from zoo import runs
from zoo.interrupt import TrainingInterrupted
from zoo.loop import ChunkedLoop
from zoo import compiling
from zoo.optim import optimizer_state, restore_optimizer_state, state_from_file
from zoo.schedule import FreezeSchedule, Plateau, apply_stage, trainable_label
from zoo.training.batchnorm import CALIBRATION_PIXELS, recalibrate_batchnorm
from zoo.training.config import TrainConfig
from zoo.training.feed import batch_as_dicts, batch_at, pooled_feed
from zoo.training.switch import StageSwitch, choose_switch

log = logging.getLogger("facezoo.train")

__all__ = ["SwapTrainer"]


class SwapTrainer(ChunkedLoop):
    """Trains a `SwapModel` on a dataset under a `FreezeSchedule`, writing a run folder.

    Args:
        model: the `SwapModel` (shared encoder + decoders).
        schedule: a `BoundSchedule` (`FreezeSchedule.bind`, used as it is), or a `FreezeSchedule` or its
            string form, bound (validated against the encoder) here, before any step.
        dataset: a `zoo.data.dataset.FaceDataset` or any indexable whose item `i` is
            (inputs per identity, targets+masks per identity).
        run_dir: the run folder (see `zoo.runs`).
        config: `TrainConfig`.
        meta: extra facts for `state.json` (older callers; `spec` is the run's facts).
        spec: the run's `zoo.runspec.RunSpec` (built by `train_pair`), saved whole in every state.json.
        callbacks: extra Keras callbacks, run in every `fit()` (after TensorBoard, before the progress line).
        workers: data worker processes (`zoo.data.pool`; None: sized from the cores, 0: batches in this
            process); the batches, and so the weights, are the same for any count.
        use_multiprocessing: ignored (kept for callers of the Keras-enqueuer era: workers are processes).
    """

    def __init__(self, model, schedule: FreezeSchedule, dataset, run_dir, config: TrainConfig | None = None,
                 meta: dict | None = None, workers: int | None = None, use_multiprocessing: bool = False, *,
                 callbacks=None, spec=None):
        self.schedule = FreezeSchedule.parse(schedule).bind(model.encoder)  # a bound one: as it is
        self.dataset = dataset
        self.workers = self.data_workers = workers
        self.stage_index = 0
        self.stage_start = 0
        self.stage_losses: list[float] = []
        self.history: list[dict] = []
        self.last_preview = 0
        self._carry_state: dict | None = None
        self._compiled_stage: int | None = None
        self._preview_batch = None
        self._calibrated_step: int | None = None
        self._switch: StageSwitch | None = None
        self.switch_mode: str | None = None  # "recompile" or "switch", fixed at the first compile
        self._init_loop(model, run_dir, config or TrainConfig(), meta, callbacks, spec)

    # --- resume --------------------------------------------------------------------------------

    @classmethod
    def resume(cls, run_dir, dataset, *, config: TrainConfig | None = None, **kwargs) -> "SwapTrainer":
        """Continue a run from its last complete checkpoint: same step, stage and optimizer state."""
        from zoo.runspec import RunSpec

        state = runs.read_state(run_dir)
        model = runs.load_run(run_dir)
        saved = TrainConfig.from_state(state, config.steps if config is not None else None)
        spec = RunSpec.from_state(state, run_dir=run_dir, steps=saved.steps) if state.get("spec") else None
        trainer = cls(model, FreezeSchedule.parse(state["schedule"]), dataset, run_dir, saved,
                      meta=state.get("meta"), spec=spec, **kwargs)
        trainer._resumed(state)
        trainer.stage_index = int(state["stage"])
        trainer.stage_start = int(state.get("stage_start", 0))
        trainer.stage_losses = list(state.get("stage_losses", []))
        trainer.history = list(state.get("stage_history", []))
        trainer.last_preview = trainer.step
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
        """Apply the stage's trainable set, recompile with a fresh optimizer, carry the slots over (or,
        under the stage switch, compile once and switch by variables after that)."""
        if self.switch_mode is None:
            self.switch_mode = choose_switch(self.config.stage_switch, self.schedule, self.target_steps)
            log.info("stage changes: %s", "switched by variables, no recompile (zoo.training.switch)"
                     if self.switch_mode == "switch" else "recompile per stage")
        if self.switch_mode == "switch" and self._switch is not None:
            n_weights = self._switch.apply(self.stage_index, self.model.optimizer, previous=self._compiled_stage)
            self._compiled_stage = self.stage_index
            log.info("stage %d/%d at step %d: %s; %d trainable encoder weights (switched, no recompile)",
                     self.stage_index + 1, len(self.schedule.stages), self.step, self.stage.describe(), n_weights)
            return
        if getattr(self.model, "optimizer", None) is not None and self.model.optimizer.built:
            self._carry_state = optimizer_state(self.model, self.model.optimizer)
        switching = self.switch_mode == "switch"
        if switching:
            self._switch = StageSwitch(self.model, self.schedule)
            n_weights = self._switch.install()
        else:
            n_weights = apply_stage(self.model.encoder, self.schedule, self.stage)
        loss = compiling.face_loss(self.config, self.model.input_size)
        compiling.compile_for_training(self.model, self.config, loss={k: loss for k in self.model.identities},
                                       encoder=self.model.encoder, encoder_lr=self.stage.lr_multiplier, switchable=switching)
        carried = 0
        if self._carry_state is not None:
            carried = restore_optimizer_state(self.model, self.model.optimizer, self._carry_state)
        if switching:
            n_weights = self._switch.apply(self.stage_index, self.model.optimizer)
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
        self.history.append({"stage": index, "trainable": self.stage.trainable.record, "step": self.step,
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
        try:
            self.run_chunks(total, lambda callbacks: self._train_until(total, callbacks))
        except TrainingInterrupted:
            self.plot_losses()  # Ctrl-C leaves the loss plot of the steps done, as the end of a run does
            raise
        if not finalize:
            return self.state()
        if self.checkpoint_pending():
            self.save_checkpoint()
        if self.last_preview != self.step:
            self.write_preview()
        self.plot_losses()
        return self.state()

    def _train_until(self, total: int, callbacks: list) -> None:
        """The stage loop: one `fit()` per stage (Ctrl-C: `run_chunks` saves and raises)."""
        while self.step < total:
            nxt = self._next_stage()
            stop_at = total
            stop_when = None
            if nxt is not None:
                if isinstance(nxt.start, int):
                    stop_at = min(total, max(nxt.start, self.step + 1))
                else:
                    stop_when = self._plateau_check(nxt.start)
            control = self.fit_until(stop_at, callbacks, stop_when)
            if nxt is not None and (control.reason == "plateau" or
                                    (isinstance(nxt.start, int) and self.step >= nxt.start)):
                self._enter_stage(self.stage_index + 1, "plateau" if control.reason == "plateau" else "step")
                if not self.stop_request.requested:  # a resumed run compiles the new stage itself
                    self._compile_for_stage()
            if self.stop_request.requested:
                raise TrainingInterrupted(self.step, self.run_dir)

    def _plateau_check(self, plateau: Plateau):
        """After each chunk: "plateau" once the trigger fires on this stage's losses."""
        return lambda: "plateau" if plateau.fired(self.stage_losses) else None

    def _advance_by_step(self) -> None:
        while True:
            nxt = self._next_stage()
            if nxt is None or not isinstance(nxt.start, int) or self.step < nxt.start:
                return
            self._enter_stage(self.stage_index + 1, "step")

    # --- the loop's hooks (zoo.loop) -----------------------------------------------------------

    def feed(self, offset: int):
        return pooled_feed(self.batch_pool(functools.partial(batch_at, self.dataset)), self.model.identities, offset)

    def note_loss(self, loss: float) -> None:
        self.stage_losses.extend([loss] * max(1, self.config.chunk))

    def loss_columns(self, logs: dict) -> dict:
        keys = ["loss"] + [f"{k}_loss" for k in self.model.identities]
        return {**{k: f"{logs.get(k, float('nan')):.6f}" for k in keys}, "stage": self.stage_index + 1}

    def end_chunk(self) -> None:
        if self.step - self.last_preview >= self.config.preview_every:
            self.write_preview()

    def progress_identities(self):
        return self.model.identities

    def pending_changes(self) -> int:
        """Stage changes still ahead before `target_steps` (a plateau-started one counts: it may fire)."""
        return sum(1 for stage in self.schedule.stages[self.stage_index + 1:]
                   if not isinstance(stage.start, int) or stage.start < self.target_steps)

    def progress_options(self) -> dict:
        """The ETA adds the stage changes still ahead, each at its measured cost (`zoo.progress`); the switch
        changes stages without a recompile, so its first estimate is none."""
        switching = (self.switch_mode or choose_switch(self.config.stage_switch, self.schedule,
                                                       self.target_steps)) == "switch"
        return {"pending_changes": self.pending_changes, "change_cost": 0.0 if switching else None,
                "recompiles": not switching}

    def prepare_save(self) -> None:
        self.calibrate()

    def state(self) -> dict:
        return {
            **super().state(),
            "stage": self.stage_index,
            "stage_start": self.stage_start,
            "stage_losses": self.stage_losses[-4 * 1000:],
            "stage_history": self.history,
            "schedule": self.schedule.to_string(),
            "identities": list(self.model.identities),
            "input_size": self.model.input_size,
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

    def write_checkpoint(self, folder, keep: int) -> Path:
        """The loop's checkpoint (`ChunkedLoop.save_checkpoint`), then RUN/model.keras pointed at it: a hard
        link to the checkpoint's file, swapped in atomically."""
        final = super().write_checkpoint(folder, keep)
        link_tmp = Path(folder) / f".{runs.MODEL}.{os.getpid()}.tmp"
        if link_tmp.exists():
            link_tmp.unlink()
        os.link(final / runs.MODEL, link_tmp)
        os.replace(link_tmp, Path(folder) / runs.MODEL)
        return final

    def write_preview(self) -> Path | None:
        """RUN/previews/step-N.png: labelled columns A, A rebuilt, A->B, A->B mask, B, B rebuilt, B->A,
        B->A mask, one row per sample, scaled up to a readable size (`zoo.preview.preview_grid`)."""
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
