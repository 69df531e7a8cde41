"""`build_encoder`: the one builder that turns any catalogue spec into a `keras.Model`."""
from __future__ import annotations

from zoo.registry import get_family, get_spec
from zoo.spec import NORMALIZATIONS, EncoderInfo, EncoderSpec, attach_info
from zoo.errors import InputError


def build_encoder(name_or_spec, weights=None, *, input_size: int | None = None,
                  trainable: bool = True):
    """Build an encoder mapping aligned faces (H, W, 3) in [0, 1] to a feature map.

    Args:
        name_or_spec: registry name (`"effnet-face-v2"`) or an `EncoderSpec`.
        weights: None for random initialisation, or a path to a `.weights.h5` file of the same
            architecture. For pretrained weights from a hub use `zoo.load_encoder`.
        input_size: square input size in pixels; defaults to the spec's.
        trainable: initial `trainable` flag of the whole encoder.

    The model carries its spec (`zoo.encoder_info(model).spec`; no release: random or file weights).

    Examples:
        >>> enc = zoo.build_encoder("mobilenet-face", input_size=64)
        >>> enc.output_shape
        (None, 2, 2, 576)
    """
    import keras

    from zoo.layers import Rescale

    spec: EncoderSpec = get_spec(name_or_spec)
    size = int(input_size or spec.input_size)
    if size < 32 or size % 32 and spec.feature_stride >= 32:
        raise InputError(f"input_size for {spec.name!r} must be a multiple of 32 and at least 32. "
                         f"Received: input_size={size}")
    family = get_family(spec.family)
    inputs = keras.Input((size, size, spec.channels), name="face")
    mean, std = NORMALIZATIONS[spec.normalization]
    x = Rescale(mean, std, name="normalize")(inputs)
    features = family.builder(spec, x)
    model = keras.Model(inputs, features, name=spec.name.replace("-", "_"))
    if weights is not None:
        model.load_weights(weights)
    model.trainable = trainable
    return attach_info(model, EncoderInfo(spec=spec))
