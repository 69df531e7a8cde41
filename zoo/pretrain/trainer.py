"""`Pretrainer`: trains a pretraining model on a corpus sampler into a run folder.

The chunked loop (`zoo.loop.ChunkedLoop`, shared with `SwapTrainer`): Keras `fit` in chunks of
`config.chunk` steps fed by the sampler (batch `step` is a pure function of the seed and step, so a
resume sees the batches it would have seen), the loss of each chunk appended to losses.csv, atomic
checkpoints every `checkpoint_every` steps and on Ctrl-C, the caller's `callbacks=`. On top of it, here:
the model's compile, exact resume (weights, optimizer state, step), and data parallelism: inside
`distribution_scope` when data-parallel; across processes each feeds its rows and only the chief writes
the run folder. `read_state` is `zoo.runs.read_state` (one reader for runs of either kind).
"""
from __future__ import annotations

import contextlib
import logging
from pathlib import Path

from zoo.loop import ChunkedLoop, step_feed_class
from zoo.pretrain.config import MODEL, OPTIMIZER, PretrainConfig
from zoo.pretrain.distribution import current_cluster, distribution_scope
from zoo.pretrain.model import find_encoder, register_layers
from zoo.runs import checkpoint_dir, read_state

log = logging.getLogger("facezoo.pretrain")

__all__ = ["Pretrainer", "read_state"]


def _compile(model, config: PretrainConfig):
    """The shared compile step (`zoo.compiling`) with the pretraining outputs: the reconstruction, a
    teacher head's projection under a cosine loss when the model has one (`zoo.distil`), and an identity
    head's ArcFace logits under sparse cross-entropy when it has one (`zoo.pretrain.identity`)."""
    import keras

    from zoo import compiling

    loss = compiling.face_loss(config, config.size)
    weights = None
    if isinstance(model.output, dict):
        losses = {"reconstruction": loss, "teacher": keras.losses.CosineSimilarity(axis=-1),
                  "identity": keras.losses.SparseCategoricalCrossentropy(from_logits=True)}
        scale = {"reconstruction": 1.0, "teacher": float(config.teacher_weight),
                 "identity": float(config.identity_weight)}
        loss = {k: losses[k] for k in model.output}
        weights = {k: scale[k] for k in model.output}
    compiling.compile_for_training(model, config, loss=loss, loss_weights=weights)


