"""Data parallelism for pretraining on one process or several.

`distribution_scope("data-parallel")` wraps build, compile and fit: `keras.distribution.DataParallel` on
JAX, `tf.distribute.MirroredStrategy` on TensorFlow (one per process, shared by every scope), and the
multi-process variants of `zoo.distribute` when the environment describes a cluster.
`setup_virtual_devices(N)` splits the host CPU into N devices to test this on one machine.
"""
from __future__ import annotations

import contextlib
import os

from zoo.errors import InputError

__all__ = ["current_cluster", "distribution_scope", "setup_virtual_devices"]


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


def current_cluster():
    """This process's place in a multi-process run (`zoo.distribute.Cluster`), from the environment."""
    import keras

    from zoo.distribute import cluster_from_env
    return cluster_from_env(keras.backend.backend())
