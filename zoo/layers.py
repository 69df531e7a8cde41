"""Custom layers, registered serializable so models load with `safe_mode=True` (no Lambda layers)."""
from __future__ import annotations

import keras
from keras import ops

PACKAGE = "facezoo"


@keras.saving.register_keras_serializable(package=PACKAGE)
class Rescale(keras.layers.Layer):
    """(x - mean) / std per channel: maps [0, 1] faces to what a backbone expects."""

    def __init__(self, mean=0.0, std=1.0, **kwargs):
        super().__init__(**kwargs)
        self.mean = list(mean) if isinstance(mean, (list, tuple)) else float(mean)
        self.std = list(std) if isinstance(std, (list, tuple)) else float(std)

    def call(self, x):
        mean = ops.convert_to_tensor(self.mean, dtype=x.dtype)
        std = ops.convert_to_tensor(self.std, dtype=x.dtype)
        return (x - mean) / std

    def get_config(self):
        return {**super().get_config(), "mean": self.mean, "std": self.std}


@keras.saving.register_keras_serializable(package=PACKAGE)
class PixelShuffle(keras.layers.Layer):
    """Depth-to-space upscaling (sub-pixel convolution), as faceswap's PixelShuffler."""

    def __init__(self, scale: int = 2, **kwargs):
        super().__init__(**kwargs)
        self.scale = int(scale)

    def call(self, x):
        s = self.scale
        _, h, w, c = x.shape
        out_c = c // (s * s)
        x = ops.reshape(x, (-1, h, w, s, s, out_c))
        x = ops.transpose(x, (0, 1, 3, 2, 4, 5))
        return ops.reshape(x, (-1, h * s, w * s, out_c))

    def compute_output_shape(self, input_shape):
        b, h, w, c = input_shape
        s = self.scale
        return (b, None if h is None else h * s, None if w is None else w * s, c // (s * s))

    def get_config(self):
        return {**super().get_config(), "scale": self.scale}
