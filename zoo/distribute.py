"""Data parallelism across processes: one worker per host (or several on one host), one global batch.

Every worker runs the same `facezoo pretrain ... --distribute data-parallel` command; only the
environment differs, in each engine's own format:

- JAX: `KERAS_DISTRIBUTION_JOB_ADDRESSES` (the coordinator's host:port first), `KERAS_DISTRIBUTION_NUM_PROCESSES`,
  `KERAS_DISTRIBUTION_PROCESS_ID`. `initialize_jax` starts `jax.distributed` (the gloo collectives on
  CPU); `keras.distribution.DataParallel` then spans every process's devices. Each process feeds its
  own rows of the global batch (`local_rows`): Keras assembles the global batch from the per-process
  parts (`jax.make_array_from_process_local_data`).
- TensorFlow: `TF_CONFIG` (cluster + this task). `tf_strategy` builds one
  `tf.distribute.MultiWorkerMirroredStrategy`; every worker feeds the whole global batch and
  TensorFlow's auto-sharding keeps this worker's rows. Two Keras 3.15 bugs under that strategy are
  worked around here (see `prepare_tf_model` and `tf_loss_reduction`); with them the weights and the
  logged loss match a single-process run of the same global batch.

Process 0 is the chief: it alone writes checkpoints, the loss log, the encoder and the evaluation,
and publishes. When a peer dies, the collectives of the others fail (JAX: the gloo connection closes;
TF: the strategy's health check aborts them); `worker_lost` turns that into a `WorkerLostError` that
names the process and step and says how to continue. A peer that hangs instead of dying is bounded by
the engines' heartbeat (`FACEZOO_PEER_TIMEOUT`, seconds, default 100).
"""
from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass

from zoo.errors import FacezooError

PEER_TIMEOUT_ENV = "FACEZOO_PEER_TIMEOUT"
DEFAULT_PEER_TIMEOUT = 100


class DistributedConfigError(FacezooError, ValueError):
    """The cluster environment (KERAS_DISTRIBUTION_* or TF_CONFIG) is malformed."""


class WorkerLostError(FacezooError):
    """A collective operation failed during multi-process training: a peer died, hung or was killed."""


@dataclass(frozen=True)
class Cluster:
    """Where this process stands: `engine` ("jax", "tensorflow" or None for one process)."""

    engine: str | None
    num_processes: int = 1
    process_id: int = 0
    coordinator: str | None = None

    @property
    def multi(self) -> bool:
        return self.num_processes > 1

    @property
    def is_chief(self) -> bool:
        return self.process_id == 0


def peer_timeout() -> int:
    """Seconds after which a silent peer is declared dead (the engines' heartbeat)."""
    raw = os.environ.get(PEER_TIMEOUT_ENV, "")
    try:
        value = int(raw) if raw else DEFAULT_PEER_TIMEOUT
    except ValueError:
        raise DistributedConfigError(f"{PEER_TIMEOUT_ENV}={raw!r} is not a whole number of seconds.") from None
    if value < 1:
        raise DistributedConfigError(f"{PEER_TIMEOUT_ENV}={raw!r} must be at least 1 second.")
    return value


def cluster_from_env(backend: str | None = None) -> Cluster:
    """The cluster this process belongs to, read from the backend's environment variables (no import)."""
    backend = backend or os.environ.get("KERAS_BACKEND", "tensorflow")
    if backend == "jax":
        raw = os.environ.get("KERAS_DISTRIBUTION_NUM_PROCESSES", "")
        if not raw or raw == "1":
            return Cluster(None)
        try:
            count = int(raw)
            pid = int(os.environ.get("KERAS_DISTRIBUTION_PROCESS_ID", ""))
        except ValueError:
            raise DistributedConfigError(
                f"KERAS_DISTRIBUTION_NUM_PROCESSES={raw!r} and KERAS_DISTRIBUTION_PROCESS_ID="
                f"{os.environ.get('KERAS_DISTRIBUTION_PROCESS_ID')!r} must both be integers "
                "(set both on every worker; docs/pretraining.md).") from None
        address = os.environ.get("KERAS_DISTRIBUTION_JOB_ADDRESSES", "").split(",")[0].strip()
        if not address:
            raise DistributedConfigError("KERAS_DISTRIBUTION_JOB_ADDRESSES is empty: set it to the coordinator's "
                                         "host:port (process 0), the same on every worker.")
        if not 0 <= pid < count:
            raise DistributedConfigError(f"KERAS_DISTRIBUTION_PROCESS_ID={pid} is outside 0..{count - 1} "
                                         f"(KERAS_DISTRIBUTION_NUM_PROCESSES={count}).")
        return Cluster("jax", count, pid, address)
    if backend == "tensorflow" and os.environ.get("TF_CONFIG"):
        raw = os.environ["TF_CONFIG"]
        try:
            config = json.loads(raw)
            workers = list(config["cluster"]["worker"])
            task = config["task"]
            index = int(task["index"])
        except (ValueError, KeyError, TypeError):
            raise DistributedConfigError(
                f"TF_CONFIG is not valid: {raw[:200]!r}. Expected "
                '{"cluster": {"worker": ["host:port", ...]}, "task": {"type": "worker", "index": I}}.') from None
        if task.get("type", "worker") not in ("worker", "chief"):
            raise DistributedConfigError(f"TF_CONFIG task type {task.get('type')!r}: facezoo runs workers only.")
        if not 0 <= index < len(workers):
            raise DistributedConfigError(f"TF_CONFIG task index {index} is outside its {len(workers)} workers.")
        return Cluster("tensorflow", len(workers), index, workers[0]) if len(workers) > 1 else Cluster(None)
    return Cluster(None)


