"""The pretraining model: shared encoder + bottleneck ("inter") + an identity head, and what it costs.

Heads ("bank": one decoder per identity, at most `MAX_BANK`; "conditioned": one decoder modulated by a
learned per-identity code through `zoo.layers.CodeFiLM`: `zoo.decoders.build_decoder` with `code_dim`)
are described in `zoo.pretrain`. Importing this module loads no Keras. `find_encoder` gets
the nested encoder back (what is published); `memory_per_identity` counts the bytes one identity costs.
"""
from __future__ import annotations

import numpy as np

from zoo.errors import InputError

__all__ = ["HEADS", "MAX_BANK", "build_conditioned_decoder", "build_pretrain_model", "find_encoder",
           "memory_per_identity", "register_layers"]

HEADS = ("bank", "conditioned")
MAX_BANK = 64


def register_layers():
    """Register the pretraining model's custom layers (`zoo.layers.CodeFiLM`, `SelectByIdentity`) with
    Keras, so its checkpoints load; imports Keras, which importing this module does not."""
    import zoo.layers  # noqa: F401


def build_conditioned_decoder(feature_shape, output_size: int, code_dim: int, *, width: int = 128,
                              film_scales: int = 3, residual_blocks: int = 1, min_filters: int = 32,
                              name: str = "decoder"):
    """One shared decoder (features, code) -> (S, S, 4): `zoo.decoders.build_decoder` with a FiLM code."""
    from zoo.decoders import build_decoder

    return build_decoder(feature_shape, output_size, width=width, residual_blocks=residual_blocks,
                         min_filters=min_filters, code_dim=code_dim, film_scales=film_scales, name=name)


def build_pretrain_model(encoder, num_identities: int, *, heads: str = "conditioned", size: int | None = None,
                         code_dim: int = 64, film_scales: int = 3, decoder_width: int = 128,
                         inter: str = "dense", inter_channels: int = 128, bottleneck: int = 256,
                         teacher_dim: int = 0, identity_dim: int = 0, arcface_margin: float = 0.5,
                         arcface_scale: float = 30.0, name: str = "pretrain_model"):
    """The pretraining model: shared encoder + inter + identity head.

    Inputs {"face": (B, S, S, 3), "identity": (B, 1) int32}; output (B, S, S, 4) RGB + mask.
    With `teacher_dim` > 0 (distillation, `zoo.distil`) the outputs are {"reconstruction": that,
    "teacher": (B, teacher_dim)}: a projection head (Dense-ReLU-Dense) on the encoder's global-average-
    pooled features, the features `zoo.verification` scores; the head is not part of the encoder.
    With `identity_dim` > 0 (the identity objective, `zoo.pretrain.identity`) the outputs are a dict with
    "identity": (B, num_identities) ArcFace logits (`zoo.layers.ArcMargin`, margin on the class of the
    "identity" input) of an L2-normalised `identity_dim` projection of the same pooled features; again a
    head outside the encoder.
    The encoder is the nested layer `model.get_layer(encoder.name)` (what gets published).
    """
    import keras
    from keras import layers

    from zoo.decoders import build_decoder, build_inter
    from zoo.layers import ArcMargin, SelectByIdentity

    if heads not in HEADS:
        raise InputError(f"heads must be one of {', '.join(HEADS)}. Received: heads={heads!r}")
    n = int(num_identities)
    if n < 1:
        raise InputError(f"num_identities must be >= 1. Received: {num_identities}")
    if heads == "bank" and n > MAX_BANK:
        raise InputError(f"heads='bank' builds one decoder per identity; {n} identities is too many "
                         f"(max {MAX_BANK}). Use heads='conditioned' for many identities.")
    size = int(size or encoder.input_shape[1])
    face = keras.Input((size, size, 3), name="face")
    identity = keras.Input((1,), dtype="int32", name="identity")
    feature_shape = tuple(encoder.output_shape[1:])
    inter_model, inter_shape = build_inter(feature_shape, inter, channels=inter_channels, bottleneck=bottleneck,
                                           name="inter")
    features = encoder(face)
    z = inter_model(features)
    if heads == "conditioned":
        code = layers.Embedding(n, code_dim, embeddings_initializer=keras.initializers.RandomNormal(0.0, 1.0),
                                name="identity_code")(identity)
        code = layers.Reshape((code_dim,), name="identity_code_flat")(code)
        decoder = build_conditioned_decoder(inter_shape, size, code_dim, width=decoder_width,
                                            film_scales=film_scales, name="decoder")
        out = decoder([z, code])
    else:
        outs = [build_decoder(inter_shape, size, width=decoder_width, name=f"decoder_{i}")(z) for i in range(n)]
        out = outs[0] if n == 1 else SelectByIdentity(name="select")(outs, identity)
    if teacher_dim:
        pooled = layers.GlobalAveragePooling2D(name="teacher_pool")(encoder(face))
        hidden = layers.Dense(256, activation="relu", name="teacher_hidden")(pooled)
        out = {"reconstruction": out, "teacher": layers.Dense(int(teacher_dim), name="teacher_projection")(hidden)}
    if identity_dim:
        pooled = layers.GlobalAveragePooling2D(name="identity_pool")(features)
        embedding = layers.UnitNormalization(name="identity_embedding")(
            layers.Dense(int(identity_dim), name="identity_projection")(pooled))
        logits = ArcMargin(n, margin=arcface_margin, scale=arcface_scale, dtype="float32",
                           name="arcface")(embedding, identity)
        out = {**(out if isinstance(out, dict) else {"reconstruction": out}), "identity": logits}
    model = keras.Model({"face": face, "identity": identity}, out, name=name)
    return model


