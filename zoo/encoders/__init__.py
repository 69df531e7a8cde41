"""Encoder families: one builder function per family, variants are rows of a table.

`FAMILIES[family](spec, inputs)` returns the backbone's output tensor for a normalised input tensor;
`zoo.builder.build_encoder` wraps it with input and normalisation. Each family module also holds its
catalogue rows (`SPECS`) and registers them when imported; `import zoo` imports this package (no Keras:
the builders import it when called), so the built-in encoders are registered before any lookup and a
user's `zoo.register(...)` only adds to them.
"""
from zoo.encoders.applications import BLOCK_PATTERNS as _APP_PATTERNS
from zoo.encoders.applications import SPECS as _APP_SPECS
from zoo.encoders.applications import build_application
from zoo.encoders.fs_original import BLOCK_PATTERN as _FS_PATTERN
from zoo.encoders.fs_original import SPECS as _FS_SPECS
from zoo.encoders.fs_original import build_fs_original

FAMILIES = {
    "efficientnetv2": build_application,
    "efficientnet": build_application,
    "convnext": build_application,
    "resnet": build_application,
    "mobilenetv3": build_application,
    "fs_original": build_fs_original,
}

# Regexes whose first group names a backbone block, used to count "top k blocks".
BLOCK_PATTERNS = {**_APP_PATTERNS, "fs_original": _FS_PATTERN}

# Every built-in catalogue row, in catalogue order (each is registered by its family module).
BUILTIN_SPECS = (*_APP_SPECS, *_FS_SPECS)
