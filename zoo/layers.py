"""Custom layers, registered serializable so models load with `safe_mode=True` (no Lambda layers).

`ArcMargin` is the identity objective's head in pretraining (`zoo.pretrain.identity`); the others build
encoders and decoders."""
from __future__ import annotations

import math

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
class CodeFiLM(keras.layers.Layer):
    """features * (1 + gamma(code)) + beta(code), gamma/beta shared Dense maps of an identity code.

    Zero-initialised maps: the layer starts as the identity and learns the modulation. What turns
    `zoo.decoders.build_decoder` into the conditioned decoder of many-identity pretraining.
    """

    def __init__(self, channels: int, **kwargs):
        super().__init__(**kwargs)
        self.channels = int(channels)

    def build(self, features_shape, code_shape=None):
        dim = int(code_shape[-1]) if code_shape is not None else None
        self.gamma = self.add_weight(shape=(dim, self.channels), initializer="zeros", name="gamma_kernel")
        self.beta = self.add_weight(shape=(dim, self.channels), initializer="zeros", name="beta_kernel")
        self.gamma_bias = self.add_weight(shape=(self.channels,), initializer="zeros", name="gamma_bias")
        self.beta_bias = self.add_weight(shape=(self.channels,), initializer="zeros", name="beta_bias")

    def call(self, features, code):
        gamma = ops.matmul(code, self.gamma) + self.gamma_bias
        beta = ops.matmul(code, self.beta) + self.beta_bias
        gamma = ops.reshape(gamma, (-1, 1, 1, self.channels))
        beta = ops.reshape(beta, (-1, 1, 1, self.channels))
        return features * (1.0 + gamma) + beta

    def compute_output_shape(self, features_shape, code_shape=None):
        return features_shape

    def get_config(self):
        return {**super().get_config(), "channels": self.channels}


@keras.saving.register_keras_serializable(package=PACKAGE)
class SelectByIdentity(keras.layers.Layer):
    """Pick each sample's output from a bank: ([out_0, ..., out_{N-1}], identity) -> out_{identity}."""

    def call(self, outputs, identity):
        stacked = ops.stack(outputs, axis=1)                      # (B, N, H, W, C)
        onehot = ops.one_hot(ops.reshape(ops.cast(identity, "int32"), (-1,)), len(outputs),
                             dtype=stacked.dtype)
        return ops.einsum("bn,bnhwc->bhwc", onehot, stacked)

    def compute_output_shape(self, outputs_shape, identity_shape=None):
        return outputs_shape[0]


@keras.saving.register_keras_serializable(package=PACKAGE)
class ArcMargin(keras.layers.Layer):
    """ArcFace's additive angular margin head (Deng et al., 2019): (embedding, label) -> scaled logits.

    Holds one weight vector per class (`units` of them, `(dim, units)`); both the embedding and each class
    vector are L2-normalised, so their product is cos(theta) of the angle between them. The true class gets
    `scale * cos(theta + margin)`, every other class `scale * cos(theta)`. Where theta + margin would pass
    pi (cos(theta + m) stops falling), the true class gets `cos(theta) - m * sin(m)` instead, as in
    InsightFace, so the logit stays monotonic in theta. Labels: int (B,) or (B, 1). float32 throughout.
    """

    def __init__(self, units: int, margin: float = 0.5, scale: float = 30.0, **kwargs):
        super().__init__(**kwargs)
        self.units = int(units)
        self.margin = float(margin)
        self.scale = float(scale)

    def build(self, embedding_shape, labels_shape=None):
        self.kernel = self.add_weight(shape=(int(embedding_shape[-1]), self.units), name="class_vectors",
                                      initializer="glorot_uniform", dtype="float32")

    def call(self, embedding, labels):
        x = ops.cast(embedding, "float32")
        x = x / ops.sqrt(ops.maximum(ops.sum(x * x, axis=-1, keepdims=True), 1e-12))
        w = ops.cast(self.kernel, "float32")
        w = w / ops.sqrt(ops.maximum(ops.sum(w * w, axis=0, keepdims=True), 1e-12))
        cos = ops.clip(ops.matmul(x, w), -1.0, 1.0)
        sin = ops.sqrt(ops.clip(1.0 - cos * cos, 1e-7, 1.0))
        m = self.margin
        with_margin = cos * math.cos(m) - sin * math.sin(m)
        with_margin = ops.where(cos > math.cos(math.pi - m), with_margin, cos - m * math.sin(m))
        onehot = ops.one_hot(ops.reshape(ops.cast(labels, "int32"), (-1,)), self.units, dtype="float32")
        return self.scale * (onehot * with_margin + (1.0 - onehot) * cos)

    def compute_output_shape(self, embedding_shape, labels_shape=None):
        return (embedding_shape[0], self.units)

    def get_config(self):
        return {**super().get_config(), "units": self.units, "margin": self.margin, "scale": self.scale}
