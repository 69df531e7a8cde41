"""The identity objective of `facezoo pretrain --identity-loss arcface[:weight=W,margin=M,scale=S]`.

Why: reconstruction through a per-identity code never asks the encoder to carry identity (the decoder gets
it from the code; `benchmarks/identity_scaling.py --objective classify` shows the difference), so the
zoo's pretrained encoders barely tell people apart. Face-recognition encoders are trained to name each
face's person; ArcFace's additive angular margin (Deng et al., 2019) is the common form of that: an
L2-normalised embedding (a Dense projection of the encoder's pooled features), one normalised weight
vector per training identity (`zoo.layers.ArcMargin`), logits `scale * cos(theta)` with the margin added
to the true class's angle, sparse cross-entropy, weighted by W beside the reconstruction loss. The
head (projection and class vectors) is not part of the published encoder (`zoo.pretrain.model`).

It needs labelled identities: a corpus whose identities are people (folder:, celeba:, lfw:, tar: with
labels, synthetic:), not flat:/utkface: folders, which are one identity ("all"); a run with fewer than two
training identities is refused. `--min-photos K`
keeps only identities with at least K photos in training (a class of one photo teaches little and costs
a class vector; `Corpus.sampler(min_photos=K)`); held-out identities are unaffected.
"""
from __future__ import annotations

from zoo.errors import InputError

__all__ = ["IDENTITY_DIM", "IDENTITY_LOSSES", "identity_card", "parse_identity_loss"]

IDENTITY_DIM = 128               # the embedding the class vectors are compared with
IDENTITY_LOSSES = ("none", "arcface")
_FORMS = "none or arcface[:weight=W,margin=M,scale=S] (e.g. --identity-loss arcface:weight=0.1,margin=0.5,scale=30)"


def parse_identity_loss(spec: str | None) -> dict:
    """'none' -> {"identity_weight": 0.0}; 'arcface' -> weight 1, margin 0.5, scale 30;
    'arcface:weight=0.1,margin=0.3,scale=64' -> those. The keys are `PretrainConfig`'s fields."""
    text = (spec or "none").strip()
    name, _, rest = text.partition(":")
    if name == "none" and not rest:
        return {"identity_weight": 0.0}
    if name != "arcface":
        raise InputError(f"--identity-loss {text!r}: unknown identity loss {name!r}; expected {_FORMS}.")
    keys = {"weight": "identity_weight", "margin": "arcface_margin", "scale": "arcface_scale"}
    out = {"identity_weight": 1.0, "arcface_margin": 0.5, "arcface_scale": 30.0}
    for part in filter(None, rest.split(",")):
        key, eq, value = part.partition("=")
        try:
            if key not in keys or not eq:
                raise ValueError
            out[keys[key]] = float(value)
        except ValueError:
            raise InputError(f"--identity-loss {text!r}: cannot read {part!r}; expected {_FORMS}.") from None
    if not out["identity_weight"] > 0:
        raise InputError(f"--identity-loss {text!r}: the weight must be > 0 (or use --identity-loss none).")
    if not 0 <= out["arcface_margin"] < 1.6 or not out["arcface_scale"] > 0:
        raise InputError(f"--identity-loss {text!r}: the margin must be in [0, 1.6) radians and the scale > 0.")
    return out


def identity_card(config) -> dict | None:
    """What a release's metadata and RUN/pretrain.json say of the identity objective (None: off)."""
    if not config.identity_weight > 0:
        return None
    return {"loss": "arcface (additive angular margin), sparse cross-entropy on a head not in the release",
            "weight": float(config.identity_weight), "margin": float(config.arcface_margin),
            "scale": float(config.arcface_scale), "embedding_dim": IDENTITY_DIM,
            "min_photos": int(config.min_photos)}
