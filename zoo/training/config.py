"""`TrainConfig`, the knobs of a swap training run (the loop's, `zoo.loop.LoopConfig`, and the swap model's),
and `resolve_jit` (re-exported from `zoo.compiling`, where the one compile step lives).
"""
from __future__ import annotations

from dataclasses import dataclass

from zoo.compiling import resolve_jit
from zoo.loop import LoopConfig

__all__ = ["TrainConfig", "resolve_jit"]


@dataclass(frozen=True)
class TrainConfig(LoopConfig):
    """Knobs of a swap training run (all have CLI flags in `facezoo train`); frozen: a trainer never
    changes the config it was given (`train(steps)` keeps its own target). The loop's knobs (`steps`,
    `learning_rate`, `chunk`, `checkpoint_every`, `keep_checkpoints`, `tensorboard`) are `LoopConfig`'s,
    and so are the compile step's (`recon`, `ssim_weight`, `ms_ssim`, `mask_weight`, `clipnorm`,
    `jit_compile`: `zoo.compiling`)."""

    preview_every: int = 100
    calibrate_batchnorm: bool = True  # refresh training BatchNorm statistics before saves/previews
    stage_switch: str = "auto"        # recompile | switch | auto: how stages change (zoo.training.switch)

    def __post_init__(self):
        if self.stage_switch not in ("auto", "recompile", "switch"):
            from zoo.errors import InputError
            raise InputError(f"stage_switch={self.stage_switch!r}: use 'auto', 'recompile' (retrace per stage) "
                             "or 'switch' (one compile, stages switched by variables).")
