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
    # (the bare "mobilenet-face" loads its shipped preset, tests/test_presets.py; @revision asks the hub)
    for ref in ("mobilenet-face@main", "mobilenet-face@v1", f"mobilenet-face@{release.revision}",
                "facezoo/mobilenet-face"):
        loaded = zoo.load_encoder(ref, hub=local)
        np.testing.assert_array_equal(loaded.predict(_faces(), verbose=0), encoder.predict(_faces(), verbose=0))
        assert not loaded.trainable
        assert zoo.encoder_info(loaded).preset is None
    assert zoo.load_encoder("facezoo/mobilenet-face", hub=local, trainable=True).trainable


def test_tampered_weights_are_refused(tmp_path, encoder):
    local = tmp_path / "hub"
    release = hub.publish(encoder, "facezoo/mobilenet-face", hub=str(local))
    blob = next(p for p in local.rglob("*") if p.is_file() and p.name == release.files["model.weights.h5"])
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0xFF
    blob.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="sha256"):
        zoo.load_encoder("mobilenet-face@main", hub=str(local))


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


def test_loaded_encoder_carries_its_spec_and_release(tmp_path, encoder):
    local = str(tmp_path / "hub")
    release = hub.publish(encoder, "facezoo/mobilenet-face", hub=local, tag="v1",
                          metadata={"spec": zoo.get_spec("mobilenet-face").to_dict()})
    info = zoo.encoder_info(zoo.load_encoder("mobilenet-face@v1", hub=local))
    assert (info.repo_id, info.revision) == ("facezoo/mobilenet-face", release.revision)
    assert info.spec.family == "mobilenetv3" and info.manifest["files"]["model.weights.h5"]["sha256"] == \
        release.files["model.weights.h5"]
    assert zoo.encoder_info(zoo.build_encoder("fs-original", input_size=32)).spec.name == "fs-original"


def test_a_published_zoo_encoder_keeps_its_spec_and_trains_at_another_size(tmp_path):
    """Bug: `hub.publish(zoo.build_encoder(...))` wrote no spec, so the loaded encoder carried none and
    `facezoo train --encoder team/enc --size 64` failed ("carries no facezoo spec")."""
    from zoo.training import train_pair

    local = str(tmp_path / "hub")
    enc = zoo.build_encoder("mobilenet-face", weights=None, input_size=32)
    hub.publish(enc, "team/enc", hub=local)
    info = zoo.encoder_info(zoo.load_encoder("team/enc", hub=local))
    assert info.spec is not None and (info.spec.name, info.spec.input_size) == ("mobilenet-face", 32)
    assert info.manifest["normalization"] == info.spec.normalization
    assert info.manifest["alignment_template"] == info.spec.alignment
    assert info.manifest["feature_shape"] == list(enc.output_shape[1:])
    trainer = train_pair(encoder="team/enc", hub=local, folders={"a": "unused", "b": "unused"},
                         run_dir=tmp_path / "run", schedule="frozen", size=64, dataset=_Pairs(),
                         decoder_width=16, build_only=True)
    assert trainer.model.input_size == 64
    assert zoo.encoder_info(trainer.model.encoder).spec.family == "mobilenetv3"


class _Pairs:
    def __getitem__(self, i):
        x = tuple(np.random.default_rng(i).random((2, 32, 32, 3), dtype=np.float32) for _ in range(2))
        return x, tuple(np.concatenate([a, np.ones(a.shape[:3] + (1,), np.float32)], -1) for a in x)


def test_training_resolves_the_encoder_once_and_takes_a_home_folder(tmp_path, monkeypatch, encoder):
    """Bug: the trainer resolved the release a second time after load_encoder (a second pull that could
    see another `main`), and `--encoder ~/dir` failed in that second resolve."""
    from hub.local import LocalHub
    from zoo.training import train_pair

    class CountingHub(LocalHub):  # the real local hub, counting how often it is pulled from
        pulls = 0

        def pull(self, repo_id, revision=None):
            CountingHub.pulls += 1
            return super().pull(repo_id, revision)

    counting = CountingHub(tmp_path / "hub")
    release = hub.publish(encoder, "facezoo/mobilenet-face", hub=counting,
                          metadata={"spec": zoo.get_spec("mobilenet-face").to_dict()})
    kwargs = dict(folders={"a": "unused", "b": "unused"}, run_dir=tmp_path / "run", schedule="frozen; top2@4",
                  size=32, dataset=_Pairs(), decoder_width=16, build_only=True)
    trainer = train_pair(encoder="facezoo/mobilenet-face", hub=counting, **kwargs)
    assert CountingHub.pulls == 1
    assert trainer.meta["encoder"]["revision"] == release.revision
    assert zoo.encoder_info(trainer.model.encoder).revision == release.revision
    from zoo.training import prepare_encoder  # a loaded model passed in: its release is read off it
    assert prepare_encoder(trainer.model.encoder, size=32)[1]["revision"] == release.revision
    assert CountingHub.pulls == 1

    home = tmp_path / "home"
    snap = hub.pull("facezoo/mobilenet-face", hub=counting)
    (home / "enc").mkdir(parents=True)
    for f in Path(snap.path).iterdir():
        (home / "enc" / f.name).write_bytes(f.read_bytes())
    monkeypatch.setenv("HOME", str(home))
    resized = train_pair(encoder="~/enc", **{**kwargs, "size": 64, "run_dir": tmp_path / "run2"})
    assert resized.meta["encoder"]["path"] == str(home / "enc")
    assert resized.model.input_size == 64
    assert zoo.encoder_info(resized.model.encoder).spec.family == "mobilenetv3"


def test_local_folder_without_manifest_or_with_extra_files_is_refused(tmp_path, encoder):
    """Bug: a folder without facezoo.json loaded unverified, and extra files went unnoticed."""
    import keras

    plain = tmp_path / "plain"
    keras.saving.save_model(encoder, str(plain), zipped=False)
    with pytest.raises(IntegrityError, match="no facezoo.json"):
        zoo.load_encoder(str(plain))
    local = str(tmp_path / "hub")
    hub.publish(encoder, "facezoo/mobilenet-face", hub=local)
    copy = tmp_path / "copy"
    copy.mkdir()
    for f in Path(hub.pull("facezoo/mobilenet-face", hub=local).path).iterdir():
        (copy / f.name).write_bytes(f.read_bytes())
    (copy / "extra.py").write_text("print('not listed')\n")
    with pytest.raises(IntegrityError, match="extra.py"):
        zoo.load_encoder(str(copy))
