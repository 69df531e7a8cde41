"""Regression tests of issue 14 that attack the hub's storage and client side: a hub folder edited as an
attacker would, a hostile server, hijacked refs, a corrupt blob, two hubs sharing a repo id offline, and
parallel publishes. (Attacks on the server's HTTP layer are in test_hub_server_http.py.)"""
from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

import hub
from hub.local import LocalHub
from zoo.errors import FacezooError
from test_hub_support import TOKEN, Server


def _plant(root: Path, repo: str, commit: str, extra: dict) -> None:
    """Edit a local hub's commit record as someone with write access to the hub folder would."""
    record_path = root / "models" / repo / "commits" / f"{commit}.json"
    record = json.loads(record_path.read_text())
    record["files"].update(extra)
    record_path.write_text(json.dumps(record))


@pytest.mark.parametrize("bad", ["../../../pwned/x.txt", "ABS", "../../evil.pth", "a\\b.txt", "nul\x00.txt",
                                 "x" * 5000, "v/../../evil.pth"],
                         ids=["dotdot", "absolute", "pth", "backslash", "nul", "5000-chars", "inner-dotdot"])
def test_pull_refuses_a_commit_record_with_an_unsafe_path(bad, tmp_path, tiny_keras, isolated_home):
    root = tmp_path / "hubdir"
    rel = hub.publish(tiny_keras, "team/enc", tag="v1", hub=str(root))
    bad = str(tmp_path / "abs.txt") if bad == "ABS" else bad
    entry = {"sha256": rel.files["README.md"], "size": (root / "models/team/enc/objects"
                                                          / rel.files["README.md"]).stat().st_size}
    _plant(root, "team/enc", rel.revision, {bad: entry})
    import zoo
    with pytest.raises(hub.IntegrityError) as info:
        zoo.load_encoder("team/enc@v1", hub=str(root))
    assert "team/enc@" in str(info.value) and "unsafe path" in str(info.value)
    written = [p for p in tmp_path.rglob("*") if p.name in ("x.txt", "abs.txt", "evil.pth", "pwned")]
    assert written == []
    assert not (Path(isolated_home) / "facezoo/cache/team/enc" / rel.revision).exists()   # the whole release


def test_verify_folder_never_reads_outside_the_release(tmp_path):
    from hub.manifest import verify_folder
    secret = tmp_path / "secret.txt"
    secret.write_text("not part of any release")
    folder = tmp_path / "release"
    folder.mkdir()
    (folder / "facezoo.json").write_text(json.dumps({
        "format": "facezoo-release", "format_version": 1,
        "files": {"../secret.txt": {"sha256": "0" * 64, "size": 1}}}))
    with pytest.raises(hub.IntegrityError) as info:
        verify_folder(folder, "team/x", "v1")
    assert "unsafe path" in str(info.value) and "team/x@v1" in str(info.value)
    assert str(secret.stat().st_size) not in str(info.value).replace("../secret.txt", "")


class _HostileHub(BaseHTTPRequestHandler):
    """A server that answers a repo-info request with a file listing that escapes the snapshot."""
    def do_GET(self):  # noqa: N802
        body = json.dumps({"id": "team/x", "sha": "a" * 40, "siblings": [
            {"rfilename": "README.md"}, {"rfilename": "../../../evil.pth"}]}).encode()
        if "/resolve/" in self.path:
            body = b"import os  # planted\n"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Repo-Commit", "a" * 40)
        self.send_header("ETag", '"' + "b" * 64 + '"')
        self.end_headers()
        self.wfile.write(body)

    do_HEAD = do_GET

    def log_message(self, *args):
        pass


def test_pull_refuses_a_server_listing_with_an_unsafe_path(isolated_home):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _HostileHub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with pytest.raises(hub.IntegrityError) as info:
            hub.pull("team/x", "v1", hub=f"http://127.0.0.1:{server.server_address[1]}")
        assert "unsafe path" in str(info.value) and "team/x@v1" in str(info.value)
    finally:
        server.shutdown()
        server.server_close()
    assert not [p for p in Path(isolated_home).rglob("*") if p.name in ("evil.pth", "README.md")]


