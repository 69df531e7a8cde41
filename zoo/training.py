"""The swap trainer: `model.fit` in chunks, with stages, checkpoints, previews and logs.

Training runs through Keras' own `fit()`, one call per stage, so every backend's compiled step is
used as is. Between stages the encoder's `trainable` flags change, the model is recompiled with a
fresh optimizer, and the optimizer state of variables that were already training is carried over
(see `zoo.optim`). A callback records each chunk's mean loss, ends a stage at its step or when the
plateau trigger fires, and writes checkpoints and previews.

`train_pair` builds a run (the encoder is loaded once; its spec and release travel on the model, see
`zoo.encoder_info`); `resume_pair` continues one from its folder alone, data stream included.
"""
from __future__ import annotations

import csv
import dataclasses
import logging
import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from zoo import runs
from zoo.errors import InputError
from zoo.interrupt import StopRequest, TrainingInterrupted, stop_on_interrupt
from zoo.losses import FaceLoss
from zoo.optim import (make_optimizer, optimizer_state, restore_optimizer_state, state_from_file)
from zoo.progress import Progress
from zoo.schedule import FreezeSchedule, Plateau, apply_stage, trainable_label

log = logging.getLogger("facezoo.train")



@dataclass(frozen=True)
class TrainConfig:
    """Knobs of a swap training run (all have CLI flags in `facezoo train`); frozen: a trainer never
    changes the config it was given (`train(steps)` keeps its own target)."""

    steps: int = 1000
    learning_rate: float = 2e-4
    chunk: int = 10                  # steps per Keras epoch: loss logging and plateau resolution
    checkpoint_every: int = 200
    preview_every: int = 100
    keep_checkpoints: int = 1       # one full checkpoint (the newest); disk, issue 19
    recon: str = "mae"
    ssim_weight: float = 0.5
    ms_ssim: bool | None = None       # None: on at >= 128 px
    mask_weight: float = 0.5
    jit_compile: str | bool = "auto"  # auto: XLA except TensorFlow on CPU (slower there, measured)
    tensorboard: bool = True
    calibrate_batchnorm: bool = True  # refresh training BatchNorm statistics before saves/previews

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


CALIBRATION_PIXELS = 128 * 64 * 64  # faces x pixels in one BatchNorm recalibration pass


def recalibrate_batchnorm(encoder, batches) -> int:
    """Re-estimate the moving mean/variance of the encoder's *training* BatchNorm layers.

    Once the encoder trains, Keras' moving averages (momentum 0.99) lag far behind the weights: on a
    few hundred steps, inference then scores far below training (measured in the time-to-quality
    benchmark). A cumulative average over `batches` of forward passes in training mode brings them up
    to date. Frozen BatchNorm layers run in inference mode and are left untouched. Returns how many
    layers were recalibrated.
    """
    from keras import layers

    bns = [layer for layer in encoder._flatten_layers(include_self=False)
           if isinstance(layer, layers.BatchNormalization) and layer.trainable]
    if not bns:
        return 0
    saved = [layer.momentum for layer in bns]
    try:
        for k, x in enumerate(batches):
            for layer in bns:
                layer.momentum = k / (k + 1.0)
            encoder(keras.ops.convert_to_tensor(np.asarray(x, "float32")), training=True)
    finally:
        for layer, momentum in zip(bns, saved):
            layer.momentum = momentum
    return len(bns)


def resolve_jit(setting):
    """XLA on GPUs and on JAX/torch; off for TensorFlow on CPU, where it made the first step 2x and
    trainable steps 2.4x slower (EfficientNetV2-B0 swap model, 64 px, measured here)."""
    if setting != "auto":
        return bool(setting)
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf
        return bool(tf.config.list_physical_devices("GPU"))
    return "auto"


