"""Decoders and the shared bottleneck ("inter") of the swap model.

A decoder upscales the shared features to a face: RGB plus a learned mask channel, stacked as
(H, W, 4) in [0, 1]. Upscaling is sub-pixel convolution (faceswap's PixelShuffler) or nearest
upsampling + conv; optional residual blocks refine each scale. Sized by `width`, 64-512 px.
"""
from __future__ import annotations

import math
from zoo.errors import InputError


def _upscale(x, filters, prefix, i, mode):
    from keras import layers

    from zoo.layers import PixelShuffle

    if mode == "shuffle":
        x = layers.Conv2D(filters * 4, 3, padding="same", name=f"{prefix}_up{i}_conv")(x)
        x = layers.LeakyReLU(0.1, name=f"{prefix}_up{i}_act")(x)
        return PixelShuffle(2, name=f"{prefix}_up{i}_shuffle")(x)
    x = layers.UpSampling2D(2, interpolation="nearest", name=f"{prefix}_up{i}_resize")(x)
    x = layers.Conv2D(filters, 3, padding="same", name=f"{prefix}_up{i}_conv")(x)
    return layers.LeakyReLU(0.1, name=f"{prefix}_up{i}_act")(x)


def _residual(x, prefix, i):
    from keras import layers

    filters = x.shape[-1]
    y = layers.Conv2D(filters, 3, padding="same", name=f"{prefix}_res{i}_conv1")(x)
    y = layers.LeakyReLU(0.2, name=f"{prefix}_res{i}_act1")(y)
    y = layers.Conv2D(filters, 3, padding="same", name=f"{prefix}_res{i}_conv2")(y)
    x = layers.Add(name=f"{prefix}_res{i}_add")([x, y])
    return layers.LeakyReLU(0.2, name=f"{prefix}_res{i}_act2")(x)


def build_decoder(feature_shape, output_size: int, *, width: int = 128, residual_blocks: int = 1,
                  upsample: str = "shuffle", min_filters: int = 32, code_dim: int | None = None,
                  film_scales: int = 3, name: str = "decoder"):
    """A decoder from a feature map (h, w, c) to (output_size, output_size, 4): RGB + mask.

    Args:
        feature_shape: shape of the (shared) features the decoder reads.
        output_size: face size in pixels, a power-of-two multiple of the feature map's size.
        width: filters of the first upscale; halved at each scale down to `min_filters`.
        residual_blocks: residual blocks after each of the first two upscales.
        upsample: "shuffle" (pixel shuffle) or "nearest".
        code_dim: the conditioned decoder of many-identity pretraining: the model takes
            (features, code) and a `CodeFiLM` modulates the features, then the first
            `film_scales - 1` upscales, by the identity code. None: one decoder per identity.
    """
    import keras
    from keras import layers

    from zoo.layers import CodeFiLM

    h = int(feature_shape[0])
    ratio = output_size / h
    steps = round(math.log2(ratio)) if ratio >= 1 else -1
    if steps < 0 or 2 ** steps != ratio:
        raise InputError(f"Decoder {name!r}: output_size {output_size} must be the feature map size {h} "
                         f"times a power of two. Received: feature_shape={tuple(feature_shape)}")
    if upsample not in ("shuffle", "nearest"):
        raise InputError(f"upsample must be 'shuffle' or 'nearest'. Received: upsample={upsample!r}")
    inputs = keras.Input(tuple(feature_shape), name=f"{name}_features")
    x = inputs
    if code_dim is not None:
        code = keras.Input((int(code_dim),), name=f"{name}_code")
        inputs = [inputs, code]
        x = CodeFiLM(int(feature_shape[-1]), name=f"{name}_film_in")(x, code)
    filters = width
    for i in range(steps):
        x = _upscale(x, filters, name, i, upsample)
        if i < 2:
            for r in range(residual_blocks):
                x = _residual(x, name, f"{i}_{r}")
        if code_dim is not None and i + 1 < film_scales:
            x = CodeFiLM(int(x.shape[-1]), name=f"{name}_film{i}")(x, code)
        filters = max(min_filters, filters // 2)
    rgb = layers.Conv2D(3, 5, padding="same", activation="sigmoid", dtype="float32", name=f"{name}_rgb")(x)
    mask = layers.Conv2D(1, 5, padding="same", activation="sigmoid", dtype="float32", name=f"{name}_mask")(x)
    outputs = layers.Concatenate(axis=-1, dtype="float32", name=f"{name}_face")([rgb, mask])
    return keras.Model(inputs, outputs, name=name)


def build_inter(feature_shape, kind: str = "dense", *, channels: int = 256, bottleneck: int = 512,
                grid: int | None = None, name: str = "inter"):
    """The shared bottleneck between encoder and decoders (faceswap's "inter" layers).

    kind:
        "dense": flatten -> Dense(bottleneck) -> Dense(grid*grid*channels) -> reshape. A tight
            identity-agnostic code; `grid` defaults to max(4, feature size).
        "conv": a 1x1 conv to `channels` (keeps the spatial map).
        "none": identity.
    Returns (model, output_shape).
    """
    import keras
    from keras import layers

    inputs = keras.Input(tuple(feature_shape), name=f"{name}_in")
    if kind == "dense":
        grid = grid or max(4, int(feature_shape[0]))
        x = layers.Flatten(name=f"{name}_flatten")(inputs)
        x = layers.Dense(bottleneck, name=f"{name}_dense1")(x)
        x = layers.Dense(grid * grid * channels, name=f"{name}_dense2")(x)
        x = layers.Reshape((grid, grid, channels), name=f"{name}_reshape")(x)
        x = layers.LeakyReLU(0.1, name=f"{name}_act")(x)
    elif kind == "conv":
        x = layers.Conv2D(channels, 1, name=f"{name}_conv")(inputs)
        x = layers.LeakyReLU(0.1, name=f"{name}_act")(x)
    elif kind == "none":
        x = layers.Identity(name=f"{name}_identity")(inputs)
    else:
        raise InputError(f"inter kind must be 'dense', 'conv' or 'none'. Received: kind={kind!r}")
    model = keras.Model(inputs, x, name=name)
    return model, tuple(model.output.shape[1:])
