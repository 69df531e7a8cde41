"""Kill -9 during publish and pull, concurrent pulls, a server that is down, offline mode, bad tokens,
and no token in any log, card, manifest or error."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import hub
from hub.constants import ENV_TEST_PAUSE, PAUSE_MARKER
from hub.local import LocalHub
from test_hub_support import ROOT, TOKEN, free_port, subprocess_env


def _start_paused(code: str, point: str, **env) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stderr=subprocess.PIPE, text=True,
                            env=subprocess_env(**{ENV_TEST_PAUSE: f"{point}:600"}, **env))
    # Limits are generous (2 loaded cores can take a minute to import TensorFlow); the test kills the
    # process as soon as it announces the pause, so they only bound a hang.
    deadline = time.time() + 300
    for line in proc.stderr:                     # wait for the hook to announce the pause
        if PAUSE_MARKER in line:
            return proc
        assert time.time() < deadline
    raise AssertionError(f"process exited before pausing (rc={proc.wait()})")


def _kill(proc):
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)


def test_publish_killed_before_the_ref_moves_leaves_no_revision_and_no_tag(tmp_path, tiny_keras, isolated_home):
    root = tmp_path / "hubdir"
    first = hub.publish(tiny_keras, "team/enc", tag="v1", hub=str(root))
    before = (root / "models/team/enc/refs.json").read_text()
    code = (f"import hub; hub.publish({str(tiny_keras)!r}, 'team/enc', tag='v2', hub={str(root)!r}, "
            "metadata={'changed': True})")
    _kill(_start_paused(code, "publish"))
    assert (root / "models/team/enc/refs.json").read_text() == before
    assert hub.list_releases("team/enc", hub=str(root)) == [("v1", first.revision)]
    assert hub.pull("team/enc", hub=str(root)).revision == first.revision
    with pytest.raises(hub.RevisionNotFoundError):
        hub.pull("team/enc", "v2", hub=str(root))
    # the interrupted release can simply be published again
    assert hub.publish(tiny_keras, "team/enc", tag="v2", hub=str(root), metadata={"changed": True}).tag == "v2"


def test_pull_killed_midway_leaves_nothing_trusted(tmp_path, tiny_keras, isolated_home):
    root = tmp_path / "hubdir"
    rel = hub.publish(tiny_keras, "team/enc", tag="v1", hub=str(root))
    code = f"import hub; hub.pull('team/enc', 'v1', hub={str(root)!r})"
    _kill(_start_paused(code, "pull"))
    cache = Path(os.environ["FACEZOO_HOME"]) / "cache/team/enc"
    assert not (cache / rel.revision).exists()                     # only a temp folder, never trusted
    assert any(p.name.startswith(".tmp-") for p in cache.iterdir())
    snap = hub.pull("team/enc", "v1", hub=str(root))               # a later pull completes and cleans up
    assert snap.path == cache / rel.revision
    assert not any(p.name.startswith(".tmp-") for p in cache.iterdir())


@pytest.mark.parametrize("kind", ["local", "served"])
def test_concurrent_pulls_from_two_processes(kind, tmp_path, tiny_keras, isolated_home, request, monkeypatch):
    if kind == "local":
        where = str(tmp_path / "hubdir")
    else:
        where = request.getfixturevalue("served").url
        monkeypatch.setenv("HF_TOKEN", TOKEN)
    repo = f"team/concurrent-{kind}"
    rel = hub.publish(tiny_keras, repo, tag="v1", hub=where)
    code = ("import hub, json, sys; s = hub.pull(%r, 'v1', hub=%r); "
            "print(json.dumps({'rev': s.revision, 'files': {p.name: __import__('zoo.io').io.sha256_file(p) "
            "for p in s.path.iterdir() if not p.name.startswith('.')}}))") % (repo, where)
    env = subprocess_env()
    procs = [subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=600) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1][-2000:] for o in outs]
    results = [json.loads(o[0].strip().splitlines()[-1]) for o in outs]
    assert results[0] == results[1]
    assert results[0]["rev"] == rel.revision and results[0]["files"] == rel.files


def test_server_down_is_a_clear_hub_error(isolated_home):
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(hub.HubError) as info:
        hub.pull("team/enc", "v1", hub=url)
    assert "team/enc@v1" in str(info.value) and url in str(info.value)


def test_offline_mode_cold_cache_errors_warm_cache_works(served, tiny_keras, isolated_home, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    rel = hub.publish(tiny_keras, "team/offline", tag="v1", hub=served.url)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(hub.HubError) as info:
        hub.pull("team/offline", "v1", hub=served.url)
    assert "team/offline@v1" in str(info.value) and "offline" in str(info.value)
    monkeypatch.delenv("HF_HUB_OFFLINE")
    hub.pull("team/offline", "v1", hub=served.url)                 # warms the HF cache
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    snap = hub.pull("team/offline", "v1", hub=served.url)          # no network: resolved via cache refs
    assert snap.revision == rel.revision


def test_write_with_a_bad_token_is_refused_and_changes_nothing(served, tiny_keras, isolated_home, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    rel = hub.publish(tiny_keras, "team/guarded", tag="v1", hub=served.url)
    refs = (served.root / "models/team/guarded/refs.json").read_text()
    monkeypatch.setenv("HF_TOKEN", "fzt_wrong_token_000000000000")
    with pytest.raises(hub.HubError, match="401"):
        hub.publish(tiny_keras, "team/guarded", tag="v2", hub=served.url, metadata={"x": 1})
    monkeypatch.delenv("HF_TOKEN")
    with pytest.raises(hub.HubError, match="401"):                 # reads need a token without --public-read
        hub.pull("team/guarded", "v1", hub=served.url)
    assert (served.root / "models/team/guarded/refs.json").read_text() == refs
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    assert hub.list_releases("team/guarded", hub=served.url) == [("v1", rel.revision)]


def test_cached_file_altered_is_never_loaded(tmp_path, tiny_keras, isolated_home):
    root = tmp_path / "hubdir"
    hub.publish(tiny_keras, "team/enc", tag="v1", hub=str(root))
    snap = hub.pull("team/enc", "v1", hub=str(root))
    weights = snap.path / "model.weights.h5"
    try:
        weights.write_bytes(weights.read_bytes()[:-5] + b"XXXXX")
    except PermissionError:                     # a linked blob is read-only: nothing was altered (not root)
        assert weights.stat().st_nlink > 1
        return
    if weights.stat().st_nlink > 1:
        # the pull linked the hub's blob (one copy per machine): altering it altered the hub's too, so it is
        # refused there as well, never loaded, and a republish repairs both
        with pytest.raises(hub.IntegrityError):
            hub.pull("team/enc", "v1", hub=str(root))
        hub.publish(tiny_keras, "team/enc", tag="v2", hub=str(root))
    again = hub.pull("team/enc", "v1", hub=str(root))              # re-verified and repaired from the hub
    assert again.path == snap.path
    hub.manifest.verify_folder(again.path)


def test_token_never_appears_in_logs_cards_manifests_or_errors(served, tiny_keras, isolated_home, monkeypatch,
                                                               capfd):
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    cli = [sys.executable, "-m", "recipes.cli"]
    env = subprocess_env(HF_TOKEN=TOKEN)
    out = subprocess.run([*cli, "publish", str(tiny_keras), "team/secret", "--tag", "v1", "--hub", served.url,
                          "--verbose"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    pulled = subprocess.run([*cli, "pull", "team/secret@v1", "--hub", served.url, "--verbose"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert pulled.returncode == 0, pulled.stderr
    bad = subprocess.run([*cli, "pull", "team/secret@v9", "--hub", served.url, "--verbose"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "team/secret@v9" in bad.stderr and "Traceback" not in bad.stderr
    with pytest.raises(hub.HubError) as info:
        hub.publish(tiny_keras, "team/secret", tag="v2", hub=served.url, metadata={"note": f"key {TOKEN}"})
    texts = [out.stdout, out.stderr, pulled.stdout, pulled.stderr, bad.stderr, str(info.value),
             served.log.read_text()]
    texts += [p.read_text(errors="replace") for p in served.root.rglob("*") if p.is_file()]
    texts += [p.read_text(errors="replace") for p in Path(os.environ["HF_HOME"]).rglob("*") if p.is_file()]
    assert "GET /api/models/team/secret" in served.log.read_text()   # the server did log requests
    assert not [t for t in texts if TOKEN in t]


def test_served_publish_killed_before_the_tag_leaves_main_and_tags_untouched(served, tiny_keras, isolated_home,
                                                                             monkeypatch):
    """Over the Hub API a release is committed on a staging branch, tagged, and only then moved onto
    main: a kill -9 after the staging commit leaves no new revision on main and no tag."""
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    first = hub.publish(tiny_keras, "team/served-kill", tag="v1", hub=served.url)
    code = (f"import hub; hub.publish({str(tiny_keras)!r}, 'team/served-kill', tag='v2', hub={served.url!r}, "
            "metadata={'changed': True})")
    _kill(_start_paused(code, "publish-staged", HF_TOKEN=TOKEN))
    assert hub.list_releases("team/served-kill", hub=served.url) == [("v1", first.revision)]
    assert hub.pull("team/served-kill", hub=served.url).revision == first.revision
    with pytest.raises(hub.RevisionNotFoundError):
        hub.pull("team/served-kill", "v2", hub=served.url)
    again = hub.publish(tiny_keras, "team/served-kill", tag="v2", hub=served.url, metadata={"changed": True})
    assert hub.pull("team/served-kill", hub=served.url).revision == again.revision   # main == the tag's commit
    refs = json.loads((served.root / "models/team/served-kill/refs.json").read_text())
    # The killed publish's staging branch is young, so it may belong to a live publish: it stays until
    # it is stale (see test_hub_hardening.py); the second publish removed its own.
    assert len(refs["heads"]) == 2 and [h for h in refs["heads"] if h != "main"][0].startswith("facezoo-staging-")
