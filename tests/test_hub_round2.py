"""Issue 29 (hub, round two) findings outside the hostile-endpoint suite: R2 (hex-like ref names), W1/W2 (a
folder in the working directory never shadows a release), and issue 31's missing-tag message."""
from __future__ import annotations

import os
import shutil

import pytest

import hub
import zoo
from hub.local import LocalHub
from test_hub_support import TOKEN


@pytest.mark.parametrize("name", ["A" * 40, "a" * 39, "b" * 41, "1234567", "deadbeef0123", "F" * 64,
                                  "AbC1234"])
def test_r2_hex_like_branch_and_tag_names_are_refused(name, tmp_path, tiny_keras, isolated_home):
    root = tmp_path / "hubdir"
    rel = hub.publish(tiny_keras, "team/enc", tag="v1", hub=str(root))
    local = LocalHub(root)
    with pytest.raises(ValueError, match="7-64"):
        local.create_branch("team/enc", name, revision=rel.revision)
    with pytest.raises(ValueError, match="7-64"):
        local.create_tag("team/enc", name, revision=rel.revision)
    assert set(local.refs("team/enc")["heads"]) == {"main"}


def test_r2_short_or_non_hex_names_are_still_fine(tmp_path, tiny_keras, isolated_home):
    root = tmp_path / "hubdir"
    rel = hub.publish(tiny_keras, "team/enc", tag="v1", hub=str(root))
    local = LocalHub(root)
    for name in ("abcdef", "v1234567", "release-deadbeef", "g" * 40):
        local.create_branch("team/enc", name, revision=rel.revision)


def test_r2_a_commit_prefix_branch_is_refused_through_the_server(served, tiny_keras, isolated_home, monkeypatch):
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    rel = hub.publish(tiny_keras, "team/r2", tag="v1", hub=served.url)
    api = HfApi(endpoint=served.url, token=TOKEN)
    for name in (rel.revision.upper(), rel.revision[:7], rel.revision[:12], rel.revision[:39]):
        with pytest.raises(HfHubHTTPError):
            api.create_branch("team/r2", branch=name, revision=rel.revision)
        with pytest.raises(HfHubHTTPError):
            api.create_tag("team/r2", tag=name, revision=rel.revision)
    assert {b.name for b in api.list_repo_refs("team/r2").branches} == {"main"}


def test_w1_w2_a_folder_in_the_working_directory_never_shadows_a_release(tmp_path, tiny_keras, isolated_home,
                                                                        monkeypatch):
    root = tmp_path / "hubdir"
    real = hub.publish(tiny_keras, "team/enc", tag="v1", hub=str(root))
    # an attacker's (or a stale) release folder named like the repository and like a catalogue entry
    other = hub.publish(tiny_keras, "evil/enc", hub=str(root), metadata={"evil": True})
    snap = hub.pull("evil/enc", other.revision, hub=str(root))
    work = tmp_path / "work"
    shutil.copytree(snap.path, work / "team" / "enc")
    shutil.copytree(snap.path, work / "effnet-face-v2")
    monkeypatch.chdir(work)
    model = zoo.load_encoder("team/enc", hub=str(root))
    info = zoo.encoder_info(model)
    assert info.repo_id == "team/enc" and info.revision == real.revision and "evil" not in info.manifest
    with pytest.raises(zoo.errors.NotPublishedError):      # the registry name goes to the hub, not the folder
        zoo.load_encoder("effnet-face-v2", hub=str(tmp_path / "empty-hub"))
    # explicit spellings of the same folder are paths
    from pathlib import Path
    for explicit in ("./team/enc", Path("team/enc"), str(work / "team" / "enc")):
        assert zoo.encoder_info(zoo.load_encoder(explicit)).manifest.get("evil") is True


def test_w1_only_explicit_spellings_are_paths():
    from pathlib import Path
    from zoo.loading import _is_path
    for ref in ("./x", "../x", "/x", "~/x", "x.keras", "dir/x.keras", Path("x")):
        assert _is_path(ref), ref
    for ref in ("team/enc", "effnet-face-v2", "effnet-face-v2@v1", "team/enc@main"):
        assert not _is_path(ref), ref


def test_issue31_a_missing_tag_of_an_existing_repo_names_the_tags(tmp_path, tiny_keras, isolated_home):
    root = str(tmp_path / "hubdir")
    hub.publish(tiny_keras, zoo.get_spec("effnet-face-v2").repo_id, tag="v1", hub=root)
    with pytest.raises(hub.RevisionNotFoundError) as info:
        zoo.load_encoder("effnet-face-v2@v9", hub=root)
    text = str(info.value)
    assert "v9" in text and "v1" in text and "main" in text and "facezoo pretrain" not in text


