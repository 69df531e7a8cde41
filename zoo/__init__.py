"""facezoo's model zoo: encoder registry, builders, swap model and freeze schedules.

`import zoo` is cheap: Keras and TensorFlow load only when a builder or loader is first used.

Layout: `registry`/`spec` (names and facts, no family imported), `encoders/` (one module per family:
builder, block pattern and its catalogue rows, registered on import), `builder`/`loading` (models that
carry their `EncoderInfo`), `decoders`/`swap`/`layers`, `loop` (the one chunked training loop) with
`training` and `pretrain` on top, `schedule`/`optim`/`runs`, `data/`, `convert`, `publishing` (release
metadata). `bench/` holds the time-to-quality experiment and the quickstart report; it uses the library
and is never imported by it.

Examples:
    >>> import zoo
    >>> zoo.list_encoders("effnet-*")
    ['effnet-face-v1', 'effnet-face-v2']
    >>> zoo.list_encoders("mobilenet-*")                                  # entries and weight presets
    ['mobilenet-face', 'mobilenet-face.lfw-v1']
    >>> encoder = zoo.load_encoder("mobilenet-face")      # its default preset: shipped, pinned, offline
    >>> encoder = zoo.build_encoder("mobilenet-face", input_size=64)      # random init
    >>> encoder = zoo.load_encoder("effnet-face-v2")                      # pretrained, from the hub
    >>> zoo.encoder_info(encoder).revision                                # the commit it was pulled at
"""
from __future__ import annotations

import importlib
import os

# TensorFlow turns its oneDNN CPU kernels on only on some Intel CPUs; elsewhere (AMD EPYC here) it runs
# its plain Eigen kernels, which train facezoo's models 1.6-2.6x slower (benchmarks/onednn.py). On unless the
# user chose (TF_ENABLE_ONEDNN_OPTS=0 turns it off). Set before anything can import TensorFlow.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

from zoo.errors import (DataError, FacezooError, IntegrityError, NotPublishedError, ScheduleError,
                        UnknownEncoderError)
from zoo.presets import Preset
from zoo.refs import EncoderRef
from zoo.registry import get_preset, get_spec, list_encoders, parse_ref, register, register_preset
from zoo.runspec import RunSpec
from zoo.spec import EncoderInfo, EncoderSpec, encoder_info

from zoo import encoders as _encoders  # noqa: E402,F401 (built-in families register their rows; no Keras)

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

__all__ = ["EncoderSpec", "EncoderInfo", "encoder_info", "FacezooError", "IntegrityError", "NotPublishedError", "ScheduleError",
           "UnknownEncoderError", "DataError", "get_spec", "list_encoders", "parse_ref", "register",
           "Preset", "get_preset", "register_preset", "EncoderRef", "RunSpec",
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
