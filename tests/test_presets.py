"""Weight presets: `zoo.load_encoder("mobilenet-face")` loads the shipped, pinned preset with no hub and empty
homes; a preset's files are checked against the row's sha256s before Keras reads a byte; a preset not shipped
is pulled at its pinned revision; `name@revision` still asks the hub."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import hub
import zoo
from zoo.errors import IntegrityError, InputError, NotPublishedError, UnknownEncoderError
from zoo.presets import PACKAGE_DIR, Preset
from zoo.registry import default_preset, get_preset, register_preset, unregister_preset

SHIPPED = PACKAGE_DIR / "mobilenet-face.lfw-v1"
UNREACHABLE_HUB = "http://127.0.0.1:9"   # nothing listens: any hub call would fail


def _faces(n=2, size=64):
    return np.random.default_rng(0).random((n, size, size, 3), dtype=np.float32)


@pytest.fixture
def no_hub(isolated_home, monkeypatch):
    monkeypatch.setenv("FACEZOO_HUB", UNREACHABLE_HUB)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return isolated_home


@pytest.fixture
def keras_reads(monkeypatch):
    """The paths Keras was asked to load (the real loader still runs)."""
    import keras

    calls, real = [], keras.saving.load_model

    def spy(path, *args, **kwargs):
        calls.append(str(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(keras.saving, "load_model", spy)
    return calls


@pytest.fixture
def test_preset(tmp_path):
    """A copy of the shipped preset registered as `mobilenet-face.copy-test` (an absolute `files` folder)."""
    folder = tmp_path / "copy"
    shutil.copytree(SHIPPED, folder)
    preset = register_preset(get_preset("mobilenet-face.lfw-v1").replace(
        name="mobilenet-face.copy-test", files=str(folder), default=False), overwrite=True)
    yield preset
    unregister_preset(preset.name)


def _flip(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def test_default_preset_loads_with_empty_homes_and_no_hub(no_hub, keras_reads):
    encoder = zoo.load_encoder("mobilenet-face")
    info = zoo.encoder_info(encoder)
    assert info.preset == "mobilenet-face.lfw-v1" and Path(info.path) == SHIPPED
    assert info.spec.family == "mobilenetv3" and encoder.input_shape[1] == 64 and not encoder.trainable
    assert info.manifest["files"]["model.weights.h5"]["sha256"] == \
        get_preset("mobilenet-face.lfw-v1").sha256["model.weights.h5"]
    assert keras_reads == [str(SHIPPED)]
    named = zoo.load_encoder("mobilenet-face.lfw-v1", trainable=True)
    assert named.trainable
    np.testing.assert_array_equal(named.predict(_faces(), verbose=0), encoder.predict(_faces(), verbose=0))
    assert not any(p.is_file() for p in (no_hub / "facezoo").rglob("*")), "a preset load wrote to FACEZOO_HOME"
    # a random encoder differs: the weights are the release's
    random = zoo.build_encoder("mobilenet-face", input_size=64)
    assert not np.allclose(random.predict(_faces(), verbose=0), encoder.predict(_faces(), verbose=0))


@pytest.mark.parametrize("victim", ["model.weights.h5", "README.md"])
def test_corrupted_preset_file_is_refused_before_keras_reads_it(no_hub, keras_reads, test_preset, victim):
    _flip(Path(test_preset.files) / victim)
    with pytest.raises(IntegrityError, match=rf"{victim}.*preset pins"):
        zoo.load_encoder(test_preset.name)
    assert keras_reads == []


def test_preset_rows_pin_the_manifest_too(no_hub, keras_reads, test_preset):
    """Weights swapped and `facezoo.json` rewritten to match (the folder's own check passes): the row refuses."""
    folder = Path(test_preset.files)
    _flip(folder / "model.weights.h5")
    from zoo.io import sha256_file
    manifest = json.loads((folder / "facezoo.json").read_text())
    manifest["files"]["model.weights.h5"]["sha256"] = sha256_file(folder / "model.weights.h5")
    (folder / "facezoo.json").write_text(json.dumps(manifest))
    from hub.manifest import verify_folder
    verify_folder(folder, label="rewritten copy")   # consistent with itself
    with pytest.raises(IntegrityError, match="preset pins"):
        zoo.load_encoder(test_preset.name)
    assert keras_reads == []


def test_extra_or_missing_preset_file_is_refused(no_hub, keras_reads, test_preset):
    folder = Path(test_preset.files)
    (folder / "extra.py").write_text("print('hi')\n")
    with pytest.raises(IntegrityError, match="extra.py"):
        zoo.load_encoder(test_preset.name)
    (folder / "extra.py").unlink()
    (folder / "README.md").unlink()
    with pytest.raises(IntegrityError, match="missing"):
        zoo.load_encoder(test_preset.name)
    assert keras_reads == []


def test_preset_not_shipped_is_pulled_at_its_pinned_revision(isolated_home):
    """A row with no shipped folder pulls its repo at its revision and checks the files against the row."""
    local = str(isolated_home / "hub")
    release = hub.publish(SHIPPED, "team/mobilenet-face", hub=local, tag="t1")
    snap = hub.pull("team/mobilenet-face", "t1", hub=local)
    from zoo.io import sha256_file
    pins = {p.name: sha256_file(p) for p in Path(snap.path).iterdir() if p.is_file()}
    preset = register_preset(Preset(name="mobilenet-face.pulled-test", repo_id="team/mobilenet-face",
                                    revision="t1", sha256=pins, corpus="test", input_size=64), overwrite=True)
    try:
        info = zoo.encoder_info(zoo.load_encoder(preset.name, hub=local))
        assert (info.repo_id, info.revision, info.preset) == ("team/mobilenet-face", release.revision, preset.name)
        register_preset(preset.replace(sha256={**pins, "model.weights.h5": "0" * 64}), overwrite=True)
        with pytest.raises(IntegrityError, match="preset pins"):
            zoo.load_encoder(preset.name, hub=local)
    finally:
        unregister_preset(preset.name)


def test_preset_neither_shipped_nor_on_the_hub_says_what_to_do(isolated_home):
    preset = register_preset(get_preset("mobilenet-face.lfw-v1").replace(name="mobilenet-face.gone-test", files="",
                                                                          default=False), overwrite=True)
    try:
        with pytest.raises(NotPublishedError, match="not shipped with this install.*Reinstall facezoo"):
            zoo.load_encoder(preset.name, hub=str(isolated_home / "empty-hub"))
    finally:
        unregister_preset(preset.name)


def test_preset_names_and_rows():
    assert default_preset("mobilenet-face").name == "mobilenet-face.lfw-v1"
    assert default_preset("effnet-face-v2") is None and get_preset("effnet-face-v2") is None
    spec = zoo.get_spec("mobilenet-face.lfw-v1")
    assert (spec.name, spec.input_size, spec.revision) == ("mobilenet-face", 64, "lfw-v1")
    assert zoo.get_spec("mobilenet-face").sha256 == {}   # the entry is the architecture; the preset pins weights
    with pytest.raises(UnknownEncoderError, match="takes no @revision"):
        zoo.load_encoder("mobilenet-face.lfw-v1@v1")
    with pytest.raises(InputError, match="ENTRY.TAG"):
        Preset(name="no-tag", repo_id="x/y", revision="v1", sha256={"a": "0" * 64}, corpus="", input_size=64)
    with pytest.raises(InputError, match="not registered"):
        register_preset(Preset(name="nothing.v1", repo_id="x/y", revision="v1", sha256={"a": "0" * 64},
                               corpus="", input_size=64))
    # families without weights stay buildable, by entry or preset name
    assert zoo.build_encoder("mobilenet-face.lfw-v1", weights=None).input_shape[1] == 64
    assert zoo.encoder_info(zoo.build_encoder("effnet-face-v2", input_size=32)).preset is None


def test_releases_folder_points_at_the_shipped_preset():
    root = Path(__file__).resolve().parents[1]
    release = root / "releases" / "mobilenet-face-lfw-v1"
    if not release.exists():
        pytest.skip("no releases/ folder (not a checkout)")
    assert release.resolve() == SHIPPED.resolve()
