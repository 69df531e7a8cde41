"""faceswap's classic "original" encoder, written here for Keras 3.

Four 5x5 stride-2 convolutions (128, 256, 512, 1024 filters, LeakyReLU), a dense bottleneck, a dense
projection back to a 4x4 grid (for 64 px input) and one pixel-shuffle upscale: 8x8x512 at 64 px.
Its family and catalogue row (`SPECS`) register themselves on import.
"""
from __future__ import annotations

from zoo.registry import register, register_family
from zoo.spec import EncoderSpec

SPECS = (
    EncoderSpec(
        name="fs-original", family="fs_original", variant="original", input_size=64,
        feature_stride=8, feature_channels=512, normalization="unit",
        description="faceswap's classic 'original' conv encoder (Conv x4, Dense, upscale), written here.",
        tags=("faceswap", "classic")),
)

BLOCK_PATTERN = r"^(fs_block\d+)_"


def build_fs_original(spec, inputs, bottleneck: int = 1024):
    import keras
    from keras import layers

    from zoo.layers import PixelShuffle

    x = inputs
    for i, filters in enumerate((128, 256, 512, 1024), start=1):
        x = layers.Conv2D(filters, 5, strides=2, padding="same", name=f"fs_block{i}_conv")(x)
        x = layers.LeakyReLU(0.1, name=f"fs_block{i}_act")(x)
    grid = x.shape[1]
    x = layers.Flatten(name="fs_block5_flatten")(x)
    x = layers.Dense(bottleneck, name="fs_block5_dense")(x)
    x = layers.Dense(grid * grid * 1024, name="fs_block6_dense")(x)
    x = layers.Reshape((grid, grid, 1024), name="fs_block6_reshape")(x)
    x = layers.Conv2D(512 * 4, 3, padding="same", name="fs_block6_upconv")(x)
    x = layers.LeakyReLU(0.1, name="fs_block6_act")(x)
    x = PixelShuffle(2, name="fs_block6_shuffle")(x)
    del keras
    return x


register_family("fs_original", build_fs_original, BLOCK_PATTERN,
                "faceswap's 'original' encoder in Keras 3: four strided 5x5 convolutions, a dense bottleneck "
                "and an upscale back to a feature map")
for _spec in SPECS:
    register(_spec)