class _StepBatches(keras.utils.PyDataset):
    """Infinite view of a dataset starting at a global step, as dicts keyed by identity."""

    def __init__(self, dataset, identities, offset: int, workers: int = 1,
                 use_multiprocessing: bool = False, max_queue_size: int = 10):
        super().__init__(workers=workers, use_multiprocessing=use_multiprocessing,
                         max_queue_size=max_queue_size)
        self.dataset = dataset
        self.identities = list(identities)
        self.offset = int(offset)

    @property
    def num_batches(self):
        return None

    def __getitem__(self, index):
        return batch_as_dicts(batch_at(self.dataset, self.offset + index), self.identities)


def batch_at(dataset, step: int):
    """Batch number `step` of a run: epoch-aware datasets (`.epoch`, `len()`) are walked epoch by
    epoch, so a resumed run sees the same batches it would have seen without the interruption."""
    if hasattr(dataset, "epoch") and hasattr(dataset, "__len__"):
        import copy

        epoch, index = divmod(int(step), len(dataset))
        if dataset.epoch != epoch:
            view = copy.copy(dataset)  # shares the image cache; thread-safe per epoch
            view.epoch = epoch
            return view[index]
        return dataset[index]
    return dataset[step]


def batch_as_dicts(batch, identities):
    """(inputs per identity, targets+mask per identity) -> ({id: x}, {id: y})."""
    x, y = batch[0], batch[1]
    if isinstance(x, dict):
        return x, y
    return ({k: np.asarray(v) for k, v in zip(identities, x)},
            {k: np.asarray(v) for k, v in zip(identities, y)})


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
                data = _StepBatches(self.dataset, self.model.identities, self.step, self.workers,
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


def prepare_encoder(encoder, *, size: int, pretrained: bool = True, hub=None):
    """An encoder at `size`: loaded from a hub or a path (resized if needed) or built from scratch.

    The release is resolved once, by `load_encoder`; what it resolved travels on the model
    (`zoo.encoder_info`) and is read from there. Returns (encoder, info) where info records what was
    loaded, for state.json and cards.
    """
    from zoo.builder import build_encoder
    from zoo.loading import load_encoder
    from zoo.registry import is_registered, parse_ref
    from zoo.spec import encoder_info

    if not isinstance(encoder, str):
        source = encoder_info(encoder)
        info = {"ref": encoder.name, "pretrained": None}
        if source is not None and source.repo_id:  # a model from load_encoder: record its release
            info.update(repo_id=source.repo_id, revision=source.revision)
        return encoder, info
    if not pretrained:
        if not is_registered(encoder):
            raise InputError(f"--encoder-weights none builds a registry architecture; {encoder!r} is not one.")
        return build_encoder(parse_ref(encoder)[0], input_size=size), {"ref": encoder, "pretrained": False}
    model = load_encoder(encoder, hub=hub, trainable=True)
    source = encoder_info(model)
    info = {"ref": encoder, "pretrained": True}
    if source.repo_id:
        info.update(repo_id=source.repo_id, revision=source.revision)
    if source.path:
        info.update(path=source.path)
    if int(model.input_shape[1]) != size:
        model = resize_encoder(model, size)
    return model, info


def resize_encoder(model, size: int):
    """Rebuild an encoder at another input size and copy its weights (convolutional backbones).

    The architecture comes from the spec the encoder carries; the copy carries the same spec and
    release (its weights are the release's).
    """
    from zoo.builder import build_encoder
    from zoo.spec import attach_info, encoder_info

    info = encoder_info(model)
    if info is None or info.spec is None:
        raise InputError(f"Encoder {model.name!r} carries no facezoo spec, so it cannot be rebuilt at {size} px. "
                         f"Train at --size {model.input_shape[1]}, or load it with zoo.load_encoder.")
    fresh = build_encoder(info.spec, input_size=size)
    try:
        fresh.set_weights(model.get_weights())
    except ValueError as exc:
        raise InputError(f"Encoder {info.spec.name!r} was trained at {model.input_shape[1]} px and its weights "
                         f"do not fit {size} px ({exc}). Train at --size {model.input_shape[1]}.") from None
    fresh.trainable = model.trainable
    return attach_info(fresh, info)


def train_pair(*, encoder, folders: dict, run_dir, schedule, size: int = 64, batch_size: int = 8,
               pretrained: bool = True, hub=None, decoder_width: int = 128, inter: str = "dense",
               seed: int = 0, workers: int = 1, config: TrainConfig | None = None,
               build_only: bool = False, dataset=None):
    """Build everything a swap run needs and train it (the library behind `facezoo train`).

    Args:
        encoder: a registry name/ref/path (loaded pretrained unless `pretrained=False`) or a model.
        folders: {identity: folder of aligned faces}; or pass `dataset` directly.
        schedule: a `FreezeSchedule` or its string form; validated before step 0.
    Returns the `SwapTrainer` (after training unless `build_only`).
    """
    from zoo.swap import build_swap_model

    schedule = FreezeSchedule.parse(schedule) if isinstance(schedule, str) else schedule
    enc, info = prepare_encoder(encoder, size=size, pretrained=pretrained, hub=hub)
    schedule.validate(enc)  # fail before building decoders or reading data
    if dataset is None:
        dataset = pair_dataset(folders, size=size, batch_size=batch_size, seed=seed)
    model = build_swap_model(enc, identities=list(folders), decoder_width=decoder_width, inter=inter)
    meta = {"encoder": info, "folders": {k: str(v) for k, v in folders.items()}, "batch_size": batch_size,
            "seed": seed, "decoder_width": decoder_width, "inter": inter}
    trainer = SwapTrainer(model, schedule, dataset, run_dir, config or TrainConfig(), meta=meta,
                          workers=workers)
    if not build_only:
        trainer.train()
    return trainer


def pair_dataset(folders: dict, *, size: int, batch_size: int, seed: int):
    """The training stream of a swap run: one `FaceDataset` over the identities' face folders."""
    from zoo.data.dataset import FaceDataset

    return FaceDataset([str(f) for f in folders.values()], batch_size=batch_size, size=size, seed=seed)


def resume_pair(run_dir, *, steps: int | None = None, batch_size: int | None = None, seed: int | None = None,
                folders: dict | None = None, workers: int = 1) -> SwapTrainer:
    """Continue a `train_pair` run from its folder alone (the library behind `facezoo train --resume`).

    The data stream is rebuilt from the run's saved face folders, batch size, seed and size, so the
    resumed run sees exactly the batches it would have seen without the interruption. `batch_size`,
    `seed` and `folders` may be passed only to confirm the saved values: a different value is a
    `RunError` naming both, raised before anything is loaded. `steps` sets the new total.
    """
    from zoo.errors import RunError

    state = runs.read_state(run_dir)
    meta = state.get("meta") or {}
    saved_folders = {str(k): str(v) for k, v in (meta.get("folders") or {}).items()}
    missing = [key for key in ("batch_size", "seed") if key not in meta]
    if missing or not saved_folders:
        raise RunError(f"Run {run_dir} does not record its data stream ({', '.join(missing) or 'folders'} "
                       "missing from state.json meta), so it cannot be resumed exactly. Start a new run.")
    for key, asked in (("batch_size", batch_size), ("seed", seed)):
        if asked is not None and int(asked) != int(meta[key]):
            flag = "--" + key.replace("_", "-")
            raise RunError(f"Run {run_dir} was trained with {key}={meta[key]}, but {flag} {asked} was given: a "
                           f"resumed run keeps its data stream. Drop {flag} (or pass {meta[key]}), or start a "
                           "new run in another folder.")
    if folders:
        asked = {str(k): str(Path(v).resolve()) for k, v in folders.items()}
        if asked != {k: str(Path(v).resolve()) for k, v in saved_folders.items()}:
            raise RunError(f"Run {run_dir} was trained on face folders {saved_folders}, but {dict(folders)} was "
                           "given: a resumed run keeps its data. Drop the folder flags to use the saved ones.")
    dataset = pair_dataset(saved_folders, size=int(state["input_size"]), batch_size=int(meta["batch_size"]),
                           seed=int(meta["seed"]))
    config = TrainConfig(steps=int(steps)) if steps is not None else None
    return SwapTrainer.resume(run_dir, dataset, config=config, workers=workers)
