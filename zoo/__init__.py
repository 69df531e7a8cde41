"""facezoo's model zoo: encoder registry, builders, swap model and freeze schedules.

`import zoo` is cheap: Keras and TensorFlow load only when a builder or loader is first used.

Examples:
    >>> import zoo
    >>> zoo.list_encoders("effnet-*")
    ['effnet-face-v1', 'effnet-face-v2']
    >>> encoder = zoo.build_encoder("mobilenet-face", input_size=64)      # random init
    >>> encoder = zoo.load_encoder("effnet-face-v2")                      # pretrained, from the hub
"""
from __future__ import annotations

import importlib

from zoo.errors import (DataError, FacezooError, IntegrityError, NotPublishedError, ScheduleError,
                        UnknownEncoderError)
from zoo.registry import get_spec, list_encoders, parse_ref, register
from zoo.spec import EncoderSpec

# Public names provided by submodules that import Keras; resolved on first access.
_LAZY = {
    "build_encoder": "zoo.builder",
    "encoder_blocks": "zoo.blocks",
    "load_encoder": "zoo.loading",
    "build_decoder": "zoo.decoders",
    "build_swap_model": "zoo.swap",
    "SwapModel": "zoo.swap",
    "load_run": "zoo.runs",
    "FreezeSchedule": "zoo.schedule",
    "Stage": "zoo.schedule",
    "swap_image": "zoo.convert",
}

__all__ = ["EncoderSpec", "FacezooError", "IntegrityError", "NotPublishedError", "ScheduleError",
           "UnknownEncoderError", "DataError", "get_spec", "list_encoders", "parse_ref", "register",
           *_LAZY]


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'zoo' has no attribute {name!r}")
    from zoo.tfquiet import import_tensorflow_quietly
    import_tensorflow_quietly()  # before Keras loads it: no start-up lines that look like failures
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
