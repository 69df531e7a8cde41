"""`TrainConfig`, the knobs of a swap training run (the loop's, `zoo.loop.LoopConfig`, and the swap model's),
and `resolve_jit`, what its "auto" XLA setting means here.
"""
from __future__ import annotations

from dataclasses import dataclass

import keras

from zoo.loop import LoopConfig

__all__ = ["TrainConfig", "resolve_jit"]


@dataclass(frozen=True)
class TrainConfig(LoopConfig):
    """Knobs of a swap training run (all have CLI flags in `facezoo train`); frozen: a trainer never
    changes the config it was given (`train(steps)` keeps its own target). The loop's knobs (`steps`,
    `learning_rate`, `chunk`, `checkpoint_every`, `keep_checkpoints`, `tensorboard`) are `LoopConfig`'s."""

    preview_every: int = 100
    recon: str = "mae"
    ssim_weight: float = 0.5
    ms_ssim: bool | None = None       # None: on at >= 128 px
    mask_weight: float = 0.5
    jit_compile: str | bool = "auto"  # auto: XLA except TensorFlow on CPU (slower there, measured)
    calibrate_batchnorm: bool = True  # refresh training BatchNorm statistics before saves/previews
    stage_switch: str = "auto"        # recompile | switch | auto: how stages change (zoo.training.switch)

    def __post_init__(self):
        if self.stage_switch not in ("auto", "recompile", "switch"):
            from zoo.errors import InputError
            raise InputError(f"stage_switch={self.stage_switch!r}: use 'auto', 'recompile' (retrace per stage) "
                             "or 'switch' (one compile, stages switched by variables).")


def resolve_jit(setting):
    """XLA on GPUs and on JAX/torch; off for TensorFlow on CPU, where it made the first step 2x and
    trainable steps 2.4x slower (EfficientNetV2-B0 swap model, 64 px, measured here)."""
    if setting != "auto":
        return bool(setting)
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf
        return bool(tf.config.list_physical_devices("GPU"))
    return "auto"
