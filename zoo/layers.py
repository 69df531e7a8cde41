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


@keras.saving.register_keras_serializable(package=PACKAGE)
class IdentityEmbeddingFiLM(keras.layers.Layer):
    """Per-identity feature modulation: features * (1 + gamma[id]) + beta[id].

    The cost per step does not grow with the number of identities: only the rows of the batch's
    identities are gathered.
    """

    def __init__(self, num_identities: int, channels: int, **kwargs):
        super().__init__(**kwargs)
        self.num_identities = int(num_identities)
        self.channels = int(channels)

    def build(self, input_shape):
        self.gamma = self.add_weight(shape=(self.num_identities, self.channels), initializer="zeros",
                                     name="gamma")
        self.beta = self.add_weight(shape=(self.num_identities, self.channels), initializer="zeros",
                                    name="beta")

    def call(self, features, identity):
        identity = ops.reshape(ops.cast(identity, "int32"), (-1,))
        gamma = ops.take(self.gamma, identity, axis=0)
        beta = ops.take(self.beta, identity, axis=0)
        gamma = ops.reshape(gamma, (-1, 1, 1, self.channels))
        beta = ops.reshape(beta, (-1, 1, 1, self.channels))
        return features * (1.0 + ops.cast(gamma, features.dtype)) + ops.cast(beta, features.dtype)

    def compute_output_shape(self, features_shape, identity_shape=None):
        return features_shape

    def get_config(self):
        return {**super().get_config(), "num_identities": self.num_identities, "channels": self.channels}