class Pretrainer(ChunkedLoop):
    """Trains a pretraining model on a sampler, writing a run folder with atomic checkpoints.

    RUN/checkpoints/step-N/{model.keras, optimizer.npz, state.json} (complete or absent),
    RUN/state.json (points at the latest), RUN/losses.csv (step, mean loss of the chunk).
    `Pretrainer.resume(run_dir, sampler)` continues at the checkpoint's step with its optimizer state.
    `callbacks`: extra Keras callbacks, run in every `fit()`.
    `workers`: data worker processes (`zoo.data.pool`; None: sized from the cores, 0: in this process);
    the batches, and so the weights, are the same for any count.
    """

    progress_label = "pretrain"
    logger = log

    def __init__(self, model, sampler, run_dir, config: PretrainConfig | None = None, meta: dict | None = None,
                 *, distribute: str | None = None, callbacks=None, workers=None, spec=None):
        self.sampler = sampler
        self.data_workers = workers
        self.distribute = distribute
        self.losses: list[tuple[int, float]] = []
        self._init_loop(model, run_dir, config or PretrainConfig(), meta, callbacks, spec)
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
    def create(cls, build_fn, sampler, run_dir, config, meta=None, *, distribute=None, callbacks=None,
               workers=None, spec=None) -> "Pretrainer":
        """Build the model with `build_fn()` inside the distribution scope, then make the trainer. `spec`:
        the run's `RunSpec`, or a function returning it once the model is built (the encoder's resolved
        facts are known only then)."""
        with distribution_scope(distribute):
            model = build_fn()
            _compile(model, config)
        spec = spec() if callable(spec) else spec
        return cls(model, sampler, run_dir, config, meta, distribute=distribute, callbacks=callbacks, workers=workers,
                   spec=spec)

    @classmethod
    def resume(cls, run_dir, sampler, *, steps: int | None = None, distribute=None, callbacks=None,
               workers=None) -> "Pretrainer":
        """Continue a run from its last complete checkpoint (same step, weights and optimizer state)."""
        import keras

        from zoo.optim import restore_optimizer_state, state_from_file

        register_layers()
        import zoo.losses  # noqa: F401  (FaceLoss registration)
        from zoo.runspec import RunSpec

        state = read_state(run_dir)
        ckpt = checkpoint_dir(run_dir, state)
        config = PretrainConfig.from_state(state, steps)
        spec = RunSpec.from_state(state, run_dir=run_dir, steps=config.steps) if state.get("spec") else None
        with distribution_scope(distribute):
            model = keras.saving.load_model(ckpt / MODEL, compile=False, safe_mode=True)
            _compile(model, config)
            if (ckpt / OPTIMIZER).exists():
                restore_optimizer_state(model, model.optimizer, state_from_file(ckpt / OPTIMIZER))
            else:  # dropped to save disk (the quickstart's finished pretraining): moments restart from zero
                log.warning("%s has no %s: the optimizer starts afresh", ckpt, OPTIMIZER)
        trainer = cls(model, sampler, run_dir, config, state.get("meta"), distribute=distribute, callbacks=callbacks,
                      workers=workers, spec=spec)
        trainer._resumed(state)
        trainer.losses = [tuple(x) for x in state.get("losses", [])]
        trainer.seconds = float(state.get("seconds", 0.0))
        log.info("resumed %s at step %d", run_dir, trainer.step)
        return trainer

    def train(self, steps: int | None = None) -> dict:
        """Train until `steps` in total (counting earlier runs); returns the state dict."""
        total = int(steps or self.target_steps)
        self.target_steps = total

        def fits(callbacks):
            while self.step < total and not self.stop_request.requested:
                try:
                    self.fit_until(total, callbacks)
                except Exception as exc:  # noqa: BLE001 - across processes an engine error means a lost peer
                    if self.cluster is None or not self.cluster.multi:
                        raise
                    from zoo.distribute import worker_lost
                    raise worker_lost(exc, self.cluster, self.step) from exc

        self.run_chunks(total, fits, distribution_scope(self.distribute) if self.distribute else None)
        if self.checkpoint_pending():
            self.save_checkpoint()
        return self.state()

    # --- the loop's hooks (zoo.loop) ---------------------------------------------------------------

    def feed(self, offset: int):
        import keras

        from zoo.distribute import cluster_from_env, local_rows

        cluster = cluster_from_env(keras.backend.backend())
        # Streaming (tar) corpora are read in order by one reader: their batches stay in this process.
        # Workers hand over uint8 images (a quarter of the bytes); they are scaled here, as `batch` would.
        make = self.sampler.batch
        if self.sampler.parallel:
            from zoo.data.sampler import expand_batch
            pool = self.batch_pool(self.sampler.compact_batch)
            make = lambda step: expand_batch(pool.get(step))  # noqa: E731

        outputs = tuple(self.model.output) if isinstance(self.model.output, dict) else None

        def batch(step):
            x, ids, y, *teacher = make(step)  # teacher targets: `zoo.distil.TeacherSampler`
            rows = local_rows(len(x), cluster)  # JAX across processes: this process's part of the batch
            inputs = {"face": x[rows], "identity": ids[rows].reshape(-1, 1)}
            if outputs is None:
                return inputs, y[rows]
            # the identity head's targets are the batch's own labels (training identities only: the
            # sampler checks every batch against the held-out ones)
            targets = {"reconstruction": y[rows], "teacher": teacher[0][rows] if teacher else None,
                       "identity": ids[rows]}
            return inputs, {k: targets[k] for k in outputs}

        return step_feed_class()(batch, offset, max_queue_size=4)

    def loss_columns(self, logs: dict) -> dict:
        """losses.csv's columns: the total, and each output's own loss when the model has an identity
        head (runs without one keep their single column, so their files stay as they were)."""
        columns = super().loss_columns(logs)
        if isinstance(self.model.output, dict) and "identity" in self.model.output:
            for name in self.model.output:
                columns[f"{name}_loss"] = f"{logs.get(f'{name}_loss', float('nan')):.6f}"
        return columns

    def note_loss(self, loss: float) -> None:
        self.losses.append((self.step, loss))
        log.info("step %d loss %.4f", self.step, loss)

    def checkpoint_pending(self) -> bool:
        return self.step != self.last_checkpoint  # every worker alike (the non-chief ones join the save)

    def state(self) -> dict:
        return {**super().state(), "losses": self.losses[-2000:], "seconds": round(self.seconds, 3),
                "distribute": self.distribute}

    def save_scope(self):
        if self.cluster is None:
            return contextlib.nullcontext()
        from zoo.distribute import local_only
        return local_only()

    def save_checkpoint(self) -> Path | None:
        """Write step-N complete in a temp folder, rename it, then point RUN/state.json at it (the chief
        only: None on the other workers of a multi-process run)."""
        if self.is_chief:
            return super().save_checkpoint()
        self.prepare_save()  # across processes the chief alone writes the (shared) run folder
        from zoo.distribute import join_chief_save
        join_chief_save(self.cluster, lambda folder: self.write_checkpoint(folder, keep=1))
        self.last_checkpoint = self.step
        return None

    @property
    def encoder(self):
        return find_encoder(self.model)

