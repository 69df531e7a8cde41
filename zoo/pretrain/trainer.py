"""`Pretrainer`: trains a pretraining model on a corpus sampler into a run folder.

Keras `fit` in chunks of `config.chunk` steps fed by the sampler (batch `step` is a pure function of the
seed and step, so a resume sees the batches it would have seen), the loss of each chunk appended to
losses.csv, atomic checkpoints every `checkpoint_every` steps and on Ctrl-C, and exact resume (weights,
optimizer state, step). Inside `distribution_scope` when data-parallel; across processes only the
chief writes the run folder.
"""
from __future__ import annotations

import contextlib
import csv
import dataclasses
import json
import logging
import time
from pathlib import Path

from zoo.errors import MissingFileError
from zoo.pretrain.config import LOSSES, MODEL, OPTIMIZER, STATE, PretrainConfig
from zoo.pretrain.distribution import current_cluster, distribution_scope
from zoo.pretrain.model import find_encoder, register_layers

log = logging.getLogger("facezoo.pretrain")

__all__ = ["Pretrainer", "read_state"]


def _step_batches(sampler, offset: int):
    import keras

    from zoo.distribute import cluster_from_env, local_rows

    cluster = cluster_from_env(keras.backend.backend())

    class StepBatches(keras.utils.PyDataset):
        """Batch `offset + i` of the sampler as ({"face", "identity"}, y); endless."""

        def __init__(self):
            super().__init__(workers=1, use_multiprocessing=False, max_queue_size=4)

        @property
        def num_batches(self):
            return None

        def __getitem__(self, index):
            x, ids, y = sampler.batch(offset + index)
            rows = local_rows(len(x), cluster)  # JAX across processes: this process's part of the batch
            return {"face": x[rows], "identity": ids[rows].reshape(-1, 1)}, y[rows]

    return StepBatches()


def _compile(model, config: PretrainConfig):
    import keras

    from zoo.losses import FaceLoss

    loss = FaceLoss(ssim_weight=0.5, mask_weight=0.5, ms_ssim=False)
    optimizer = keras.optimizers.AdamW(learning_rate=config.learning_rate, beta_1=0.5, beta_2=0.99,
                                       weight_decay=0.0)
    model.compile(optimizer=optimizer, loss=loss, jit_compile=config.jit_compile)
    model.optimizer.build(model.trainable_variables)


class _Control:
    def __new__(cls, trainer, stop_at):
        import keras

        class Control(keras.callbacks.Callback):
            def on_train_batch_end(self, batch, logs=None):
                trainer.step += 1
                if trainer.step >= stop_at or trainer.stop_request.requested:  # Ctrl-C: zoo.interrupt
                    self.model.stop_training = True

            def on_epoch_end(self, epoch, logs=None):
                trainer._record(logs or {})
                if trainer.step - trainer.last_checkpoint >= trainer.config.checkpoint_every:
                    trainer.save_checkpoint()

        return Control()


