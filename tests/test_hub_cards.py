"""Model cards: one static card per catalogue entry, facts readable, numbers only from real metrics."""
from __future__ import annotations

import sys

import pytest

from hub.cards import card_facts, list_cards, render_card


def test_every_catalogue_entry_has_a_card_with_facts():
    zoo = pytest.importorskip("zoo")
    from zoo.encoders import BUILTIN_SPECS

    names = [spec.name for spec in BUILTIN_SPECS]  # not list_encoders(): other tests register their own
    assert set(names) <= set(zoo.list_encoders())
    assert set(names) <= set(list_cards())
    for name in names:
        facts = card_facts(name)
        spec = zoo.get_spec(name)
        assert facts["family"] == spec.family and facts["variant"] == spec.variant
        assert facts["license"] == spec.license and facts["architecture"]
        assert facts["normalisation"].startswith(spec.normalization)
    assert card_facts("no-such-encoder") == {}


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
