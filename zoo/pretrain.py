"""Global encoder pretraining: one shared encoder, thousands of identities, then an honest evaluation.

Two identity heads sit on the shared encoder + bottleneck ("inter"):

- "bank": one decoder per identity (faceswap's layout), every decoder run for every sample and the
  sample's own output selected. Cost per step grows with the number of identities: tens at most.
- "conditioned": one shared decoder modulated by a learned per-identity code (an embedding row, mapped
  by shared Dense layers to FiLM scale/shift at several decoder scales). Only the batch's rows are
  gathered, so compute per step does not grow with the identity count; the memory per identity is one
  embedding row plus its optimizer slots (`memory_per_identity`).

Both take inputs {"face": (B, S, S, 3) float32 [0, 1], "identity": (B, 1) int32} and output (B, S, S, 4):
RGB + mask, trained with `zoo.losses.FaceLoss` by `Pretrainer` (Keras `fit` in chunks, atomic
checkpoints, exact resume). `--distribute data-parallel` uses `keras.distribution.DataParallel` on JAX
and `tf.distribute.MirroredStrategy` on TensorFlow (`distribution_scope`); across processes, see
`zoo.distribute`.

At the end, `evaluate_encoder` scores the frozen encoder on held-out identities: a transfer score
(fresh decoder per identity, masked SSIM on that identity's unseen images) and a linear identity probe
on pooled features.

Examples:
    >>> corpus = open_corpus("synthetic:10000")
    >>> model = build_pretrain_model(zoo.build_encoder("mobilenet-face", input_size=64), 10000)
    >>> trainer = Pretrainer(model, corpus.sampler(16, 64, holdout=100), "runs/pre", PretrainConfig())
    >>> trainer.train(1000)
    >>> evaluate_encoder(model.get_layer("mobilenet_face"), corpus, held_ids, 64, eval_steps=200)
"""
from __future__ import annotations

import contextlib
import csv
import dataclasses
import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from zoo.errors import InputError, MissingFileError

log = logging.getLogger("facezoo.pretrain")

HEADS = ("bank", "conditioned")
MAX_BANK = 64
# Run folder files: the same layout as a swap-training run (zoo.runs), plus the evaluation result.
from zoo.runs import CHECKPOINTS, ENCODER, LOSSES, MODEL, OPTIMIZER, STATE  # noqa: E402,F401 (re-exported)
RESULT = "pretrain.json"
ALIGNED_CACHE = "aligned-cache"


@dataclass
class PretrainConfig:
    """Knobs of a pretraining run (each has a `facezoo pretrain` flag)."""

    steps: int = 1000
    batch_size: int = 16
    size: int = 64
    heads: str = "conditioned"
    learning_rate: float = 2e-4
    code_dim: int = 64               # conditioned head: per-identity embedding size
    film_scales: int = 3             # conditioned head: FiLM after inter and after the first upscales
    decoder_width: int = 128
    inter: str = "dense"
    inter_channels: int = 128
    bottleneck: int = 256
    chunk: int = 10                  # steps per Keras epoch (loss logging)
    checkpoint_every: int = 100
    keep_checkpoints: int = 1       # one full checkpoint (the newest); disk, issue 19
    seed: int = 0
    jit_compile: str | bool = False  # XLA compile is slow to start on CPU; "auto" on accelerators

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "PretrainConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


# --- layers ----------------------------------------------------------------------------------------

