"""The encoder a swap run starts from, at the run's input size: loaded (its release resolved once, by
`load_encoder`), built from scratch, or an encoder model passed in; `resize_encoder` rebuilds one at
another size from the spec it carries. A reference string is parsed once, here (`zoo.refs.EncoderRef`),
and the parsed object goes down to `load_encoder` or the builder.
"""
from __future__ import annotations

from zoo.errors import InputError

__all__ = ["prepare_encoder", "resize_encoder"]


def prepare_encoder(encoder, *, size: int, pretrained: bool = True, hub=None):
    """An encoder at `size`: loaded from a hub or a path (resized if needed) or built from scratch.

    `encoder` is a reference (a string, parsed once here, or an `EncoderRef` parsed by the caller) or an
    encoder model. The release is resolved once, by `load_encoder`; what it resolved travels on the model
    (`zoo.encoder_info`) and is read from there. Returns (encoder, info) where info records what was
    loaded, for state.json and cards.
    """
    from zoo.builder import build_encoder
    from zoo.loading import load_encoder
    from zoo.refs import EncoderRef
    from zoo.spec import encoder_info

    if not isinstance(encoder, (str, EncoderRef)):
        source = encoder_info(encoder)
        info = {"ref": encoder.name, "pretrained": None}
        if source is not None and source.repo_id:  # a model from load_encoder: record its release
            info.update(repo_id=source.repo_id, revision=source.revision)
        return encoder, info
    ref = EncoderRef.parse(encoder)
    if not pretrained:
        if not ref.registered:
            raise InputError(f"--encoder-weights none builds a registry architecture; {ref.text!r} is not one.")
        return build_encoder(ref.spec, input_size=size), {"ref": ref.text, "pretrained": False}
    model = load_encoder(ref, hub=hub, trainable=True)
    source = encoder_info(model)
    info = {"ref": ref.text, "pretrained": True}
    if source.repo_id:
        info.update(repo_id=source.repo_id, revision=source.revision)
    if source.path:
        info.update(path=source.path)
    if source.preset:
        info.update(preset=source.preset)
    if int(model.input_shape[1]) != size:
        model = resize_encoder(model, size)
    return model, info


def resize_encoder(model, size: int):
    """Rebuild an encoder at another input size and copy its weights (convolutional backbones).

    The architecture comes from the spec the encoder carries; the copy carries the same spec and
    release (its weights are the release's).
    """
    from zoo.builder import build_encoder
    from zoo.spec import attach_info, encoder_info

    info = encoder_info(model)
    if info is None or info.spec is None:
        raise InputError(f"Encoder {model.name!r} carries no facezoo spec, so it cannot be rebuilt at {size} px. "
                         f"Train at --size {model.input_shape[1]}, or load it with zoo.load_encoder.")
    fresh = build_encoder(info.spec, input_size=size)
    try:
        fresh.set_weights(model.get_weights())
    except ValueError as exc:
        raise InputError(f"Encoder {info.spec.name!r} was trained at {model.input_shape[1]} px and its weights "
                         f"do not fit {size} px ({exc}). Train at --size {model.input_shape[1]}.") from None
    fresh.trainable = model.trainable
    return attach_info(fresh, info)
