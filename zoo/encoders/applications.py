"""Encoders built from `keras.applications` backbones, always with `weights=None`.

Each variant is a row: the application constructor and the extra keyword arguments it needs.
The backbone is built on our normalised input tensor so its layers sit flat in the encoder
(freezing by block then reaches every layer). The catalogue rows of these families (`SPECS`) sit
here too and register themselves on import, as keras-hub's presets do; the registry imports no family.
"""
from __future__ import annotations

from zoo.registry import register
from zoo.spec import EncoderSpec
from zoo.errors import InputError

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
        raise InputError(f"No keras.applications variant for family/variant {spec.family}/{spec.variant}. "
                         f"Valid: {', '.join(valid)}. Received: spec={spec.name!r}")
    constructor, extra = VARIANTS[key]
    backbone = getattr(keras.applications, constructor)(
        weights=None, include_top=False, input_tensor=inputs, **extra)
    return backbone.output


# The built-in catalogue rows of these families: data only, registered below. All take 128 px faces and
# give features at stride 32.
#  name              family            variant  channels  normalization  tags
_ROWS = (
    ("effnet-face-v2", "efficientnetv2", "b0", 1280, "symmetric", ("efficientnet", "default")),
    ("effnet-face-v1", "efficientnet", "b0", 1280, "pixels", ("efficientnet",)),
    ("convnext-face", "convnext", "tiny", 768, "imagenet", ("convnext",)),
    ("resnet-face", "resnet", "50", 2048, "imagenet", ("resnet",)),
    ("mobilenet-face", "mobilenetv3", "small", 576, "symmetric", ("mobilenet", "small")),
)
_DESCRIPTIONS = {
    "effnet-face-v2": "EfficientNetV2-B0 (5.9M params), the default face encoder; fast to train.",
    "effnet-face-v1": "EfficientNet-B0 (4.0M params), the first-generation EfficientNet.",
    "convnext-face": "ConvNeXt-Tiny (27.8M params), a modern high-capacity encoder.",
    "resnet-face": "ResNet50 (23.6M params), the classic residual encoder.",
    "mobilenet-face": "MobileNetV3-Small (0.9M params), for CPUs and quick experiments.",
}
SPECS = tuple(
    EncoderSpec(name=name, family=family, variant=variant, input_size=128, feature_stride=32,
                feature_channels=channels, normalization=normalization, description=_DESCRIPTIONS[name], tags=tags)
    for name, family, variant, channels, normalization, tags in _ROWS)

for _spec in SPECS:
    register(_spec)
