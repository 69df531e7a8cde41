"""The catalogue card of an entry, generated from its rows (spec, family, presets): no hand-written card
to drift from the registry. `facezoo encoders show NAME --card` prints it.

A release's own card (what `hub.publish` writes next to the weights) is `hub.cards.render_card`; this
one describes the catalogue entry and lists its weight presets with their scores and sha256s.
"""
from __future__ import annotations

from zoo.presets import SCORE_LABELS


def _yaml_list(values) -> str:
    return "\n".join(f"- {v}" for v in values)


def catalogue_card(name: str) -> str:
    """Markdown card of the catalogue entry `name` (or of the entry a preset `ENTRY.TAG` belongs to)."""
    from zoo.registry import get_family, get_preset, get_spec, presets_of

    preset = get_preset(name)
    entry = preset.entry if preset is not None and name == preset.name else name
    spec = get_spec(entry)
    family = get_family(spec.family)
    presets = presets_of(entry)
    tags = ["keras", "facezoo", "face-encoder", "face-swap", spec.family, *spec.tags]
    tags = list(dict.fromkeys(tags))
    cells = spec.feature_shape()
    lines = [
        "---", "library_name: keras", f"license: {spec.license}", "pipeline_tag: image-feature-extraction",
        "tags:", _yaml_list(tags), "---", "",
        f"# `{spec.name}`: {spec.description}", "",
        "Catalogue card of a facezoo encoder, generated from the registry's rows (`zoo.catalogue_card`).", "",
        "## Facts", "",
        f"- **Architecture:** {family.about or spec.family}",
        f"- **Family:** {spec.family}",
        f"- **Variant:** {spec.variant}",
        f"- **Input size:** {spec.input_size} px by default ("
        + ("any multiple of 32" if spec.feature_stride >= 32 else "any size") + " from 32 px)",
        f"- **Feature map at {spec.input_size} px:** {cells[0]}×{cells[1]}×{cells[2]} (stride {spec.feature_stride})",
        f"- **Normalisation:** {spec.normalization} (applied inside the model; feed RGB float32 in [0, 1])",
        f"- **Alignment:** {spec.alignment}",
        f"- **License:** {spec.license}",
        "- **Limitations:** not a face-recognition model: do not use it to identify people.",
        "", "## Weight presets", "",
    ]
    if presets:
        lines += ["| preset | default | trained on | input | " + " | ".join(SCORE_LABELS) + " | release |",
                  "|---|---|---|---|" + "---|" * len(SCORE_LABELS) + "---|"]
        for p in presets:
            scores = " | ".join(f"{p.scores[k]:.1%}" if k in p.scores else "-" for k in SCORE_LABELS)
            lines.append(f"| `{p.name}` | {'yes' if p.default else ''} | {p.corpus} | {p.input_size} px | "
                         f"{scores} | {p.repo_id}@{p.revision} |")
        lines += ["", "Scores: " + "; ".join(f"`{k}`: {v}" for k, v in SCORE_LABELS.items()) + ".", ""]
        for p in presets:
            lines.append(f"`{p.name}` pins every file of its release (checked before Keras reads a byte):")
            lines.append("")
            lines += [f"- `{f}` {h}" for f, h in sorted(p.sha256.items())]
            if p.command:
                lines += ["", f"Made with `{p.command}`."]
            lines.append("")
    else:
        lines += ["No weight preset: `zoo.load_encoder` loads the hub's latest release of "
                  f"`{spec.repo_id}`; publish one with `facezoo pretrain --encoder {spec.name} ... "
                  f"--publish {spec.repo_id}`.", ""]
    default = next((p for p in presets if p.default), None)
    lines += ["## Use", "", "```python", "import zoo"]
    if default is not None:
        lines.append(f'encoder = zoo.load_encoder("{spec.name}")        # preset {default.name}, shipped, sha256-verified')
    else:
        lines.append(f'encoder = zoo.load_encoder("{spec.name}")        # latest release on the hub, sha256-verified')
    lines += [f'encoder = zoo.build_encoder("{spec.name}")       # random initialisation', "```", ""]
    return "\n".join(lines)
