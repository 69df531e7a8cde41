"""A wheel is the same program as the checkout: a release published from `pip install .` in a fresh
virtualenv, outside the source tree, has the same card and `facezoo.json` as one published from the
checkout (bug: the wheel had no card template and the checkout added the committed benchmark results),
whether published by the library or by a whole `facezoo quickstart`; and the wheel ships the weight
presets, so `zoo.load_encoder("mobilenet-face")` loads offline on a fresh install (no quickstart, no hub).

Slow (one wheel build and virtualenv for the module; two tiny quickstarts): a few minutes.
"""
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# Publishes a seeded tiny encoder with the library's one metadata builder, prints what the hub holds.
PUBLISH = """
import json, sys
import keras
keras.utils.set_random_seed(0)
import hub, zoo
from zoo.publishing import encoder_metadata

encoder = zoo.build_encoder("mobilenet-face", input_size=32)
metadata = encoder_metadata(encoder, corpus={"name": "facezoo synthetic faces", "identities": 4},
                            training={"recipe": "wheel test", "steps": 0}, metrics={"final_train_loss": 0.5})
hub.publish(encoder, "team/wheel", hub=sys.argv[1], tag="v1", metadata=metadata)
snap = hub.pull("team/wheel", "v1", hub=sys.argv[1])
from zoo.catalogue_card import catalogue_card
print(json.dumps({"zoo": zoo.__file__, "card": (snap.path / "README.md").read_text(), "manifest": snap.manifest,
                  "facts": catalogue_card("mobilenet-face")}))
"""
_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:[+-]\d\d:\d\d|Z)?")


def _normalized(out: str) -> tuple[str, dict, str]:
    data = json.loads(out.strip().splitlines()[-1])
    manifest = data["manifest"]
    manifest.pop("created")
    manifest["training"].pop("date")
    # Keras' metadata.json records the save time, so file hashes differ run to run; the names must not.
    manifest["files"] = sorted(manifest["files"])
    # the catalogue card (`facezoo encoders show --card`) is generated from the rows: compared via the card text
    return _TIME.sub("TIME", data["card"]) + json.dumps(data["facts"], sort_keys=True), manifest, data["zoo"]


def _run(python, script, hub_dir, cwd, env):
    out = subprocess.run([str(python), str(script), str(hub_dir)], cwd=cwd, env=env, capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    return _normalized(out.stdout)


def _env():
    import os

    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    return env


@pytest.fixture(scope="module")
def wheel_python(tmp_path_factory):
    """A virtualenv with facezoo installed from a wheel built from this checkout's files: its python."""
    tmp_path = tmp_path_factory.mktemp("wheel")
    if shutil.which("git") and (REPO / ".git").exists():
        listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO, capture_output=True,
                                text=True, check=True).stdout.splitlines()
    else:  # not a clone: copy the tree
        listed = [p.relative_to(REPO).as_posix() for p in REPO.rglob("*") if p.is_file()
                  and not {".git", "build", "dist", "__pycache__"} & set(p.relative_to(REPO).parts)]
    src = tmp_path / "src"
    for rel in listed:
        if (REPO / rel).is_file():
            (src / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / rel, src / rel)
    env = _env()
    subprocess.run([sys.executable, "-m", "pip", "wheel", ".", "-w", str(tmp_path / "dist"), "--no-deps",
                    "--no-build-isolation", "-q"], cwd=src, env=env, check=True, capture_output=True, timeout=600)
    wheel = next((tmp_path / "dist").glob("facezoo-*.whl"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True, timeout=300)
    python = venv / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--ignore-installed",
                    str(wheel)], env=env, check=True, capture_output=True, timeout=600)
    return python


@pytest.mark.slow
def test_wheel_publishes_the_same_release_as_the_checkout(tmp_path, wheel_python):
    env = _env()
    script = tmp_path / "publish.py"
    script.write_text(PUBLISH)
    outside = tmp_path / "elsewhere"
    outside.mkdir()

    card_w, manifest_w, where_w = _run(wheel_python, script, tmp_path / "hub-wheel", outside, env)
    assert Path(where_w).is_relative_to(wheel_python.parent.parent), f"the wheel's zoo was not imported: {where_w}"
    card_c, manifest_c, where_c = _run(sys.executable, script, tmp_path / "hub-checkout", REPO,
                                       {**env, "PYTHONPATH": str(REPO)})
    assert Path(where_c).is_relative_to(REPO)
    assert manifest_w == manifest_c
    assert card_w == card_c
    assert "## Use" in card_w and 'zoo.load_encoder("team/wheel")' in card_w
    assert "mobilenet-face.lfw-v1" in card_w, "the catalogue card lacks the entry's preset"
    assert "evidence" not in manifest_w, "release metadata must not pick up benchmark results by itself"


# After a tiny quickstart: what its hub holds for the encoder release it published.
PULLED = """
import json, sys
import hub, zoo
snap = hub.pull("facezoo/mobilenet-face", "v1", hub=sys.argv[1])
print(json.dumps({"zoo": zoo.__file__, "card": (snap.path / "README.md").read_text(), "manifest": snap.manifest,
                  "facts": {}}))
"""
_FLOAT = re.compile(r"\d+\.\d{4,}")


