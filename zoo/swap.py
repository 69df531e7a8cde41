"""The swap model: one shared encoder, one decoder per identity (faceswap / DeepFaceLab style).

`SwapModel` is a Functional model with one input and one output per identity, so the standard
`compile()`/`fit()` train every identity's reconstruction at once, and `swap(images, to=...)`
sends any face through another identity's decoder. Its config keeps the encoder's `EncoderInfo`
(spec and release), so an encoder loaded back from a run folder still carries them.
"""
from __future__ import annotations

import re

import keras
import numpy as np
from keras import ops

from zoo.decoders import build_decoder, build_inter
from zoo.errors import InputError
from zoo.layers import PACKAGE

_IDENTITY_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


def _check_identities(identities) -> list[str]:
    identities = [str(i) for i in identities]
    if len(identities) < 1:
        raise InputError("A swap model needs at least one identity. Received: identities=[]")
    if len(set(identities)) != len(identities):
        raise InputError(f"Identity names must be unique. Received: identities={identities}")
    for name in identities:
        if not _IDENTITY_NAME.match(name):
            raise InputError(f"Identity name {name!r} must be letters, digits, '_', '.', '-'.")
    return identities


@keras.saving.register_keras_serializable(package=PACKAGE)
class SwapModel(keras.Model):
    """Shared encoder + shared bottleneck + one decoder per identity.

    Inputs and outputs are dicts keyed by identity name: input `x[name]` is a batch of faces
    (B, H, W, 3) in [0, 1]; output `y[name]` is (B, H, W, 4): reconstructed RGB and mask.
    """

    def __init__(self, encoder, inter, decoders: dict, **kwargs):
        identities = list(decoders)
        inputs = {name: keras.Input(tuple(encoder.input_shape[1:]), name=name)
                  for name in identities}
        outputs = {}
        for name in identities:
            outputs[name] = decoders[name](inter(encoder(inputs[name])))
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)
        self.encoder = encoder
        self.inter = inter
        self.decoders = dict(decoders)
        self.identities = identities

    @property
    def input_size(self) -> int:
        return int(self.encoder.input_shape[1])

    def get_config(self):
        from zoo.spec import encoder_info

        info = encoder_info(self.encoder)
        return {
            "name": self.name,
            "encoder_info": info.to_dict() if info else None,
            "encoder": keras.saving.serialize_keras_object(self.encoder),
            "inter": keras.saving.serialize_keras_object(self.inter),
            "decoders": {k: keras.saving.serialize_keras_object(v) for k, v in self.decoders.items()},
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
        from zoo.spec import EncoderInfo, attach_info

        config = dict(config)
        encoder = keras.saving.deserialize_keras_object(config.pop("encoder"), custom_objects)
        attach_info(encoder, EncoderInfo.from_dict(config.pop("encoder_info", None)))
        inter = keras.saving.deserialize_keras_object(config.pop("inter"), custom_objects)
        decoders = {k: keras.saving.deserialize_keras_object(v, custom_objects)
                    for k, v in config.pop("decoders").items()}
        return cls(encoder, inter, decoders, **{k: v for k, v in config.items() if k == "name"})

    def decode(self, images, identity: str, batch_size: int = 32) -> np.ndarray:
        """Encode faces and decode them as `identity`: (B, H, W, 4) float32 numpy (RGB + mask)."""
        if identity not in self.decoders:
            raise InputError(f"Unknown identity {identity!r}; this model has {self.identities}.")
        images = np.asarray(images)
        if images.dtype == np.uint8:
            images = images.astype("float32") / 255.0
        if images.ndim == 3:
            images = images[None]
        out = []
        for start in range(0, len(images), batch_size):
            x = ops.convert_to_tensor(images[start:start + batch_size].astype("float32"))
            y = self.decoders[identity](self.inter(self.encoder(x, training=False), training=False),
                                        training=False)
            out.append(ops.convert_to_numpy(y))
        return np.concatenate(out, axis=0) if out else np.zeros((0, *images.shape[1:3], 4), "float32")

    def swap(self, images, to: str, batch_size: int = 32) -> np.ndarray:
        """Faces (B, H, W, 3) rendered as identity `to`: RGB float32 in [0, 1]."""
        return self.decode(images, to, batch_size)[..., :3]


def build_swap_model(encoder, identities=("a", "b"), *, output_size: int | None = None,
                     decoder_width: int = 128, residual_blocks: int = 1, upsample: str = "shuffle",
                     inter: str = "dense", inter_channels: int = 256, bottleneck: int = 512,
                     name: str = "swap_model") -> SwapModel:
    """Attach one decoder per identity to a shared encoder.

    Args:
        encoder: a `keras.Model` (e.g. from `zoo.load_encoder`/`zoo.build_encoder`) or a registry
            name, built at `output_size` with random weights.
        identities: identity names, e.g. ["a", "b"] or a few dozen.
        output_size: face size; defaults to the encoder's input size.
        decoder_width, residual_blocks, upsample: decoder size (see `zoo.build_decoder`).
        inter: shared bottleneck kind, "dense" | "conv" | "none" (see `zoo.decoders.build_inter`).

    Examples:
        >>> enc = zoo.build_encoder("mobilenet-face", input_size=64)
        >>> model = zoo.build_swap_model(enc, identities=["a", "b"])
        >>> faces_of_a = np.random.rand(2, 64, 64, 3)         # aligned RGB faces in [0, 1]
        >>> fake_b = model.swap(faces_of_a, to="b")            # untrained: noise until trained
    """
    identities = _check_identities(identities)
    if isinstance(encoder, str):
        from zoo.builder import build_encoder
        encoder = build_encoder(encoder, input_size=output_size)
    size = output_size or int(encoder.input_shape[1])
    feature_shape = tuple(encoder.output_shape[1:])
    inter_model, inter_shape = build_inter(feature_shape, inter, channels=inter_channels,
                                           bottleneck=bottleneck, name="inter")
    decoders = {ident: build_decoder(inter_shape, size, width=decoder_width,
                                     residual_blocks=residual_blocks, upsample=upsample,
                                     name=f"decoder_{ident}")
                for ident in identities}
    return SwapModel(encoder, inter_model, decoders, name=name)
