"""Encoders built from `keras.applications` backbones, always with `weights=None`.

Each variant is a row: the application constructor and the extra keyword arguments it needs.
The backbone is built on our normalised input tensor so its layers sit flat in the encoder
(freezing by block then reaches every layer).
"""
from __future__ import annotations

VARIANTS = {
    ("efficientnetv2", "b0"): ("EfficientNetV2B0", {"include_preprocessing": False}),
    ("efficientnetv2", "b1"): ("EfficientNetV2B1", {"include_preprocessing": False}),
    ("efficientnetv2", "s"): ("EfficientNetV2S", {"include_preprocessing": False}),
    ("efficientnet", "b0"): ("EfficientNetB0", {}),
    ("efficientnet", "b1"): ("EfficientNetB1", {}),
    ("convnext", "tiny"): ("ConvNeXtTiny", {"include_preprocessing": False}),
    ("convnext", "small"): ("ConvNeXtSmall", {"include_preprocessing": False}),
    ("resnet", "50"): ("ResNet50", {}),
    ("resnet", "101"): ("ResNet101", {}),
    ("mobilenetv3", "small"): ("MobileNetV3Small", {"include_preprocessing": False}),
    ("mobilenetv3", "large"): ("MobileNetV3Large", {"include_preprocessing": False}),
}

BLOCK_PATTERNS = {
    "efficientnetv2": r"^(block\d+[a-z])_",
    "efficientnet": r"^(block\d+[a-z])_",
    "convnext": r"_(stage_\d+_block_\d+)_",
    "resnet": r"^(conv\d_block\d+)_",
    "mobilenetv3": r"^(expanded_conv(?:_\d+)?)_",
}


def build_application(spec, inputs):
    import keras

    key = (spec.family, spec.variant)
    if key not in VARIANTS:
        valid = sorted(f"{f}/{v}" for f, v in VARIANTS)
        raise ValueError(f"No keras.applications variant for family/variant {spec.family}/{spec.variant}. "
                         f"Valid: {', '.join(valid)}. Received: spec={spec.name!r}")
    constructor, extra = VARIANTS[key]
    backbone = getattr(keras.applications, constructor)(
        weights=None, include_top=False, input_tensor=inputs, **extra)
    return backbone.output
