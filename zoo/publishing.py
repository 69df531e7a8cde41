"""What a published encoder's `facezoo.json` says about it, assembled in one place."""
from __future__ import annotations

import datetime

RESULTS_JSON = "benchmarks/results/time_to_quality.json"


def evidence_metadata(path) -> dict:
    """The time-to-quality evidence for a card, read from the results file at `path`: the benchmark's
    per-arm metrics, the file they come from and the command that reproduces them; {} when the file
    does not exist.

    Only a caller that has a results file passes one: release metadata never looks for
    `benchmarks/results/` beside the source, so a wheel and a checkout publish the same release.
    These numbers describe facezoo's staged-unfreezing recipe as measured by the benchmark, not the
    weights of the release they are attached to, so cards show them in their own section and never in
    the release's `model-index`.
    """
    from pathlib import Path

    from zoo import evidence

    path = Path(path)
    if not path.exists():
        return {}
    records = evidence.load_records(path)
    cfg = records[0].get("config", {})
    source = RESULTS_JSON if path.as_posix().endswith(RESULTS_JSON) else path.name
    return {"benchmark": "time-to-quality", "source": source, "command": evidence.reproduce_command(records),
            "setup": f"{cfg.get('encoder')} at {cfg.get('size')} px, {cfg.get('steps')} steps, "
                     f"{len({r['seed'] for r in records})} seeds",
            "threshold": f"{records[0].get('threshold_fraction', 0.95):.0%} of the scratch arm's SSIM gain "
                         "(step 0 to its last step), per seed",
            "arms": evidence.card_rows(records), "verdict": evidence.verdict(records),
            "metrics": evidence.card_metrics(records)}


def encoder_metadata(encoder, spec_name: str, *, corpus: dict, training: dict, metrics: dict | None = None,
                     parent: str | None = None, evidence: dict | None = None) -> dict:
    """Metadata for `hub.publish`: spec, I/O contract, corpus summary, training facts, measured metrics.

    Numbers in `metrics` must come from a real run; the card renders them as model-index results.
    `evidence` (from `evidence_metadata(path)`) enters the metadata only when passed.
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
