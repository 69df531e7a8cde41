"""The same publish/pull contract on both backends: the local hub, and `facezoo hub serve` through the
real `huggingface_hub` client."""
from __future__ import annotations

import json

import pytest

import hub
from hub.constants import MANIFEST_FILE, RELEASE_FILES
from test_hub_support import TOKEN


@pytest.fixture(params=["local", "served"])
def backend(request, tmp_path, monkeypatch, isolated_home):
    """(hub value, root directory of the hub on disk)."""
    if request.param == "local":
        root = tmp_path / "localhub"
        return str(root), root
    server = request.getfixturevalue("served")
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    return server.url, server.root


def _repo(request, name):
    return f"team/{name}-{request.node.callspec.id}"


def test_publish_then_pull_by_tag_branch_and_commit(backend, tiny_keras, request):
    where, _ = backend
    repo = _repo(request, "enc")
    meta = {"input_size": 16, "normalization": "unit", "metrics": {"val_loss": 0.25}, "parent": None,
            "corpus": {"name": "synthetic", "identities": 10}}
    rel = hub.publish(tiny_keras, repo, tag="v1", hub=where, metadata=meta)
    assert len(rel.revision) == 40 and rel.tag == "v1"
    assert set(RELEASE_FILES) <= set(rel.files)

    for revision in ("v1", None, rel.revision):
        snap = hub.pull(repo, revision, hub=where)
        assert snap.revision == rel.revision
        assert {p.name for p in snap.path.iterdir() if not p.name.startswith(".")} >= set(RELEASE_FILES)
        assert snap.manifest["input_size"] == 16 and snap.manifest["metrics"] == {"val_loss": 0.25}
        manifest = json.loads((snap.path / MANIFEST_FILE).read_text())
        assert set(manifest["files"]) == set(RELEASE_FILES) - {MANIFEST_FILE}
    assert "val_loss" in (snap.path / "README.md").read_text()

    import keras
    model = keras.saving.load_model(snap.path)
    assert model.output_shape == (None, 4, 4, 8)

    rel2 = hub.publish(tiny_keras, repo, tag="v2", hub=where, metadata={"input_size": 16, "parent": repo})
    assert rel2.revision != rel.revision
    assert hub.list_releases(repo, hub=where) == [("v1", rel.revision), ("v2", rel2.revision)]
    assert hub.pull(repo, hub=where).revision == rel2.revision           # main moved
    assert hub.pull(repo, "v1", hub=where).revision == rel.revision      # the old release is immutable


def test_existing_tag_is_refused_and_changes_nothing(backend, tiny_keras, request):
    where, _ = backend
    repo = _repo(request, "tagged")
    rel = hub.publish(tiny_keras, repo, tag="v1", hub=where)
    with pytest.raises(hub.ReleaseExistsError, match="v1"):
        hub.publish(tiny_keras, repo, tag="v1", hub=where, metadata={"other": True})
    assert hub.list_releases(repo, hub=where) == [("v1", rel.revision)]
    assert hub.pull(repo, hub=where).revision == rel.revision


def test_unknown_repo_and_revision_are_clear_errors(backend, tiny_keras, request):
    where, _ = backend
    with pytest.raises(hub.NotPublishedError, match="team/never-published"):
        hub.pull("team/never-published", "v1", hub=where)
    repo = _repo(request, "known")
    hub.publish(tiny_keras, repo, tag="v1", hub=where)
    with pytest.raises(hub.RevisionNotFoundError) as info:
        hub.pull(repo, "v404", hub=where)
    assert repo in str(info.value) and "v404" in str(info.value)


def test_tampered_file_on_the_hub_is_caught(backend, tiny_keras, request):
    where, root = backend
    repo = _repo(request, "tamper")
    rel = hub.publish(tiny_keras, repo, tag="v1", hub=where)
    blob = root / "models" / repo / "objects" / rel.files["model.weights.h5"]
    data = bytearray(blob.read_bytes())
    data[-10] ^= 0xFF
    blob.write_bytes(bytes(data))
    with pytest.raises(hub.IntegrityError) as info:
        hub.pull(repo, "v1", hub=where)
    assert repo in str(info.value) and "model.weights.h5" in str(info.value)
    with pytest.raises(hub.IntegrityError):          # never trusted on a second try either
        hub.pull(repo, "v1", hub=where)


def test_bad_names_are_refused_before_any_io(backend):
    where, _ = backend
    with pytest.raises(ValueError, match="namespace/name"):
        hub.pull("no-namespace", hub=where)
    with pytest.raises(ValueError, match="revision"):
        hub.pull("team/x", "../etc", hub=where)