def _close(a, b, path="manifest"):
    """Equal JSON but for the values of floats (losses: two training processes on a multi-threaded CPU
    differ by up to a percent after a few steps); every key, string, int and float's place must match."""
    if isinstance(a, float) and isinstance(b, float):
        return
    elif isinstance(a, dict) and isinstance(b, dict):
        assert sorted(a) == sorted(b), (path, sorted(set(a) ^ set(b)))
        for k in a:
            _close(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list) and isinstance(b, list):
        assert len(a) == len(b), path
        for i, (u, v) in enumerate(zip(a, b)):
            _close(u, v, f"{path}[{i}]")
    else:
        assert a == b, (path, a, b)


def _quickstart_release(python, cwd, env, out: Path) -> tuple[str, dict, str]:
    quick = ["-m", "recipes.cli", "quickstart", "--out", str(out / "qs"), "--hub", str(out / "hub"),
             "--encoder", "mobilenet-face", "--identities", "4", "--images", "4", "--pretrain-steps", "2",
             "--steps", "3", "--quiet"]
    env = {**env, "FACEZOO_HOME": str(out / "home"), "KERAS_HOME": str(out / "keras")}
    ran = subprocess.run([str(python), *quick], cwd=cwd, env=env, capture_output=True, text=True, timeout=1800)
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-3000:]
    script = out / "pulled.py"
    script.write_text(PULLED)
    return _run(python, script, out / "hub", cwd, env)


@pytest.mark.slow
def test_wheel_quickstart_publishes_the_same_release_as_the_checkout(tmp_path, wheel_python):
    """`facezoo quickstart` from the wheel, outside the source tree, and from the checkout: the encoder
    releases they publish have the same card and `facezoo.json` (times, file hashes and loss values aside)."""
    env = _env()
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    card_w, manifest_w, where_w = _quickstart_release(wheel_python, outside, env, tmp_path / "wheel")
    assert Path(where_w).is_relative_to(wheel_python.parent.parent), f"the wheel's zoo was not imported: {where_w}"
    card_c, manifest_c, where_c = _quickstart_release(sys.executable, REPO, {**env, "PYTHONPATH": str(REPO)},
                                                      tmp_path / "checkout")
    assert Path(where_c).is_relative_to(REPO)
    _close(manifest_w, manifest_c)
    assert _FLOAT.sub("FLOAT", card_w) == _FLOAT.sub("FLOAT", card_c)
    assert manifest_w["training"]["recipe"].startswith("facezoo quickstart")
    assert "evidence" not in manifest_w and "evidence" not in manifest_c


# Loads the default preset with nothing but the install: empty homes, a hub that cannot be reached.
PRESET = """
import json, sys
import numpy as np
import zoo
encoder = zoo.load_encoder("mobilenet-face")
info = zoo.encoder_info(encoder)
x = np.random.default_rng(0).random((2, 64, 64, 3), dtype=np.float32)
print(json.dumps({"zoo": zoo.__file__, "preset": info.preset, "path": info.path, "input": encoder.input_shape[1],
                  "features": encoder.predict(x, verbose=0).ravel()[:64].tolist()}))
"""


def _load_preset(python, cwd, env, home: Path) -> dict:
    env = {**env, "FACEZOO_HOME": str(home / "facezoo"), "HF_HOME": str(home / "hf"), "KERAS_HOME": str(home / "keras"),
           "FACEZOO_HUB": "http://127.0.0.1:9", "HF_HUB_OFFLINE": "1"}
    out = subprocess.run([str(python), "-c", PRESET], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    listed = subprocess.run([str(python), "-m", "recipes.cli", "encoders", "list", "mobilenet-*"], cwd=cwd, env=env,
                            capture_output=True, text=True, timeout=300)
    assert listed.returncode == 0, listed.stderr[-3000:]
    data = json.loads(out.stdout.strip().splitlines()[-1])
    data["list"] = listed.stdout
    assert not any(p for p in (home / "facezoo").rglob("*") if p.is_file()), "loading a preset wrote to FACEZOO_HOME"
    return data


@pytest.mark.slow
def test_wheel_loads_the_default_preset_offline(tmp_path, wheel_python):
    """A fresh wheel install loads `mobilenet-face`'s shipped preset with no quickstart and no hub, from the
    wheel's own files, with the same outputs as the checkout."""
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    wheel = _load_preset(wheel_python, outside, _env(), tmp_path / "wheel-home")
    assert Path(wheel["zoo"]).is_relative_to(wheel_python.parent.parent), wheel["zoo"]
    assert Path(wheel["path"]).is_relative_to(wheel_python.parent.parent), f"preset not from the wheel: {wheel['path']}"
    assert wheel["preset"] == "mobilenet-face.lfw-v1" and wheel["input"] == 64
    assert re.search(r"mobilenet-face\.lfw-v1 .* 61\.5%", wheel["list"]), wheel["list"]
    checkout = _load_preset(sys.executable, REPO, {**_env(), "PYTHONPATH": str(REPO)}, tmp_path / "checkout-home")
    assert Path(checkout["path"]).is_relative_to(REPO)
    assert wheel["features"] == pytest.approx(checkout["features"], abs=1e-5)