def test_corrupt_refs_and_commit_records_name_the_repo(tmp_path, tiny_keras, isolated_home):
    root = tmp_path / "hubdir"
    rel = hub.publish(tiny_keras, "team/enc", tag="v1", hub=str(root))
    record = root / "models/team/enc/commits" / f"{rel.revision}.json"
    record.write_text("{not json")
    with pytest.raises(hub.IntegrityError, match=f"team/enc@{rel.revision}"):
        hub.pull("team/enc", "v1", hub=str(root))
    (root / "models/team/enc/refs.json").write_text("[1, 2")
    with pytest.raises(hub.HubError, match="team/enc"):
        hub.pull("team/enc", "v1", hub=str(root))
    (root / "models/team/enc/refs.json").write_text(json.dumps({"heads": {"main": "../../x"}}))
    with pytest.raises(hub.HubError, match="refs.json is corrupt"):
        hub.pull("team/enc", hub=str(root))


# ---- 3: refs cannot hijack commit ids or future tags ----------------------------------------------

def test_forty_hex_names_are_never_refs_and_branches_and_tags_share_one_namespace(tmp_path, tiny_keras,
                                                                                  isolated_home):
    root = tmp_path / "hubdir"
    first = hub.publish(tiny_keras, "team/enc", tag="v1", hub=str(root))
    second = hub.publish(tiny_keras, "team/enc", hub=str(root), metadata={"other": True})
    local = LocalHub(root)
    with pytest.raises(ValueError, match="40-hex"):
        local.create_tag("team/enc", first.revision, revision=second.revision)
    with pytest.raises(ValueError, match="40-hex"):
        local.create_branch("team/enc", "f" * 40, revision=second.revision)
    local.create_branch("team/enc", "v2", revision=second.revision)          # a branch squatting a tag name
    with pytest.raises(hub.ReleaseExistsError, match="v2"):
        hub.publish(tiny_keras, "team/enc", tag="v2", hub=str(root), metadata={"real": True})
    with pytest.raises(hub.ReleaseExistsError):
        local.create_tag("team/enc", "v2", revision=first.revision)
    # a refs.json written by an older facezoo (or by hand) with a 40-hex tag: the commit id still wins
    refs_path = root / "models/team/enc/refs.json"
    refs = json.loads(refs_path.read_text())
    refs["tags"][first.revision] = second.revision
    refs_path.write_text(json.dumps(refs))
    assert hub.pull("team/enc", first.revision, hub=str(root)).revision == first.revision


def test_forty_hex_and_squatted_names_are_refused_through_the_server(served, tiny_keras, isolated_home,
                                                                     monkeypatch):
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    first = hub.publish(tiny_keras, "team/hijack", tag="v1", hub=served.url)
    second = hub.publish(tiny_keras, "team/hijack", hub=served.url, metadata={"other": True})
    api = HfApi(endpoint=served.url, token=TOKEN)
    with pytest.raises(HfHubHTTPError):
        api.create_tag("team/hijack", tag=first.revision, revision=second.revision)
    with pytest.raises(HfHubHTTPError):
        api.create_branch("team/hijack", branch="c" * 40, revision=second.revision)
    api.create_branch("team/hijack", branch="v2", revision=second.revision)
    with pytest.raises(hub.ReleaseExistsError):
        hub.publish(tiny_keras, "team/hijack", tag="v2", hub=served.url, metadata={"real": True})
    assert hub.pull("team/hijack", first.revision, hub=served.url).revision == first.revision


def test_names_with_a_trailing_newline_are_refused():
    with pytest.raises(ValueError):
        hub.pull("team/x\n", "v1", hub="/nonexistent")
    with pytest.raises(ValueError):
        hub.pull("team/x", "v1\n", hub="/nonexistent")


# ---- 7: a corrupt blob is repaired by a republish -------------------------------------------------

@pytest.mark.parametrize("kind", ["local", "served"])
def test_republishing_repairs_a_corrupt_blob_of_the_right_size(kind, tmp_path, tiny_keras, isolated_home,
                                                               request, monkeypatch):
    if kind == "local":
        where, root = str(tmp_path / "hubdir"), tmp_path / "hubdir"
    else:
        server = request.getfixturevalue("served")
        where, root = server.url, server.root
        monkeypatch.setenv("HF_TOKEN", TOKEN)
    repo = f"team/bitflip-{kind}"
    rel = hub.publish(tiny_keras, repo, tag="v1", hub=where)
    blob = root / "models" / repo / "objects" / rel.files["model.weights.h5"]
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0x01
    blob.write_bytes(bytes(data))
    rel2 = hub.publish(tiny_keras, repo, tag="v2", hub=where, metadata={"again": True})
    assert rel2.files["model.weights.h5"] == rel.files["model.weights.h5"]
    snap = hub.pull(repo, "v2", hub=where)
    hub.manifest.verify_folder(snap.path)


