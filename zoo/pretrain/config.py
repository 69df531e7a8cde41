"""`PretrainConfig`, the knobs of a pretraining run, and the names of the files a run folder holds.

The run folder has the layout of a swap-training run (`zoo.runs`: checkpoints, state.json, losses.csv,
encoder.keras) plus `pretrain.json` (the evaluation and release result) and, for corpora aligned on
the fly, `aligned-cache/`.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from zoo.runs import CHECKPOINTS, ENCODER, LOSSES, MODEL, OPTIMIZER, STATE

__all__ = ["PretrainConfig", "RESULT", "ALIGNED_CACHE", "CHECKPOINTS", "ENCODER", "LOSSES", "MODEL", "OPTIMIZER",
           "STATE"]

RESULT = "pretrain.json"
ALIGNED_CACHE = "aligned-cache"


@dataclass(frozen=True)
class PretrainConfig:
    """Knobs of a pretraining run (each has a `facezoo pretrain` flag); frozen: change one with
    `dataclasses.replace`, and a trainer never changes the config it was given (`train(steps)` keeps its
    own target)."""

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