def find_encoder(model):
    """The nested encoder of a pretraining model (the first nested model that takes the face)."""
    for layer in model.layers:
        if hasattr(layer, "layers") and layer.name not in ("inter",) and not layer.name.startswith("decoder"):
            return layer
    raise InputError(f"model {model.name!r} has no nested encoder")


def memory_per_identity(model, optimizer=None) -> dict:
    """Bytes each identity costs: its parameter rows and the optimizer slots of those rows.

    Computed from the model: per-identity parameters are the rows of variables whose first dimension is
    the identity count (the code embedding; for "bank" heads, a whole decoder), plus an identity head's
    class vector (`zoo.layers.ArcMargin`, one column per identity). Slots: the optimizer's
    variables of the same shape (AdamW: 2), counted from `optimizer` when built, else assumed 2.
    """
    emb = [layer for layer in model.layers if layer.name == "identity_code"]
    if emb:
        n = int(emb[0].input_dim)
        per_vars = [v for v in emb[0].weights]
    else:
        decs = [layer for layer in model.layers if layer.name.startswith("decoder_")]
        n = len(decs)
        per_vars = list(decs[0].weights) if decs else []
    params = sum(int(np.prod(v.shape)) for v in per_vars) // (n if emb else 1)
    arc = [layer for layer in model.layers if layer.name == "arcface"]
    if arc:
        params += sum(int(np.prod(v.shape)) for v in arc[0].weights) // int(arc[0].units)
        per_vars = per_vars + list(arc[0].weights)
    dtype_bytes = 4
    slots = 2
    if optimizer is not None and getattr(optimizer, "built", False):
        shapes = {tuple(v.shape) for v in per_vars}
        inner = getattr(optimizer, "inner_optimizer", optimizer)
        matching = [v for v in inner.variables if tuple(v.shape) in shapes]
        slots = len(matching) // max(1, len(per_vars))
    param_bytes = params * dtype_bytes
    return {"identities": n, "params_per_identity": params, "param_bytes": param_bytes,
            "optimizer_slots": slots, "slot_bytes": param_bytes * slots,
            "total_bytes": param_bytes * (1 + slots),
            "shared_params": int(model.count_params()) - params * n}