def _layers():
    """Custom layers, defined on first use so `import zoo.pretrain` stays cheap."""
    global CodeFiLM, SelectByIdentity
    if "CodeFiLM" in globals():
        return
    import keras
    from keras import ops

    from zoo.layers import PACKAGE

    @keras.saving.register_keras_serializable(package=PACKAGE)
    class CodeFiLM(keras.layers.Layer):  # noqa: F811
        """features * (1 + gamma(code)) + beta(code), gamma/beta shared Dense maps of an identity code.

        Zero-initialised maps: the layer starts as the identity and learns the modulation.
        """

        def __init__(self, channels: int, **kwargs):
            super().__init__(**kwargs)
            self.channels = int(channels)

        def build(self, features_shape, code_shape=None):
            dim = int(code_shape[-1]) if code_shape is not None else None
            self.gamma = self.add_weight(shape=(dim, self.channels), initializer="zeros", name="gamma_kernel")
            self.beta = self.add_weight(shape=(dim, self.channels), initializer="zeros", name="beta_kernel")
            self.gamma_bias = self.add_weight(shape=(self.channels,), initializer="zeros", name="gamma_bias")
            self.beta_bias = self.add_weight(shape=(self.channels,), initializer="zeros", name="beta_bias")

        def call(self, features, code):
            gamma = ops.matmul(code, self.gamma) + self.gamma_bias
            beta = ops.matmul(code, self.beta) + self.beta_bias
            gamma = ops.reshape(gamma, (-1, 1, 1, self.channels))
            beta = ops.reshape(beta, (-1, 1, 1, self.channels))
            return features * (1.0 + gamma) + beta

        def compute_output_shape(self, features_shape, code_shape=None):
            return features_shape

        def get_config(self):
            return {**super().get_config(), "channels": self.channels}

    @keras.saving.register_keras_serializable(package=PACKAGE)
    class SelectByIdentity(keras.layers.Layer):  # noqa: F811
        """Pick each sample's output from a bank: ([out_0, ..., out_{N-1}], identity) -> out_{identity}."""

        def call(self, outputs, identity):
            stacked = ops.stack(outputs, axis=1)                      # (B, N, H, W, C)
            onehot = ops.one_hot(ops.reshape(ops.cast(identity, "int32"), (-1,)), len(outputs),
                                 dtype=stacked.dtype)
            return ops.einsum("bn,bnhwc->bhwc", onehot, stacked)

        def compute_output_shape(self, outputs_shape, identity_shape=None):
            return outputs_shape[0]

    globals()["CodeFiLM"] = CodeFiLM
    globals()["SelectByIdentity"] = SelectByIdentity


# --- models ---------------------------------------------------------------------------------------

