"""Model cards: render a release's card from `hub/templates/card.md`.

A published card's YAML header (`library_name: keras`, license, tags, datasets, base_model, and a
`model-index` only when the run measured metrics) is built with `huggingface_hub.ModelCardData`, so the
Hub indexes it. Numbers in a card come only from `metadata["metrics"]` of a real run, and from
`metadata["evidence"]` when the caller passed time-to-quality results (in a section of their own);
the catalogue's cards are generated from the registry's rows (`zoo.catalogue_card`).
"""
from __future__ import annotations

from pathlib import Path

from fzcore.errors import InputError, MissingFileError
from fzcore.formats import ALIGNMENT_TEMPLATE

# The release card template (`hub/templates/card.md`) is package data, so a wheel renders the same as
# a checkout.
TEMPLATE = Path(__file__).resolve().parent / "templates" / "card.md"


def _flat(value) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}={_flat(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return ", ".join(_flat(v) for v in value)
    return str(value)


def _metric_rows(metrics) -> dict:
    """{name: value} for measured numeric metrics; accepts {name: number} or {name: {"value": n, ...}}."""
    rows = {}
    for key, value in (metrics or {}).items():
        if isinstance(value, dict):
            value = value.get("value")
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        rows[str(key)] = value
    return rows


def card_data(repo_id: str, metadata: dict):
    """The `ModelCardData` (YAML header) of a release."""
    from huggingface_hub import EvalResult, ModelCardData

    spec = metadata.get("spec") or {}
    corpus = metadata.get("corpus") or {}
    tags = ["keras", "facezoo", "face-encoder", "face-swap"]
    for tag in [spec.get("family"), *spec.get("tags", ())]:
        if tag and tag not in tags:
            tags.append(str(tag))
    datasets = corpus.get("datasets") or corpus.get("name")
    if isinstance(datasets, str):
        datasets = [datasets]
    metrics = _metric_rows(metadata.get("metrics"))
    model_name = repo_id.split("/")[-1]
    eval_results = [
        EvalResult(task_type="image-feature-extraction", dataset_type=(datasets or ["facezoo-eval"])[0],
                   dataset_name=str(corpus.get("name") or (datasets or ["facezoo-eval"])[0]),
                   metric_type=key, metric_value=value)
        for key, value in metrics.items()] or None
    return ModelCardData(
        library_name="keras", license=spec.get("license") or metadata.get("license") or "apache-2.0",
        tags=tags, datasets=datasets or None, base_model=metadata.get("parent") or None,
        pipeline_tag="image-feature-extraction", model_name=model_name if eval_results else None,
        eval_results=eval_results)


def render_card(repo_id: str, metadata: dict | None = None, template_path=None) -> str:
    """Render the markdown card of a release from the template and the release metadata."""
    from huggingface_hub import ModelCard

    metadata = dict(metadata or {})
    spec = metadata.get("spec") or {}
    input_size = metadata.get("input_size") or spec.get("input_size") or "?"
    facts = {}
    for key, label in (("family", "Family"), ("variant", "Variant"), ("name", "Catalogue entry")):
        if spec.get(key):
            facts[label] = spec[key]
    facts["Input size"] = f"{input_size} px"
    if spec.get("feature_stride") and isinstance(input_size, int):
        cells = max(1, -(-input_size // spec["feature_stride"]))
        facts["Feature map"] = f"{cells}×{cells}×{spec.get('feature_channels', '?')}"
    facts["Normalisation"] = metadata.get("normalization") or spec.get("normalization") or "unit"
    facts["Alignment"] = metadata.get("alignment_template") or spec.get("alignment") or ALIGNMENT_TEMPLATE
    facts["License"] = spec.get("license") or metadata.get("license") or "apache-2.0"
    corpus = metadata.get("corpus") or {}
    if isinstance(corpus, str):
        corpus = {"summary": corpus}
    evidence = metadata.get("evidence") if isinstance(metadata.get("evidence"), dict) else {}
    path = Path(template_path) if template_path else TEMPLATE
    if not path.is_file():
        if template_path:
            raise MissingFileError(f"Model card template {path} does not exist; pass an existing .md file.")
        raise RuntimeError(f"facezoo's card template {path} is missing: the install is incomplete (reinstall it).")
    card = ModelCard.from_template(
        card_data(repo_id, metadata), template_path=str(path),
        title=f"{repo_id.split('/')[-1]}", repo_id=repo_id,
        description=spec.get("description") or metadata.get("description") or "A facezoo face encoder.",
        facts={k: _flat(v) for k, v in facts.items()},
        input_size=input_size, normalization=facts["Normalisation"], alignment=facts["Alignment"],
        corpus={k: _flat(v) for k, v in corpus.items()},
        training={k: _flat(v) for k, v in (metadata.get("training") or {}).items()},
        metrics=_metric_rows(metadata.get("metrics")), parent=metadata.get("parent"),
        evidence=evidence)
    return str(card)


def card_text(card, repo_id: str, metadata: dict) -> str:
    """The README.md text for `card`: None (render), a markdown str, or a `huggingface_hub.ModelCard`."""
    if card is None:
        return render_card(repo_id, metadata)
    if isinstance(card, str):
        return card
    if hasattr(card, "content"):
        return str(card.content)
    raise InputError(f"card must be None, a markdown str or a huggingface_hub.ModelCard. "
                     f"Received: {type(card).__name__}")
