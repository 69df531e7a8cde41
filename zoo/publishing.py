"""What a published encoder's `facezoo.json` says about it, assembled in one place.

Time-to-quality evidence enters only when the caller passes it (`zoo.bench.evidence.evidence_metadata`);
this module reads no benchmark results, so a wheel and a checkout publish the same release.
"""
from __future__ import annotations

import datetime

def encoder_metadata(encoder, spec_name: str, *, corpus: dict, training: dict, metrics: dict | None = None,
                     parent: str | None = None, evidence: dict | None = None) -> dict:
    """Metadata for `hub.publish`: spec, I/O contract, corpus summary, training facts, measured metrics.

    Numbers in `metrics` must come from a real run; the card renders them as model-index results.
    `evidence` (from `zoo.bench.evidence.evidence_metadata(path)`) enters the metadata only when passed.
    """
    import keras

    from zoo.registry import get_spec

    spec = get_spec(spec_name)
    size = int(encoder.input_shape[1])
    return {
        "spec": spec.to_dict(),
        "input_size": size,
        "feature_shape": [int(d) for d in encoder.output_shape[1:]],
        "normalization": spec.normalization,
        "input_range": [0.0, 1.0],
        "alignment_template": spec.alignment,
        "corpus": corpus,
        "training": {**training, "keras_version": keras.__version__, "backend": keras.backend.backend(),
                     "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")},
        "metrics": dict(metrics or {}),
        "parent": parent,
        "parameters": int(encoder.count_params()),
        **({"evidence": evidence} if evidence else {}),
    }
