"""What a published encoder's `facezoo.json` says about it, assembled in one place, and the library's way
to publish a run folder.

`encoder_facts(model)` reads the facts the model carries (`zoo.EncoderInfo`: spec, normalisation,
alignment) and its I/O shapes; `hub.publish` asks for them through `EncoderInfo.release_facts`, so even a
bare `hub.publish(zoo.build_encoder(...), ...)` records the spec and `load_encoder` can rebuild it at
another size. `encoder_metadata` adds what a training job knows (corpus, training, metrics, parent):
the quickstart and `facezoo pretrain` both publish through it. `publish_encoder` turns a run folder
into its encoder on this side (the hub knows nothing of runs), then calls `hub.publish`.

Time-to-quality evidence enters only when the caller passes it (`zoo.bench.evidence.evidence_metadata`);
this module reads no benchmark results, so a wheel and a checkout publish the same release.
"""
from __future__ import annotations

import datetime
import os
from pathlib import Path

__all__ = ["encoder_facts", "encoder_metadata", "publish_encoder"]


def encoder_facts(encoder, info=None) -> dict:
    """The release facts an encoder vouches for (`EncoderInfo.release_facts`): input size, feature shape,
    parameters and, when it carries an `EncoderInfo` with a spec (or `info` is given), the spec at the
    model's own input size, its normalisation and alignment template."""
    from zoo.spec import EncoderInfo, encoder_info

    info = info if info is not None else (encoder_info(encoder) or EncoderInfo())
    return info.release_facts(encoder)


def encoder_metadata(encoder, *, corpus: dict, training: dict, metrics: dict | None = None, info=None,
                     parent: str | None = None, evidence: dict | None = None) -> dict:
    """Metadata for `hub.publish`: the encoder's facts (`encoder_facts`, from its `EncoderInfo` or `info`),
    corpus summary, training facts, measured metrics.

    Numbers in `metrics` must come from a real run; only finite numbers are kept, and the card renders
    them as model-index results. `corpus` is a summary (name, split, counts, content hash), never a
    local path. `evidence` (from `zoo.bench.evidence.evidence_metadata(path)`) enters only when passed.
    """
    import math

    import keras

    kept = {k: v for k, v in dict(metrics or {}).items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)}
    return {
        **encoder_facts(encoder, info),
        "corpus": corpus,
        "training": {**training, "keras_version": keras.__version__, "backend": keras.backend.backend(),
                     "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")},
        "metrics": kept,
        "parent": parent,
        **({"evidence": evidence} if evidence else {}),
    }


def publish_encoder(source, repo_id: str, **kwargs):
    """`hub.publish` for anything facezoo makes: a model, a `.keras` file, a Keras folder, or a run folder
    (a pretraining run's encoder, or a swap run's encoder taken out of its model, `zoo.runs.run_encoder`).

    The keywords are `hub.publish`'s (card, tag, hub, metadata, message). Returns the `hub.Release`.
    """
    import hub as hublib
    from hub.constants import CONFIG_FILE
    from zoo.runs import run_encoder

    if isinstance(source, (str, os.PathLike)):
        path = Path(source).expanduser()
        if path.is_dir() and not (path / CONFIG_FILE).is_file():
            found = run_encoder(path)
            if found is not None:
                source = found
                kwargs["metadata"] = {**_run_spec_facts(path), **(kwargs.get("metadata") or {})}
    return hublib.publish(source, repo_id, **kwargs)


def _run_spec_facts(run_dir: Path) -> dict:
    """The spec facts a pretraining run recorded (`meta["encoder_info"]`) for its `encoder.keras`, which
    as a file carries none; {} for other runs (a swap run's encoder is a model that carries its own)."""
    from zoo.runs import STATE, read_state
    from zoo.spec import EncoderInfo

    if not (run_dir / STATE).is_file():
        return {}
    state = read_state(run_dir)
    info = EncoderInfo.from_dict((state.get("meta") or {}).get("encoder_info"))
    spec = info.spec if info else None
    if spec is None:
        return {}
    size = int((state.get("config") or {}).get("size") or spec.input_size)
    spec = spec.replace(input_size=size)
    return {"spec": spec.to_dict(), "normalization": spec.normalization, "alignment_template": spec.alignment}
