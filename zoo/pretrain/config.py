"""`PretrainConfig`, the knobs of a pretraining run, and the names of the files a run folder holds.

The run folder has the layout of a swap-training run (`zoo.runs`: checkpoints, state.json, losses.csv,
encoder.keras) plus `pretrain.json` (the evaluation and release result) and, for corpora aligned on
the fly, `aligned-cache/`.
"""
from __future__ import annotations

from dataclasses import dataclass

from zoo.loop import LoopConfig
from zoo.runs import CHECKPOINTS, ENCODER, LOSSES, MODEL, OPTIMIZER, STATE

__all__ = ["PretrainConfig", "RESULT", "ALIGNED_CACHE", "CHECKPOINTS", "ENCODER", "LOSSES", "MODEL", "OPTIMIZER",
           "STATE"]

RESULT = "pretrain.json"
ALIGNED_CACHE = "aligned-cache"


@dataclass(frozen=True)
class PretrainConfig(LoopConfig):
    """Knobs of a pretraining run (each has a `facezoo pretrain` flag, but `tensorboard`); frozen: change
    one with `dataclasses.replace`, and a trainer never changes the config it was given (`train(steps)`
    keeps its own target). The loop's knobs are `LoopConfig`'s; here they keep their pretraining defaults."""

    checkpoint_every: int = 100
    tensorboard: bool = False        # RUN/logs off by default for pretraining runs
    batch_size: int = 16
    size: int = 64
    heads: str = "conditioned"
    code_dim: int = 64               # conditioned head: per-identity embedding size
    film_scales: int = 3             # conditioned head: FiLM after inter and after the first upscales
    decoder_width: int = 128
    inter: str = "dense"
    inter_channels: int = 128
    bottleneck: int = 256
    seed: int = 0
    jit_compile: str | bool = False  # XLA compile is slow to start on CPU; "auto" on accelerators
    ms_ssim: bool | None = False     # the pretraining loss has always been plain SSIM
    clipnorm: float | None = None    # and unclipped: the committed releases were trained so
    teacher: str = "none"            # "dlib": distil its face embedding (`zoo.distil`) beside reconstruction
    teacher_weight: float = 1.0      # weight of the teacher's cosine loss
    identity_weight: float = 0.0     # > 0: ArcFace identity head (`zoo.pretrain.identity`) beside reconstruction
    arcface_margin: float = 0.5      # its additive angular margin (radians) on the true class
    arcface_scale: float = 30.0      # its logit scale
    min_photos: int = 0              # train only on identities with at least this many photos (0: all)