def build_conditioned_decoder(feature_shape, output_size: int, code_dim: int, *, width: int = 128,
                              film_scales: int = 3, residual_blocks: int = 1, min_filters: int = 32,
                              name: str = "decoder"):
    """One shared decoder (features, code) -> (S, S, 4), FiLM-modulated by `code` at `film_scales` scales."""
    import math

    import keras
    from keras import layers

    from zoo.decoders import _residual, _upscale

    _layers()
    h = int(feature_shape[0])
    steps = round(math.log2(output_size / h))
    if 2 ** steps * h != output_size:
        raise InputError(f"output_size {output_size} must be the feature size {h} times a power of two.")
    feats = keras.Input(tuple(feature_shape), name=f"{name}_features")
    code = keras.Input((code_dim,), name=f"{name}_code")
    x = CodeFiLM(int(feature_shape[-1]), name=f"{name}_film_in")(feats, code)
    filters = width
    for i in range(steps):
        x = _upscale(x, filters, name, i, "shuffle")
        if i < 2:
            for r in range(residual_blocks):
                x = _residual(x, name, f"{i}_{r}")
        if i + 1 < film_scales:
            x = CodeFiLM(int(x.shape[-1]), name=f"{name}_film{i}")(x, code)
        filters = max(min_filters, filters // 2)
    rgb = layers.Conv2D(3, 5, padding="same", activation="sigmoid", dtype="float32", name=f"{name}_rgb")(x)
    mask = layers.Conv2D(1, 5, padding="same", activation="sigmoid", dtype="float32", name=f"{name}_mask")(x)
    out = layers.Concatenate(axis=-1, dtype="float32", name=f"{name}_face")([rgb, mask])
    return keras.Model([feats, code], out, name=name)


def build_pretrain_model(encoder, num_identities: int, *, heads: str = "conditioned", size: int | None = None,
                         code_dim: int = 64, film_scales: int = 3, decoder_width: int = 128,
                         inter: str = "dense", inter_channels: int = 128, bottleneck: int = 256,
                         name: str = "pretrain_model"):
    """The pretraining model: shared encoder + inter + identity head.

    Inputs {"face": (B, S, S, 3), "identity": (B, 1) int32}; output (B, S, S, 4) RGB + mask.
    The encoder is the nested layer `model.get_layer(encoder.name)` (what gets published).
    """
    import keras
    from keras import layers

    from zoo.decoders import build_decoder, build_inter

    _layers()
    if heads not in HEADS:
        raise InputError(f"heads must be one of {', '.join(HEADS)}. Received: heads={heads!r}")
    n = int(num_identities)
    if n < 1:
        raise InputError(f"num_identities must be >= 1. Received: {num_identities}")
    if heads == "bank" and n > MAX_BANK:
        raise InputError(f"heads='bank' builds one decoder per identity; {n} identities is too many "
                         f"(max {MAX_BANK}). Use heads='conditioned' for many identities.")
    size = int(size or encoder.input_shape[1])
    face = keras.Input((size, size, 3), name="face")
    identity = keras.Input((1,), dtype="int32", name="identity")
    feature_shape = tuple(encoder.output_shape[1:])
    inter_model, inter_shape = build_inter(feature_shape, inter, channels=inter_channels, bottleneck=bottleneck,
                                           name="inter")
    z = inter_model(encoder(face))
    if heads == "conditioned":
        code = layers.Embedding(n, code_dim, embeddings_initializer=keras.initializers.RandomNormal(0.0, 1.0),
                                name="identity_code")(identity)
        code = layers.Reshape((code_dim,), name="identity_code_flat")(code)
        decoder = build_conditioned_decoder(inter_shape, size, code_dim, width=decoder_width,
                                            film_scales=film_scales, name="decoder")
        out = decoder([z, code])
    else:
        outs = [build_decoder(inter_shape, size, width=decoder_width, name=f"decoder_{i}")(z) for i in range(n)]
        out = outs[0] if n == 1 else SelectByIdentity(name="select")(outs, identity)
    model = keras.Model({"face": face, "identity": identity}, out, name=name)
    return model


def find_encoder(model):
    """The nested encoder of a pretraining model (the first nested model that takes the face)."""
    for layer in model.layers:
        if hasattr(layer, "layers") and layer.name not in ("inter",) and not layer.name.startswith("decoder"):
            return layer
    raise InputError(f"model {model.name!r} has no nested encoder")


def memory_per_identity(model, optimizer=None) -> dict:
    """Bytes each identity costs: its parameter rows and the optimizer slots of those rows.

    Computed from the model: per-identity parameters are the rows of variables whose first dimension is
    the identity count (the code embedding; for "bank" heads, a whole decoder). Slots: the optimizer's
    variables of the same shape (AdamW: 2), counted from `optimizer` when built, else assumed 2.
    """
    emb = [layer for layer in model.layers if layer.name == "identity_code"]
    if emb:
        n = int(emb[0].input_dim)
        per_vars = [v for v in emb[0].weights]
    else:
        decs = [layer for layer in model.layers if layer.name.startswith("decoder_")]
        n = len(decs)
        per_vars = list(decs[0].weights) if decs else []
    params = sum(int(np.prod(v.shape)) for v in per_vars) // (n if emb else 1)
    dtype_bytes = 4
    slots = 2
    if optimizer is not None and getattr(optimizer, "built", False):
        shapes = {tuple(v.shape) for v in per_vars}
        inner = getattr(optimizer, "inner_optimizer", optimizer)
        matching = [v for v in inner.variables if tuple(v.shape) in shapes]
        slots = len(matching) // max(1, len(per_vars))
    param_bytes = params * dtype_bytes
    return {"identities": n, "params_per_identity": params, "param_bytes": param_bytes,
            "optimizer_slots": slots, "slot_bytes": param_bytes * slots,
            "total_bytes": param_bytes * (1 + slots),
            "shared_params": int(model.count_params()) - params * n}


# --- distribution ------------------------------------------------------------------------------------

def setup_virtual_devices(count: int) -> None:
    """Split the host CPU into `count` devices (testing data parallelism on one machine).

    TensorFlow: logical CPU devices (before TF initialises). JAX: must be set before jax is imported,
    via XLA_FLAGS=--xla_force_host_platform_device_count=N (done here when jax is not imported yet).
    """
    import sys
    count = int(count)
    if count <= 1:
        return
    if "jax" not in sys.modules:
        flags = os.environ.get("XLA_FLAGS", "")
        if "xla_force_host_platform_device_count" not in flags:
            flags = f"{flags} --xla_force_host_platform_device_count={count}"
        os.environ["XLA_FLAGS"] = flags.strip()
    import keras
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf
        cpus = tf.config.list_physical_devices("CPU")
        tf.config.set_logical_device_configuration(
            cpus[0], [tf.config.LogicalDeviceConfiguration() for _ in range(count)])


@contextlib.contextmanager
def distribution_scope(mode: str | None):
    """Build, compile and fit inside this for `mode="data-parallel"`; yields the replica count.

    JAX: `keras.distribution.set_distribution(DataParallel(devices))` (the batch is sharded over the
    devices, one compiled program). TensorFlow: a `tf.distribute.MirroredStrategy` over the GPUs, or the
    (logical) CPUs when there is no GPU. Other backends: refused with a clear error.
    """
    if not mode or mode == "none":
        yield 1
        return
    if mode != "data-parallel":
        raise InputError(f"distribute must be 'data-parallel' or None. Received: {mode!r}")
    import keras
    backend = keras.backend.backend()
    from zoo import distribute
    cluster = distribute.cluster_from_env(backend)
    if backend == "jax":
        if cluster.multi:  # several processes (zoo.distribute): must run before any computation
            distribute.initialize_jax(cluster)
        devices = keras.distribution.list_devices()
        previous = keras.distribution.distribution()
        # Across processes each one feeds its own rows of the global batch (`_step_batches`).
        keras.distribution.set_distribution(keras.distribution.DataParallel(
            devices=devices, auto_shard_dataset=not cluster.multi))
        try:
            yield len(devices)
        finally:
            keras.distribution.set_distribution(previous)
    elif backend == "tensorflow":
        import tensorflow as tf
        if cluster.multi:
            # Several processes: every worker runs the same command with its own TF_CONFIG (zoo.distribute).
            strategy = distribute.tf_strategy()
            with strategy.scope(), distribute.tf_loss_reduction():
                yield strategy.num_replicas_in_sync
            return
        else:
            if "tf_mirrored" not in _CLUSTER:  # one strategy per process: build, compile and fit share it
                gpus = tf.config.list_logical_devices("GPU")
                devices = [d.name for d in (gpus or tf.config.list_logical_devices("CPU"))]
                _CLUSTER["tf_mirrored"] = tf.distribute.MirroredStrategy(devices=devices)
            strategy = _CLUSTER["tf_mirrored"]
        with strategy.scope():
            yield strategy.num_replicas_in_sync
    else:
        raise InputError(f"--distribute data-parallel needs the jax or tensorflow backend; this is {backend!r}.")


_CLUSTER = {}


def _cluster():
    """This process's place in a multi-process run (`zoo.distribute.Cluster`), from the environment."""
    import keras

    from zoo.distribute import cluster_from_env
    return cluster_from_env(keras.backend.backend())


# --- data -------------------------------------------------------------------------------------------

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


# --- the trainer ------------------------------------------------------------------------------------

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
        self.last_checkpoint = 0
        self.losses: list[tuple[int, float]] = []
        self.seconds = 0.0
        self.progress = True  # the step/loss/ETA line (zoo.progress); `facezoo pretrain --quiet` turns it off
        self.stop_request = None
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if getattr(model, "optimizer", None) is None or not model.optimizer.built:
            _compile(model, self.config)
        self.cluster = _cluster() if distribute else None
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

        _layers()
        import zoo.losses  # noqa: F401  (FaceLoss registration)
        state = read_state(run_dir)
        ckpt = Path(run_dir) / state["checkpoint"]
        config = PretrainConfig.from_dict(state["config"])
        if steps is not None:
            config.steps = int(steps)
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
        total = int(steps or self.config.steps)
        self.config.steps = total
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
        return {"step": self.step, "config": self.config.to_dict(), "meta": self.meta,
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


# --- evaluation ----------------------------------------------------------------------------------------

def _held_faces(corpus, held_ids, count: int, size: int) -> dict[int, np.ndarray]:
    if hasattr(corpus, "faces_of"):
        return corpus.faces_of(held_ids, count, size)
    return {int(i): corpus.faces(int(i), count, size) for i in held_ids}


def _predict(model, x, batch_size: int = 64) -> np.ndarray:
    from keras import ops
    out = [ops.convert_to_numpy(model(ops.convert_to_tensor(x[i:i + batch_size]), training=False))
           for i in range(0, len(x), batch_size)]
    return np.concatenate(out, axis=0)


def ridge_probe(train_x, train_y, test_x, test_y, *, l2: float = 1.0) -> float:
    """Closed-form ridge regression to one-hot labels on standardised features; test accuracy."""
    train_x = np.asarray(train_x, np.float64)
    test_x = np.asarray(test_x, np.float64)
    mean, std = train_x.mean(0), train_x.std(0) + 1e-6
    a = (train_x - mean) / std
    b = (test_x - mean) / std
    classes = np.unique(train_y)
    onehot = (np.asarray(train_y)[:, None] == classes[None]).astype(np.float64)
    onehot -= onehot.mean(0)
    n, d = a.shape
    if d <= n:
        w = np.linalg.solve(a.T @ a + l2 * np.eye(d), a.T @ onehot)
    else:  # dual form: fewer samples than features
        w = a.T @ np.linalg.solve(a @ a.T + l2 * np.eye(n), onehot)
    pred = classes[np.argmax(b @ w, axis=1)]
    return float(np.mean(pred == np.asarray(test_y)))


def evaluate_encoder(encoder, corpus, held_ids, size: int, *, eval_steps: int = 200, train_images: int = 12,
                     test_images: int = 4, batch_size: int = 8, augment_copies: int = 6, decoder_width: int = 48,
                     learning_rate: float = 1e-3, seed: int = 0) -> dict:
    """Score a frozen encoder on held-out identities.

    transfer_ssim: for each held-out identity, a fresh decoder (inter + decoder, the same initial weights
        for every identity) is trained for `eval_steps` steps on that identity's first `train_images`
        faces (warp-augmented, features precomputed by the frozen encoder), then scored by masked SSIM
        reconstructing its next `test_images` faces, never seen. Mean over identities.
    probe_accuracy: ridge regression from globally pooled encoder features to the identity, fit on the
        held-out identities' train faces, accuracy on their test faces (chance: 1 / identities).
    """
    import keras
    from keras import ops

    from zoo.data.corpus import augment_faces, template_mask
    from zoo.decoders import build_decoder, build_inter
    from zoo.losses import FaceLoss, ssim_numpy

    held_ids = [int(i) for i in held_ids]
    if not held_ids:
        raise InputError("evaluate_encoder needs held-out identities (--holdout K, K >= 1).")
    start = time.perf_counter()
    faces = _held_faces(corpus, held_ids, train_images + test_images, size)
    feature_shape = tuple(encoder.output_shape[1:])
    inter, inter_shape = build_inter(feature_shape, "dense", channels=64, bottleneck=128, name="eval_inter")
    decoder = build_decoder(inter_shape, size, width=decoder_width, name="eval_decoder")
    feats_in = keras.Input(feature_shape)
    head = keras.Model(feats_in, decoder(inter(feats_in)), name="eval_head")
    head.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=FaceLoss(ssim_weight=0.5, mask_weight=0.5))
    head.optimizer.build(head.trainable_variables)
    init = head.get_weights()
    opt_init = [ops.convert_to_numpy(v) for v in head.optimizer.variables]  # slots, step, learning rate
    mask = template_mask(size)[None, ..., None]
    # Split each identity's faces, build every augmented pool, then run the frozen encoder once.
    plan, pools, ys = [], [], []
    for ident in held_ids:
        imgs = faces[ident]
        if len(imgs) < 2:
            log.warning("held-out identity %d has %d faces; left out of the evaluation", ident, len(imgs))
            continue
        n_train = min(train_images, len(imgs) - max(1, min(test_images, len(imgs) // 3)))
        tr, te = imgs[:n_train], imgs[n_train:n_train + test_images]
        x, y = augment_faces(np.repeat(tr, augment_copies, axis=0), np.random.default_rng([seed, ident]), size)
        plan.append((ident, len(tr), len(te), len(x)))
        pools.extend([x, tr.astype(np.float32) / 255.0, te.astype(np.float32) / 255.0])
        ys.append((y, te.astype(np.float32) / 255.0))
    if not plan:
        raise InputError("no held-out identity has at least 2 faces to evaluate on.")
    all_x = np.concatenate(pools)
    all_f = encoder.predict(all_x, batch_size=64, verbose=0)
    scores, probe = {}, ([], [], [], [])
    at = 0
    for (ident, n_tr, n_te, n_pool), (y, te_f) in zip(plan, ys):
        feats = all_f[at:at + n_pool]
        tr_feats = all_f[at + n_pool:at + n_pool + n_tr]
        te_feats = all_f[at + n_pool + n_tr:at + n_pool + n_tr + n_te]
        at += n_pool + n_tr + n_te
        rng = np.random.default_rng([seed, ident, 1])
        head.set_weights(init)
        for v, value in zip(head.optimizer.variables, opt_init):
            v.assign(value)
        for _ in range(int(eval_steps)):
            pick = rng.integers(0, len(feats), batch_size)
            head.train_on_batch(feats[pick], y[pick])
        pred = head.predict(te_feats, batch_size=64, verbose=0)
        scores[ident] = float(np.mean(ssim_numpy(te_f, pred[..., :3], np.repeat(mask, n_te, 0))))
        probe[0].append(tr_feats.mean(axis=(1, 2)))
        probe[1].extend([ident] * n_tr)
        probe[2].append(te_feats.mean(axis=(1, 2)))
        probe[3].extend([ident] * n_te)
    accuracy = ridge_probe(np.concatenate(probe[0]), probe[1], np.concatenate(probe[2]), probe[3]) \
        if len(scores) >= 2 else float("nan")
    return {"transfer_ssim": round(float(np.mean(list(scores.values()))), 5),
            "transfer_ssim_min": round(float(np.min(list(scores.values()))), 5),
            "probe_accuracy": round(accuracy, 5),
            "probe_chance": round(1.0 / len(scores), 5),
            "heldout_identities": len(scores),
            "eval_steps": int(eval_steps),
            "eval_train_images": int(train_images),
            "eval_test_images": int(test_images),
            "eval_seconds": round(time.perf_counter() - start, 2)}


# --- outputs --------------------------------------------------------------------------------------------

def save_encoder(encoder, path) -> Path:
    """Save the encoder alone as a `.keras` file, atomically."""
    from zoo.io import atomic_path
    with atomic_path(path) as tmp:
        encoder.save(tmp)
    return Path(path)


def release_metadata(encoder, *, encoder_name: str | None, corpus_summary: dict, config: PretrainConfig,
                     metrics: dict, parent: str | None, extra_training: dict | None = None) -> dict:
    """The `facezoo.json` metadata of a pretrained encoder release."""
    from zoo.data.align import TEMPLATE_NAME
    spec = None
    if encoder_name:
        from zoo.registry import get_spec
        try:
            spec = dataclasses.replace(get_spec(encoder_name), input_size=config.size).to_dict()
        except Exception:  # noqa: BLE001 - a non-registry encoder has no spec
            spec = None
    return {
        **({"spec": spec} if spec else {}),
        "input_size": int(encoder.input_shape[1]),
        "normalization": (spec or {}).get("normalization", "unit"),
        "alignment_template": TEMPLATE_NAME,
        "corpus": corpus_summary,
        "metrics": {k: v for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)
                    and np.isfinite(v)},
        "parent": parent,
        "training": {"recipe": "facezoo pretrain", "steps": config.steps, "batch_size": config.batch_size,
                     "size": config.size, "heads": config.heads, "learning_rate": config.learning_rate,
                     **(extra_training or {})},
    }
