"""The built-in encoder catalogue: data only, one row per encoder (see `EncoderSpec`).

Weights are published to a hub (by `facezoo pretrain --publish` or `facezoo quickstart`), so no row is
pinned to a revision yet: `zoo.load_encoder` resolves the hub's `main` or the tag you give. A row
gains `revision=` and `sha256=` pins once a release is blessed.
"""
from zoo.registry import register
from zoo.spec import EncoderSpec

CATALOGUE = (
    EncoderSpec(
        name="effnet-face-v2", family="efficientnetv2", variant="b0", input_size=128,
        feature_stride=32, feature_channels=1280, normalization="symmetric",
        description="EfficientNetV2-B0 (5.9M params), the default face encoder; fast to train.",
        tags=("efficientnet", "default")),
    EncoderSpec(
        name="effnet-face-v1", family="efficientnet", variant="b0", input_size=128,
        feature_stride=32, feature_channels=1280, normalization="pixels",
        description="EfficientNet-B0 (4.0M params), the first-generation EfficientNet.",
        tags=("efficientnet",)),
    EncoderSpec(
        name="convnext-face", family="convnext", variant="tiny", input_size=128,
        feature_stride=32, feature_channels=768, normalization="imagenet",
        description="ConvNeXt-Tiny (27.8M params), a modern high-capacity encoder.",
        tags=("convnext",)),
    EncoderSpec(
        name="resnet-face", family="resnet", variant="50", input_size=128,
        feature_stride=32, feature_channels=2048, normalization="imagenet",
        description="ResNet50 (23.6M params), the classic residual encoder.",
        tags=("resnet",)),
    EncoderSpec(
        name="mobilenet-face", family="mobilenetv3", variant="small", input_size=128,
        feature_stride=32, feature_channels=576, normalization="symmetric",
        description="MobileNetV3-Small (0.9M params), for CPUs and quick experiments.",
        tags=("mobilenet", "small")),
    EncoderSpec(
        name="fs-original", family="fs_original", variant="original", input_size=64,
        feature_stride=8, feature_channels=512, normalization="unit",
        description="faceswap's classic 'original' conv encoder (Conv x4, Dense, upscale), written here.",
        tags=("faceswap", "classic")),
)

for _spec in CATALOGUE:
    register(_spec)
