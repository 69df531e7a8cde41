"""zoo.load_encoder over the local hub: round trip, pins, tampering, unsafe files, not-published help."""
import json
from pathlib import Path

import numpy as np
import pytest

import hub
import zoo
from zoo.errors import IntegrityError, NotPublishedError, UnsafeModelError


@pytest.fixture(scope="module")
def encoder():
    return zoo.build_encoder("mobilenet-face", input_size=32)


def _faces(n=3, size=32):
    return np.random.default_rng(1).random((n, size, size, 3), dtype=np.float32)


def test_save_publish_pull_load_round_trip(tmp_path, encoder):
    local = str(tmp_path / "hub")
    release = hub.publish(encoder, "facezoo/mobilenet-face", hub=local, tag="v1",
                          metadata={"spec": zoo.get_spec("mobilenet-face").to_dict()})
    for ref in ("mobilenet-face", "mobilenet-face@v1", f"mobilenet-face@{release.revision}",
                "facezoo/mobilenet-face"):
        loaded = zoo.load_encoder(ref, hub=local)
        np.testing.assert_array_equal(loaded.predict(_faces(), verbose=0), encoder.predict(_faces(), verbose=0))
        assert not loaded.trainable
    assert zoo.load_encoder("mobilenet-face", hub=local, trainable=True).trainable


def test_tampered_weights_are_refused(tmp_path, encoder):
    local = tmp_path / "hub"
    release = hub.publish(encoder, "facezoo/mobilenet-face", hub=str(local))
    blob = next(p for p in local.rglob("*") if p.is_file() and p.name == release.files["model.weights.h5"])
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0xFF
    blob.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="sha256"):
        zoo.load_encoder("mobilenet-face", hub=str(local))


def test_registry_pin_mismatch_is_refused(tmp_path, encoder):
    local = str(tmp_path / "hub")
    release = hub.publish(encoder, "facezoo/pinned-enc", hub=local)
    spec = zoo.get_spec("mobilenet-face").replace(name="pinned-enc", repo_id="facezoo/pinned-enc",
                                                    sha256={"model.weights.h5": "0" * 64})
    zoo.register(spec, overwrite=True)
    with pytest.raises(IntegrityError, match="registry pins"):
        zoo.load_encoder("pinned-enc", hub=local)
    zoo.register(spec.replace(sha256={"model.weights.h5": release.files["model.weights.h5"]}), overwrite=True)
    assert zoo.load_encoder("pinned-enc", hub=local).name == encoder.name


def test_not_published_says_how_to_get_it(tmp_path):
    with pytest.raises(NotPublishedError) as info:
        zoo.load_encoder("convnext-face", hub=str(tmp_path / "empty-hub"))
    text = str(info.value)
    assert "facezoo pretrain" in text and "--publish facezoo/convnext-face" in text and "FACEZOO_HUB" in text


def test_lambda_layer_is_refused(tmp_path):
    import keras

    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Lambda(lambda x: x * 2)(inputs))
    path = tmp_path / "lambda.keras"
    model.save(path)
    with pytest.raises(UnsafeModelError, match="safe_mode"):
        zoo.load_encoder(str(path))


def test_local_folder_is_verified(tmp_path, encoder):
    local = str(tmp_path / "hub")
    hub.publish(encoder, "facezoo/mobilenet-face", hub=local)
    snap = hub.pull("facezoo/mobilenet-face", hub=local)
    copy = tmp_path / "copy"
    copy.mkdir()
    for f in Path(snap.path).iterdir():
        (copy / f.name).write_bytes(f.read_bytes())
    assert zoo.load_encoder(str(copy)).name == encoder.name
    manifest = json.loads((copy / "facezoo.json").read_text())
    manifest["files"]["model.weights.h5"]["sha256"] = "f" * 64
    (copy / "facezoo.json").write_text(json.dumps(manifest))
    with pytest.raises(IntegrityError):
        zoo.load_encoder(str(copy))
