"""What a pretraining run hands on: the encoder saved alone, and the `facezoo.json` metadata of its release.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from zoo.pretrain.config import PretrainConfig

__all__ = ["release_metadata", "save_encoder"]


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