def test_issue31_a_missing_tag_on_a_served_hub_names_the_tags(served, tiny_keras, isolated_home, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    hub.publish(tiny_keras, "team/tags31", tag="v1", hub=served.url)
    with pytest.raises(hub.RevisionNotFoundError) as info:
        zoo.load_encoder("team/tags31@v9", hub=served.url)
    text = str(info.value)
    assert "v9" in text and "Releases: v1" in text and "branches: main" in text


def _edited_release(tmp_path, tiny_keras, label, mutate):
    import json
    import keras
    from hub.manifest import build_manifest, write_manifest
    folder = tmp_path / label
    keras.saving.save_model(keras.saving.load_model(tiny_keras), folder, zipped=False)
    config = json.loads((folder / "config.json").read_text())
    mutate(config["config"]["layers"][1])
    (folder / "config.json").write_text(json.dumps(config))
    write_manifest(folder, build_manifest(folder))          # the manifest vouches for the edited files
    return folder


@pytest.mark.parametrize("label, mutate", [
    ("unknown-keras-class", lambda layer: layer.update({"module": "keras.layers", "class_name": "NoSuchLayer",
                                                        "registered_name": None})),
    ("bad-keras-argument", lambda layer: layer["config"].update({"padding": "sideways"})),
    ("keras-prefixed-module", lambda layer: layer.update({"module": "keras_evil_pkg", "class_name": "Evil",
                                                          "registered_name": None})),
    ("huge-layer", lambda layer: layer["config"].update({"filters": 10 ** 9})),
])
def test_low_hostile_keras_configs_are_unsafe_model_errors(label, mutate, tmp_path, tiny_keras, isolated_home):
    from zoo.errors import FacezooError, UnsafeModelError
    folder = _edited_release(tmp_path, tiny_keras, label, mutate)
    with pytest.raises(UnsafeModelError):
        zoo.load_encoder(str(folder))
    if label in ("keras-prefixed-module", "huge-layer"):     # refused by the pre-check, before Keras runs
        with pytest.raises(FacezooError):
            hub.publish(str(folder), "team/hostile", hub=str(tmp_path / "hubdir"))


def test_low_module_allow_list_matches_whole_names():
    from hub.staging import oversized_config_entries, unsafe_config_entries
    assert unsafe_config_entries({"module": "keras_evil_pkg", "class_name": "X"})
    assert unsafe_config_entries({"module": "zoology", "class_name": "X"})
    assert not unsafe_config_entries({"module": "keras.layers", "class_name": "Dense"})
    assert not unsafe_config_entries({"module": "zoo.layers", "class_name": "Rescale"})
    assert oversized_config_entries({"config": {"units": 10 ** 6}})
    assert not oversized_config_entries({"config": {"units": 512, "kernel_size": [3, 3],
                                                    "batch_shape": [None, 224, 224, 3], "target_shape": [-1, 8]}})


def test_low_every_catalogue_encoder_is_within_the_size_bounds(tmp_path):
    """Every registry architecture at the sizes users train at, as saved (the .keras config holds the
    tensors' shapes too: fs-original's flattened 4x4x1024 = 16384 at 64 px was once refused on load)."""
    import json
    import zipfile

    from hub.staging import oversized_config_entries
    from zoo.registry import list_encoders
    for name in list_encoders(presets=False):
        for size in (64,) if name == "fs-original" else (64, 128):     # faceswap's original is 64 px only
            model = zoo.build_encoder(name, input_size=size)
            assert oversized_config_entries(model.get_config()) == [], (name, size)
            if size == 64:
                path = tmp_path / f"{name}.keras"
                model.save(path)
                with zipfile.ZipFile(path) as z:
                    assert oversized_config_entries(json.loads(z.read("config.json"))) == [], name


def test_issue31_a_local_pull_links_the_verified_blobs_instead_of_copying(tmp_path, tiny_keras, isolated_home):
    root = tmp_path / "hubdir"
    rel = hub.publish(tiny_keras, "team/once", tag="v1", hub=str(root))
    snap = hub.pull("team/once", "v1", hub=str(root))
    for name, sha in rel.files.items():
        cached = snap.path / name
        blob = root / "models/team/once/objects" / sha
        if name in ("README.md",) and not cached.exists():
            continue
        assert cached.stat().st_ino == blob.stat().st_ino, name   # one copy on this machine
    # a tampered blob is still caught through the link, and never returned on a second try
    blob = root / "models/team/once/objects" / rel.files["model.weights.h5"]
    import shutil
    shutil.rmtree(snap.path)
    data = bytearray(blob.read_bytes())
    data[-3] ^= 0xFF
    os.chmod(blob, 0o644)
    blob.write_bytes(bytes(data))
    with pytest.raises(hub.IntegrityError):
        hub.pull("team/once", "v1", hub=str(root))
    with pytest.raises(hub.IntegrityError):
        hub.pull("team/once", "v1", hub=str(root))


def test_issue28_the_served_hub_is_one_session_fixture_from_conftest():
    """Imported into each test module, the session fixture was one `facezoo hub serve` (~600 MB) per module."""
    import ast
    from pathlib import Path
    tests = Path(__file__).parent
    for path in tests.glob("test_*.py"):
        if path.name == "test_hub_support.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.asname or a.name for a in node.names] if isinstance(node, ast.ImportFrom) else []
            names += [node.name] if isinstance(node, ast.FunctionDef) else []
            assert not {"served", "tiny_keras"} & set(names), f"{path.name} rebinds a session hub fixture"
    conftest = (tests / "conftest.py").read_text()
    assert "from test_hub_support import served, tiny_keras" in conftest


def test_r2_a_hex_like_ref_left_by_an_older_facezoo_is_never_followed(tmp_path, tiny_keras, isolated_home):
    import json
    root = tmp_path / "hubdir"
    first = hub.publish(tiny_keras, "team/old", tag="v1", hub=str(root))
    second = hub.publish(tiny_keras, "team/old", hub=str(root), metadata={"evil": True})
    refs_path = root / "models/team/old/refs.json"
    refs = json.loads(refs_path.read_text())
    refs["heads"][first.revision[:12]] = second.revision        # a branch named like first's short id
    refs["heads"][first.revision.upper()] = second.revision
    refs_path.write_text(json.dumps(refs))
    for name in (first.revision[:12], first.revision.upper()):
        with pytest.raises(hub.RevisionNotFoundError):
            hub.pull("team/old", name, hub=str(root))
    assert hub.pull("team/old", "v1", hub=str(root)).revision == first.revision
