"""Keras interop (`keras.saving.load_model("hf://...")` against `facezoo hub serve`) and the CLI recipes."""
from __future__ import annotations

import subprocess
import sys

import hub
from recipes.cli import main as cli
from test_hub_support import ROOT, TOKEN, subprocess_env


def test_plain_keras_loads_a_release_from_the_server(served, tiny_keras, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    hub.publish(tiny_keras, "team/interop", tag="v1", hub=served.url)
    code = ("import keras, numpy as np; m = keras.saving.load_model('hf://team/interop'); "
            "print(m.predict(np.zeros((1, 16, 16, 3), 'float32'), verbose=0).shape)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=180,
                         env=subprocess_env(HF_ENDPOINT=served.url, HF_TOKEN=TOKEN, HF_HOME=tmp_path / "hf"))
    assert out.returncode == 0, out.stderr[-3000:]
    assert "(1, 4, 4, 8)" in out.stdout


def test_publish_and_pull_recipes(tiny_keras, tmp_path, capsys, isolated_home):
    import keras
    keras_dir = tmp_path / "kdir"
    keras.saving.save_model(keras.saving.load_model(tiny_keras), keras_dir, zipped=False)
    where = str(tmp_path / "hubdir")
    assert cli(["publish", str(tiny_keras), "team/cli", "--tag", "v1", "--hub", where]) == 0
    assert cli(["publish", str(keras_dir), "team/cli", "--tag", "v2", "--hub", where, "-m", "from a dir"]) == 0
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "encoder.keras").write_bytes(tiny_keras.read_bytes())
    assert cli(["publish", str(run_dir), "team/cli", "--tag", "v3", "--hub", where]) == 0
    capsys.readouterr()
    assert cli(["pull", "team/cli@v2", "--hub", where]) == 0
    out = capsys.readouterr().out
    commit = dict(hub.list_releases("team/cli", hub=where))["v2"]
    assert commit in out and "path:" in out
    assert cli(["hub", "releases", "team/cli", "--hub", where]) == 0
    assert "v3" in capsys.readouterr().out
    assert cli(["pull", "team/missing@v1", "--hub", where]) == 2
    assert "team/missing" in capsys.readouterr().err
    assert cli(["publish", str(tmp_path / "nothing.keras"), "team/cli", "--hub", where]) == 2


def test_publish_recipe_attaches_time_to_quality_evidence(tiny_keras, tmp_path, capsys, isolated_home, ttq_records):
    import json

    from zoo.bench import evidence
    results = evidence.write_results(ttq_records(), tmp_path / "results" / "time_to_quality")["json"]
    where = str(tmp_path / "hubdir")
    assert cli(["publish", str(tiny_keras), "team/ev", "--tag", "v1", "--hub", where,
                "--evidence", str(results)]) == 0
    snap = hub.pull("team/ev", "v1", hub=where)
    card = (snap.path / "README.md").read_text()
    assert "## Does staged unfreezing pay?" in card and "| staged-steps | 2/2 |" in card
    assert snap.manifest["evidence"]["arms"][0]["arm"] == "scratch"
    assert cli(["publish", str(tiny_keras), "team/ev", "--tag", "v2", "--hub", where, "--evidence", "none"]) == 0
    assert "Does staged unfreezing pay?" not in (hub.pull("team/ev", "v2", hub=where).path / "README.md").read_text()
    capsys.readouterr()
    assert cli(["publish", str(tiny_keras), "team/ev", "--tag", "v3", "--hub", where,
                "--evidence", str(tmp_path / "missing.json")]) == 2
    assert "missing.json" in capsys.readouterr().err
    assert [t for t, _ in hub.list_releases("team/ev", hub=where)] == ["v1", "v2"]