class Pretrainer:
    """Trains a pretraining model on a sampler, writing a run folder with atomic checkpoints.

    RUN/checkpoints/step-N/{model.keras, optimizer.npz, state.json} (complete or absent),
    RUN/state.json (points at the latest), RUN/losses.csv (step, mean loss of the chunk).
    `Pretrainer.resume(run_dir, sampler)` continues at the checkpoint's step with its optimizer state.
    """

    def __init__(self, model, sampler, run_dir, config: PretrainConfig | None = None, meta: dict | None = None,
                 *, distribute: str | None = None):
        self.model = model
        self.sampler = sampler
        self.run_dir = Path(run_dir)
        self.config = config or PretrainConfig()
        self.meta = dict(meta or {})
        self.distribute = distribute
        self.step = 0
        self.target_steps = int(self.config.steps)  # the total `train()` runs to; recorded in state.json
        self.last_checkpoint = 0
        self.losses: list[tuple[int, float]] = []
        self.seconds = 0.0
        self.progress = True  # the step/loss/ETA line (zoo.progress); `facezoo pretrain --quiet` turns it off
        self.stop_request = None
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if getattr(model, "optimizer", None) is None or not model.optimizer.built:
            _compile(model, self.config)
        self.cluster = current_cluster() if distribute else None
        if self.cluster is not None and self.cluster.engine == "tensorflow" and self.cluster.multi:
            from zoo.distribute import prepare_tf_model
            prepare_tf_model(model)

    @property
    def is_chief(self) -> bool:
        """Whether this process writes the run folder (always, except non-chief workers across processes)."""
        return self.cluster is None or self.cluster.is_chief

    @classmethod
    def create(cls, build_fn, sampler, run_dir, config, meta=None, *, distribute=None) -> "Pretrainer":
        """Build the model with `build_fn()` inside the distribution scope, then make the trainer."""
        with distribution_scope(distribute):
            model = build_fn()
            _compile(model, config)
        return cls(model, sampler, run_dir, config, meta, distribute=distribute)

    @classmethod
    def resume(cls, run_dir, sampler, *, steps: int | None = None, distribute=None) -> "Pretrainer":
        """Continue a run from its last complete checkpoint (same step, weights and optimizer state)."""
        import keras

        from zoo.optim import restore_optimizer_state, state_from_file

        register_layers()
        import zoo.losses  # noqa: F401  (FaceLoss registration)
        state = read_state(run_dir)
        ckpt = Path(run_dir) / state["checkpoint"]
        config = PretrainConfig.from_dict(state["config"])
        if steps is not None:
            config = dataclasses.replace(config, steps=int(steps))
        with distribution_scope(distribute):
            model = keras.saving.load_model(ckpt / MODEL, compile=False, safe_mode=True)
            _compile(model, config)
            restore_optimizer_state(model, model.optimizer, state_from_file(ckpt / OPTIMIZER))
        trainer = cls(model, sampler, run_dir, config, state.get("meta"), distribute=distribute)
        trainer.step = trainer.last_checkpoint = int(state["step"])
        if trainer.is_chief:
            from zoo.runs import truncate_losses
            truncate_losses(run_dir, trainer.step)
        trainer.losses = [tuple(x) for x in state.get("losses", [])]
        trainer.seconds = float(state.get("seconds", 0.0))
        log.info("resumed %s at step %d", run_dir, trainer.step)
        return trainer

    def train(self, steps: int | None = None) -> dict:
        """Train until `steps` in total (counting earlier runs); returns the state dict."""
        total = int(steps or self.target_steps)
        self.target_steps = total
        chunk = max(1, int(self.config.chunk))
        start = time.perf_counter()
        from zoo.interrupt import TrainingInterrupted, stop_on_interrupt
        from zoo.progress import Progress

        progress = Progress(total, lambda: self.step, label="pretrain", every=chunk, quiet=not self.progress)
        with stop_on_interrupt() as self.stop_request, \
                distribution_scope(self.distribute) if self.distribute else contextlib.nullcontext():
            try:
                while self.step < total and not self.stop_request.requested:
                    first = self.step // chunk
                    epochs = -(-(total - self.step) // chunk)
                    data = _step_batches(self.sampler, self.step)
                    try:
                        self.model.fit(data, steps_per_epoch=chunk, initial_epoch=first, epochs=first + epochs,
                                       verbose=0, shuffle=False, callbacks=[_Control(self, total), progress])
                    except Exception as exc:  # noqa: BLE001 - across processes an engine error means a lost peer
                        if self.cluster is None or not self.cluster.multi:
                            raise
                        from zoo.distribute import worker_lost
                        raise worker_lost(exc, self.cluster, self.step) from exc
            finally:
                progress.close()
        self.seconds += time.perf_counter() - start
        if self.step != self.last_checkpoint:
            self.save_checkpoint()
        if self.stop_request.requested and self.step < total:
            raise TrainingInterrupted(self.step, self.run_dir)
        return self.state()

    def _record(self, logs: dict) -> None:
        loss = logs.get("loss")
        if loss is None:
            return
        loss = float(loss)
        self.losses.append((self.step, loss))
        if not self.is_chief:
            return
        path = self.run_dir / LOSSES
        new = not path.exists()
        with open(path, "a", newline="") as f:
            writer = csv.writer(f)
            if new:
                writer.writerow(["step", "loss", "time"])
            writer.writerow([self.step, f"{loss:.6f}", f"{time.time():.3f}"])
        log.info("step %d loss %.4f", self.step, loss)

    def state(self) -> dict:
        import keras
        return {"step": self.step, "config": {**self.config.to_dict(), "steps": self.target_steps}, "meta": self.meta,
                "losses": self.losses[-2000:], "seconds": round(self.seconds, 3),
                "backend": keras.backend.backend(), "distribute": self.distribute}

    def save_checkpoint(self) -> Path | None:
        """Write step-N complete in a temp folder, rename it, then point RUN/state.json at it (the chief
        only: None on the other workers of a multi-process run)."""
        from zoo.runs import write_checkpoint_dir

        if hasattr(self.model, "jax_state_sync"):
            self.model.jax_state_sync()
        if not self.is_chief:  # across processes the chief alone writes the (shared) run folder
            from zoo.distribute import join_chief_save
            join_chief_save(self.cluster, lambda folder: write_checkpoint_dir(folder, self.step, self.model,
                                                                              self.state(), keep=1))
            self.last_checkpoint = self.step
            return None
        from zoo.distribute import local_only
        with local_only() if self.cluster is not None else contextlib.nullcontext():
            final, _ = write_checkpoint_dir(self.run_dir, self.step, self.model, self.state(),
                                            keep=self.config.keep_checkpoints)
        self.last_checkpoint = self.step
        log.info("checkpoint %s", final)
        return final

    @property
    def encoder(self):
        return find_encoder(self.model)


def read_state(run_dir) -> dict:
    path = Path(run_dir) / STATE
    if not path.exists():
        raise MissingFileError(f"No {STATE} in {run_dir}: nothing to resume. Start without --resume.")
    return json.loads(path.read_text())
