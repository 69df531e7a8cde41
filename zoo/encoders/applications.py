"""Encoders built from `keras.applications` backbones, always with `weights=None`.

Each variant is a row: the application constructor and the extra keyword arguments it needs.
The backbone is built on our normalised input tensor so its layers sit flat in the encoder
(freezing by block then reaches every layer). The catalogue rows of these families (`SPECS`) sit
here too and register themselves on import, as keras-hub's presets do; the registry imports no family.
So do the weight presets of these entries (`PRESETS`): data rows naming released weights by sha256.
"""
from __future__ import annotations

from zoo.presets import Preset
from zoo.registry import register, register_family, register_preset
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

# The families these builders serve: block pattern (first group names a backbone block) and one line
# on the architecture (the catalogue cards).
#  family            block pattern                      architecture
_FAMILY_ROWS = (
    ("efficientnetv2", r"^(block\d+[a-z])_", "EfficientNetV2 (fused and depthwise MBConv blocks, squeeze-and-excitation)"),
    ("efficientnet", r"^(block\d+[a-z])_", "EfficientNet (MBConv blocks, squeeze-and-excitation, swish)"),
    ("convnext", r"_(stage_\d+_block_\d+)_", "ConvNeXt (7x7 depthwise convolutions, LayerNorm, inverted bottlenecks)"),
    ("resnet", r"^(conv\d_block\d+)_", "ResNet (bottleneck residual blocks, BatchNorm)"),
    ("mobilenetv3", r"^(expanded_conv(?:_\d+)?)_",
     "MobileNetV3 (inverted residuals, hard-swish, squeeze-and-excitation)"),
)


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
#  name              family            variant  channels  normalization  tags, description
_ROWS = (
    ("effnet-face-v2", "efficientnetv2", "b0", 1280, "symmetric", ("efficientnet", "default"),
     "EfficientNetV2-B0 (5.9M params), the default face encoder; fast to train."),
    ("effnet-face-v1", "efficientnet", "b0", 1280, "pixels", ("efficientnet",),
     "EfficientNet-B0 (4.0M params), the first-generation EfficientNet."),
    ("convnext-face", "convnext", "tiny", 768, "imagenet", ("convnext",),
     "ConvNeXt-Tiny (27.8M params), a modern high-capacity encoder."),
    ("resnet-face", "resnet", "50", 2048, "imagenet", ("resnet",),
     "ResNet50 (23.6M params), the classic residual encoder."),
    ("mobilenet-face", "mobilenetv3", "small", 576, "symmetric", ("mobilenet", "small"),
     "MobileNetV3-Small (0.9M params), for CPUs and quick experiments."),
)
SPECS = tuple(
    EncoderSpec(name=name, family=family, variant=variant, input_size=128, feature_stride=32,
                feature_channels=channels, normalization=normalization, description=description, tags=tags)
    for name, family, variant, channels, normalization, tags, description in _ROWS)

# Released weights of these entries, shipped in the package (`zoo/encoders/presets/<files>/`, a
# complete release as `facezoo pull` leaves it) so a fresh install loads them offline. Each row pins
# every file; `releases/README.md` says how the weights were made.
PRESETS = (
    Preset(name="mobilenet-face.lfw-v1", repo_id="facezoo/mobilenet-face", revision="lfw-v1",
           files="mobilenet-face.lfw-v1", default=True, input_size=64,
           corpus="LFW View 1 DevTrain people (4,034 with a detected face, 9,515 photos), 64 px",
           scores={"lfw_view1": 0.615},
           sha256={
               "README.md": "be60f69faebe87e2d3617e3b55fcc0d98889ed92ab383752dfceee72ccff1606",
               "config.json": "7268ae054dcc1698f6a8bc0609992af72d3dc6aacf844eac4c865372ef209362",
               "facezoo.json": "1076d2045e8128b2ffaea9345a91815f8e6a44d0a838becd3d3143fa171b7cf7",
               "metadata.json": "4d6e75b6a5f831e6e01925efa3623833a6bf07eb039a02243969f100c6571530",
               "model.weights.h5": "89ba915f6094ec330d04a92f8048f25cf3fb5f636266bcae0b173409a85a635f"},
           command="facezoo pretrain --corpus lfw:LFW:split=devtrain --encoder mobilenet-face --size 64 "
                   "--steps 1500 --batch-size 32 --heads conditioned --holdout 50 --eval-steps 100 "
                   "--publish facezoo/mobilenet-face --tag lfw-v1"),
)

for _family, _pattern, _about in _FAMILY_ROWS:
    register_family(_family, build_application, _pattern, _about)
for _spec in SPECS:
    register(_spec)
for _preset in PRESETS:
    register_preset(_preset)