# --- engines ---------------------------------------------------------------------------------------------

_STATE: dict = {}


def initialize_jax(cluster: Cluster) -> None:
    """`jax.distributed.initialize` once, with a bounded heartbeat, then Keras' shared RNG seed.

    (What `keras.distribution.initialize()` does, plus the heartbeat and start-up bounds.)
    """
    if _STATE.get("jax"):
        return
    import jax
    from keras.src.backend.jax.distribution_lib import initialize_rng

    timeout = peer_timeout()
    jax.distributed.initialize(coordinator_address=cluster.coordinator, num_processes=cluster.num_processes,
                               process_id=cluster.process_id, heartbeat_timeout_seconds=timeout,
                               initialization_timeout=max(300, timeout))
    initialize_rng()
    _STATE["jax"] = cluster


def shutdown_jax() -> None:
    """Leave the JAX cluster (a barrier with every peer): call it on every worker after training, so the
    chief's evaluation afterwards does not hold the others at the exit barrier."""
    if _STATE.pop("jax", None):
        import jax
        jax.distributed.shutdown()


def tf_strategy():
    """One `MultiWorkerMirroredStrategy` per process (TensorFlow allows only one), from TF_CONFIG."""
    if "tf" not in _STATE:
        import tensorflow as tf
        _STATE["tf"] = tf.distribute.MultiWorkerMirroredStrategy()
    return _STATE["tf"]


def prepare_tf_model(model) -> None:
    """Keras 3.15 + MultiWorkerMirroredStrategy: `fit` first all-reduces the first *data* batch to build
    the model symbolically, which fails on a nested batch ("Attempt to convert a value (PerReplica...)").
    The model is already built and compiled here, so the strategy is taken from the enclosing
    `strategy.scope()` instead of being pinned on the model."""
    model._distribute_strategy = None


@contextlib.contextmanager
def tf_loss_reduction():
    """Keras 3.15 + MultiWorkerMirroredStrategy: the step's logs are reduced with
    `strategy.reduce("MEAN", v, axis=0)`, which fails on the scalar loss; and with one replica per worker
    the value is not a PerReplica, so each worker would log its own shard's loss. Within this context the
    logs are averaged over the workers (equal shards: the global batch's mean)."""
    from keras import tree
    from keras.src.backend.tensorflow import trainer

    original = trainer.reduce_per_replica

    def reduce_per_replica(values, strategy, reduction):
        if reduction == "auto" and trainer._collective_all_reduce_multi_worker(strategy):
            return tree.map_structure(lambda v: strategy.reduce("MEAN", v, axis=None), values)
        return original(values, strategy, reduction)

    trainer.reduce_per_replica = reduce_per_replica
    try:
        yield
    finally:
        trainer.reduce_per_replica = original


# --- data and results -------------------------------------------------------------------------------------

def local_rows(batch_size: int, cluster: Cluster) -> slice:
    """This process's rows of a global batch (JAX feeds per-process parts; TF feeds the whole batch)."""
    if cluster.engine != "jax" or not cluster.multi:
        return slice(0, batch_size)
    if batch_size % cluster.num_processes:
        raise DistributedConfigError(f"--batch-size {batch_size} (the global batch) must be a multiple of the "
                                     f"{cluster.num_processes} processes.")
    part = batch_size // cluster.num_processes
    return slice(cluster.process_id * part, (cluster.process_id + 1) * part)


def worker_lost(exc: BaseException, cluster: Cluster, step: int) -> WorkerLostError:
    """The error to raise when multi-process training stops on an engine error."""
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:500]
    return WorkerLostError(
        f"data-parallel training across {cluster.num_processes} processes stopped at step {step} on process "
        f"{cluster.process_id}: {type(exc).__name__}: {first}. If another worker died, hung or was killed "
        f"(see its log), restart every worker with --resume to continue from the last checkpoint.")


@contextlib.contextmanager
def local_only():
    """Run the chief's own work (saving a checkpoint) with no JAX distribution set: under one, moving a
    host value to the device is a cross-process operation that the other workers would never join."""
    import keras
    if keras.backend.backend() != "jax" or keras.distribution.distribution() is None:
        yield
        return
    previous = keras.distribution.distribution()
    keras.distribution.set_distribution(None)
    try:
        yield
    finally:
        keras.distribution.set_distribution(previous)


def join_chief_save(cluster: Cluster, save) -> None:
    """A non-chief worker's part when the chief saves a checkpoint: under TF's MultiWorkerMirroredStrategy
    saving runs collectives (variable broadcasts) that every worker must join, so the others save too,
    into a scratch folder they delete (TensorFlow's own pattern). JAX: nothing (the chief saves alone,
    under `local_only`). `save(folder)` writes a checkpoint into `folder`."""
    if cluster.engine != "tensorflow":
        return
    import shutil
    import tempfile
    scratch = tempfile.mkdtemp(prefix="facezoo-worker-checkpoint-")
    try:
        save(scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def local_copy(model):
    """A copy of `model` with the same weights, built outside any distribution (plain local arrays), so
    the chief can evaluate and save it alone after multi-process training."""
    import keras
    import numpy as np

    weights = [np.asarray(keras.ops.convert_to_numpy(v)) for v in model.weights]
    previous = keras.distribution.distribution() if keras.backend.backend() == "jax" else None
    if previous is not None:
        keras.distribution.set_distribution(None)
    try:
        copy = keras.models.clone_model(model)
        copy.set_weights(weights)
    finally:
        if previous is not None:
            keras.distribution.set_distribution(previous)
    return copy
