"""Model cards: catalogue cards generated from the registry's rows, release cards with numbers only from
real metrics."""
from __future__ import annotations

import sys

import pytest

from hub.cards import render_card

BUILTINS = ["effnet-face-v2", "effnet-face-v1", "convnext-face", "resnet-face", "mobilenet-face", "fs-original"]


def test_every_catalogue_card_is_generated_from_its_rows():
    zoo = pytest.importorskip("zoo")
    from zoo.catalogue_card import catalogue_card
    from zoo.registry import get_family
    from zoo.errors import UnknownEncoderError

    for name in BUILTINS:
        card, spec = catalogue_card(name), zoo.get_spec(name)
        for fact in (f"**Family:** {spec.family}", f"**Variant:** {spec.variant}", f"**License:** {spec.license}",
                     f"**Normalisation:** {spec.normalization}", spec.description, get_family(spec.family).about):
            assert fact in card, (name, fact)
    with_preset = catalogue_card("mobilenet-face")
    assert "| `mobilenet-face.lfw-v1` | yes |" in with_preset and "61.5%" in with_preset
    assert "89ba915f6094ec330d04a92f8048f25cf3fb5f636266bcae0b173409a85a635f" in with_preset
    assert catalogue_card("mobilenet-face.lfw-v1") == with_preset
    assert "No weight preset" in catalogue_card("effnet-face-v2")
    with pytest.raises(UnknownEncoderError):
        catalogue_card("no-such-encoder")


def test_rendered_card_has_keras_yaml_and_metrics_only_when_measured():
    from huggingface_hub import ModelCard
    spec = {"name": "mobilenet-face", "family": "mobilenetv3", "variant": "small", "input_size": 64,
            "feature_stride": 32, "feature_channels": 576, "license": "apache-2.0", "tags": ["mobilenet"]}
    plain = ModelCard(render_card("team/enc", {"spec": spec, "input_size": 64}))
    assert plain.data.library_name == "keras" and "mobilenetv3" in plain.data.tags
    assert not plain.data.eval_results and "No measured metrics" in plain.text
    measured = ModelCard(render_card("team/enc", {"spec": spec, "metrics": {"val_loss": 0.125, "note": "x"},
                                                  "parent": "facezoo/mobilenet-face",
                                                  "corpus": {"name": "synthetic", "identities": 1000}}))
    assert [r.metric_value for r in measured.data.eval_results] == [0.125]
    assert measured.data.base_model == "facezoo/mobilenet-face" and "2×2×576" in measured.text


def test_import_hub_is_light():
    import subprocess
    code = ("import sys, hub, hub.cards, hub.local, hub.manifest; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('keras', 'tensorflow', 'huggingface_hub')))")
    from test_hub_support import ROOT, subprocess_env
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=subprocess_env(), capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == "[]"