# ---- 8: offline mode never mixes two hubs holding the same repo id ---------------------------------

def test_offline_pull_never_returns_another_hubs_files(served, tiny_keras, tmp_path, isolated_home, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    token_file = tmp_path / "tokens.txt"
    token_file.write_text(TOKEN + "\n")
    other = Server(tmp_path / "other-root", token_file)
    try:
        rel_a = hub.publish(tiny_keras, "team/twin", tag="v1", hub=served.url, metadata={"hub": "A"})
        rel_b = hub.publish(tiny_keras, "team/twin", tag="v1", hub=other.url, metadata={"hub": "B"})
        assert rel_a.revision != rel_b.revision
        hub.pull("team/twin", "v1", hub=other.url)
        hub.pull("team/twin", "v1", hub=served.url)            # the last online pull is hub A's
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
        snap = hub.pull("team/twin", "v1", hub=other.url)
        assert snap.revision == rel_b.revision and snap.manifest["hub"] == "B"
        assert hub.pull("team/twin", "v1", hub=served.url).manifest["hub"] == "A"
    finally:
        other.stop()


# ---- 6: parallel publishes report exactly what happened ------------------------------------------

def _staging_branches(root: Path, repo: str) -> list[str]:
    refs = json.loads((root / "models" / repo / "refs.json").read_text())
    return [b for b in refs["heads"] if b.startswith("facezoo-staging-")]


def test_parallel_publishes_with_distinct_tags_all_succeed(served, tiny_keras, isolated_home, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    repo = "team/parallel"
    hub.publish(tiny_keras, repo, hub=served.url)
    with ThreadPoolExecutor(8) as pool:
        releases = list(pool.map(lambda i: hub.publish(tiny_keras, repo, tag=f"v{i}", hub=served.url,
                                                       metadata={"i": i}), range(8)))
    assert dict(hub.list_releases(repo, hub=served.url)) == {f"v{i}": r.revision for i, r in enumerate(releases)}
    for i in (0, 7):
        assert hub.pull(repo, f"v{i}", hub=served.url).manifest["i"] == i
    assert _staging_branches(served.root, repo) == []


def test_parallel_publishes_of_one_tag_one_wins_and_the_others_say_so(served, tiny_keras, isolated_home,
                                                                      monkeypatch):
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    repo = "team/parallel-one-tag"
    hub.publish(tiny_keras, repo, hub=served.url)

    def attempt(i):
        try:
            return hub.publish(tiny_keras, repo, tag="v1", hub=served.url, metadata={"i": i})
        except hub.ReleaseExistsError as exc:
            return exc

    with ThreadPoolExecutor(6) as pool:
        outcomes = list(pool.map(attempt, range(6)))
    winners = [o for o in outcomes if isinstance(o, hub.Release)]
    assert len(winners) == 1, outcomes
    assert all(isinstance(o, hub.ReleaseExistsError) and "team/parallel-one-tag@v1" in str(o)
               for o in outcomes if o is not winners[0])
    assert hub.list_releases(repo, hub=served.url) == [("v1", winners[0].revision)]
    assert _staging_branches(served.root, repo) == []


def test_a_publish_removes_only_stale_staging_branches(served, tiny_keras, isolated_home, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    repo = "team/stale-staging"
    hub.publish(tiny_keras, repo, hub=served.url)
    local = LocalHub(served.root)
    stale, live = "facezoo-staging-1000000000-0123456789ab", "facezoo-staging-9999999999-0123456789ab"
    local.create_branch(repo, stale)
    local.create_branch(repo, live)
    hub.publish(tiny_keras, repo, tag="v1", hub=served.url)
    assert _staging_branches(served.root, repo) == [live]


# ---- 9: models that every safe load would refuse --------------------------------------------------

def test_a_model_with_a_lambda_layer_is_refused_at_publish_time(tmp_path, isolated_home):
    import keras
    inputs = keras.Input((8,))
    model = keras.Model(inputs, keras.layers.Lambda(lambda x: x * 2)(inputs))
    root = tmp_path / "hubdir"
    with pytest.raises(FacezooError, match="Lambda"):
        hub.publish(model, "team/lambda", tag="v1", hub=str(root))
    assert not (root / "models/team/lambda/refs.json").exists()


def test_a_hostile_config_is_an_unsafe_model_error(tmp_path, tiny_keras):
    import keras
    import zoo
    from zoo.errors import UnsafeModelError
    folder = tmp_path / "hostile"
    keras.saving.save_model(keras.saving.load_model(tiny_keras), folder, zipped=False)
    config = json.loads((folder / "config.json").read_text())
    layer = config["config"]["layers"][1]
    layer.update({"module": "os", "class_name": "system", "registered_name": None})
    (folder / "config.json").write_text(json.dumps(config))
    # A manifest that vouches for the edited files: verification passes, the config check must refuse.
    from hub.manifest import build_manifest, write_manifest
    write_manifest(folder, build_manifest(folder))
    with pytest.raises(UnsafeModelError, match="'os'"):
        zoo.load_encoder(str(folder))
    with pytest.raises(FacezooError, match="'os'"):
        hub.publish(str(folder), "team/hostile", hub=str(tmp_path / "hubdir"))


def test_loading_a_local_folder_never_reads_outside_it(tmp_path, tiny_keras):
    import keras
    import zoo
    folder = tmp_path / "release"
    keras.saving.save_model(keras.saving.load_model(tiny_keras), folder, zipped=False)
    (folder / "facezoo.json").write_text(json.dumps({"format": "facezoo-release", "format_version": 1, "files": {
        "../../etc-passwd": {"sha256": "0" * 64, "size": 1}}}))
    with pytest.raises(hub.IntegrityError, match="unsafe path"):
        zoo.load_encoder(str(folder))


def test_a_served_warm_cache_altered_on_disk_is_never_loaded(served, tiny_keras, isolated_home, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    rel = hub.publish(tiny_keras, "team/warm-tamper", tag="v1", hub=served.url)
    snap = hub.pull("team/warm-tamper", "v1", hub=served.url)
    weights = (snap.path / "model.weights.h5").resolve()          # the HF cache's blob behind the link
    data = bytearray(weights.read_bytes())
    data[-3] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(hub.IntegrityError, match="team/warm-tamper@v1"):
        hub.pull("team/warm-tamper", "v1", hub=served.url)           # caught, and the bad copy evicted
    again = hub.pull("team/warm-tamper", "v1", hub=served.url)       # downloaded afresh
    assert again.revision == rel.revision
    hub.manifest.verify_folder(again.path)


def test_a_warm_pull_trusts_only_the_very_file_it_hashed(served, tiny_keras, isolated_home, monkeypatch):
    """A warm pull skips re-hashing a file only while inode, size, mtime and ctime are those it had when
    its sha256 last matched; an edit that keeps the size and puts the mtime back is still caught."""
    import os

    monkeypatch.setenv("HF_TOKEN", TOKEN)
    hub.publish(tiny_keras, "team/warm-stat", tag="v1", hub=served.url)
    snap = hub.pull("team/warm-stat", "v1", hub=served.url)            # cold: every file hashed
    hashed = []
    real = hub.manifest.sha256_file
    monkeypatch.setattr(hub.manifest, "sha256_file", lambda p, *a, **k: hashed.append(Path(p).name) or real(p, *a, **k))
    assert hub.pull("team/warm-stat", "v1", hub=served.url).revision == snap.revision
    assert hashed == []                                                 # warm and untouched: stat calls only
    weights = (snap.path / "model.weights.h5").resolve()
    st = weights.stat()
    data = bytearray(weights.read_bytes())
    data[-3] ^= 0xFF
    weights.write_bytes(bytes(data))
    os.utime(weights, ns=(st.st_atime_ns, st.st_mtime_ns))             # same size, same mtime: only ctime moved
    with pytest.raises(hub.IntegrityError, match="team/warm-stat@v1"):
        hub.pull("team/warm-stat", "v1", hub=served.url)
    assert "model.weights.h5" in hashed
