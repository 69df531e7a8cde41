"""Issue 29: the client trusts no server. A hostile Hub-compatible endpoint on 127.0.0.1 (a few routes of
the Hub API over `http.server`) answers the real `huggingface_hub` client inside `hub.pull` with ETags and
commits of its choosing; nothing may be written or deleted outside the endpoint's cache folder."""
from __future__ import annotations

import hashlib
import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

import hub
from hub.errors import IntegrityError
from hub.hf import HfHub
from hub.local import LocalHub
from hub.hf_download import evict

COMMIT = "c0ffee" + "0" * 34
REPO = "evil/enc"


class Hostile:
    """A loopback server serving `files` ({name: bytes}) of REPO at COMMIT, with `etag(name, data)` and
    `commit_header` chosen by the test. Each request is handled in a thread; shutdown stops the loop."""

    def __init__(self, files: dict, etag=None, commit_header=COMMIT, get_extra: bytes = b""):
        self.files, self.commit_header, self.get_extra = files, commit_header, get_extra
        self.etag = etag or (lambda name, data: hashlib.sha256(data).hexdigest())
        self.requests = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _send(self, status, body=b"", headers=None, head=False):
                self.send_response(status)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if not head:
                    self.wfile.write(body)

            def _answer(self, head):
                owner.requests.append((self.command, self.path))
                parts = self.path.split("?")[0].strip("/").split("/")
                if parts[:2] == ["api", "models"]:
                    info = {"id": REPO, "sha": COMMIT, "siblings": [{"rfilename": n} for n in sorted(owner.files)]}
                    return self._send(200, json.dumps(info).encode(), {"Content-Type": "application/json"}, head)
                if len(parts) >= 5 and parts[2] == "resolve":
                    name = "/".join(parts[4:])
                    data = owner.files.get(name)
                    if data is None:
                        return self._send(404, b"{}", {"X-Error-Code": "EntryNotFound"}, head)
                    headers = {"ETag": f'"{owner.etag(name, data)}"', "X-Repo-Commit": owner.commit_header}
                    if owner.get_extra and not head:     # the body is longer than the HEAD announced
                        return self._send(200, data + owner.get_extra, headers)
                    return self._send(200, data, headers, head)
                return self._send(404, b"{}", {}, head)

            def do_GET(self):
                self._answer(False)

            def do_HEAD(self):
                self._answer(True)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def release_files(tiny_keras, tmp_path):
    """The files of a real, valid release of the tiny encoder (published to a local hub, then read back)."""
    from hub.manifest import list_files
    local = LocalHub(tmp_path / "local")
    hub.publish(tiny_keras, "team/enc", tag="v1", hub=local)
    snap = local.pull("team/enc", "v1")
    return {name: (snap.path / name).read_bytes() for name in list_files(snap.path)}


@pytest.fixture
def hostile():
    servers = []

    def start(files, **kw):
        servers.append(Hostile(files, **kw))
        return servers[-1]
    yield start
    for s in servers:
        s.close()


def _files_under(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*")} if folder.exists() else set()


@pytest.mark.parametrize("kind", ["absolute", "dotdot", "not-hex", "uppercase"])
def test_c5a_c5b_a_hostile_etag_writes_nothing_outside_the_cache(kind, hostile, release_files, tmp_path,
                                                                  isolated_home):
    outside = tmp_path / "site-packages"
    outside.mkdir()
    target = outside / "evil.pth"
    etags = {"absolute": lambda n, d: str(target) + "-" + n.replace("/", "_"),
             # blobs/ -> models--evil--enc -> <endpoint> -> endpoints -> hub -> hf -> tmp_path
             "dotdot": lambda n, d: "../../../../../../site-packages/evil-" + n.replace("/", "_"),
             "not-hex": lambda n, d: "z" * 64,
             "uppercase": lambda n, d: hashlib.sha256(d).hexdigest().upper()}
    server = hostile(release_files, etag=etags[kind])
    with pytest.raises(IntegrityError, match="ETag"):
        HfHub(server.url, token="t").pull(REPO, "main")
    assert _files_under(outside) == set() and not list(tmp_path.glob("site-packages?*"))
    # nothing landed anywhere under the HF cache but (at most) empty folders
    assert [p for p in (isolated_home / "hf").rglob("*") if p.is_file() and ".lock" not in p.name] == []


def test_c5a_bytes_that_do_not_hash_to_their_etag_are_never_kept(hostile, release_files, isolated_home):
    server = hostile(release_files, etag=lambda n, d: hashlib.sha256(d + b"x").hexdigest())
    with pytest.raises(IntegrityError, match="hashes to"):
        HfHub(server.url, token="t").pull(REPO, "main")
    blobs = list((isolated_home / "hf").rglob("blobs/*"))
    assert blobs == []


def test_c5a_a_body_longer_than_announced_is_never_kept(hostile, release_files, isolated_home):
    server = hostile(release_files, get_extra=b"x" * 5000)
    with pytest.raises(IntegrityError, match="announced"):
        HfHub(server.url, token="t").pull(REPO, "main")
    assert list((isolated_home / "hf").rglob("blobs/*")) == []


def test_c5b_an_answer_for_another_commit_is_refused(hostile, release_files, isolated_home):
    server = hostile(release_files, commit_header="../../../../escape")
    with pytest.raises(IntegrityError, match="commit"):
        HfHub(server.url, token="t").pull(REPO, "main")
    assert not (isolated_home / "escape").exists()


def test_c5c_a_release_failing_verification_is_evicted_inside_blobs_only(hostile, release_files, tmp_path,
                                                                         isolated_home):
    # well-formed ETags and matching bytes, but the manifest does not match the weights: verification fails
    files = dict(release_files)
    weights = next(n for n in files if n.endswith((".h5", ".weights.h5", ".keras")))
    files[weights] = files[weights] + b"tampered"
    server = hostile(files)
    hf = HfHub(server.url, token="t")
    with pytest.raises(IntegrityError):
        hf.pull(REPO, "main")
    repo_cache = hf._repo_cache(REPO)
    assert list((repo_cache / "blobs").iterdir()) == []            # its own blobs evicted, nothing else touched
    assert [p for p in (repo_cache / "snapshots").rglob("*") if not p.is_dir()] == []


def test_c2_c5c_evict_never_follows_a_link_out_of_blobs(tmp_path):
    repo_cache = tmp_path / "cache" / "models--a--b"
    snap = repo_cache / "snapshots" / COMMIT
    (repo_cache / "blobs").mkdir(parents=True)
    snap.mkdir(parents=True)
    victim_dir = tmp_path / "home"
    victim_dir.mkdir()
    victim = victim_dir / "thesis.tex"
    victim.write_text("years of work")
    (victim_dir / "inner.txt").write_text("keep")
    blob = repo_cache / "blobs" / ("a" * 64)
    blob.write_bytes(b"ours")
    os.symlink(os.path.relpath(blob, snap), snap / "model.keras")
    os.symlink(victim, snap / "config.json")                  # a planted link to a file
    os.symlink(victim_dir, snap / "assets")                   # a planted link to a folder
    os.symlink(os.path.relpath(victim, snap), snap / "rel.json")
    evict(snap, repo_cache)
    assert victim.read_text() == "years of work" and (victim_dir / "inner.txt").read_text() == "keep"
    assert not blob.exists()
    assert _files_under(snap) == set()


def test_c2_a_link_planted_in_a_shared_cache_is_dropped_and_its_target_kept(served, tiny_keras, tmp_path,
                                                                           isolated_home, monkeypatch):
    from test_hub_support import TOKEN
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    hf = HfHub(served.url)
    hub.publish(tiny_keras, "team/c2-shared", tag="v1", hub=hf)
    snap = hf.pull("team/c2-shared", "v1")
    victim = tmp_path / "victim.txt"
    victim.write_text("do not delete")
    name = "config.json"
    (snap.path / name).unlink()
    os.symlink(victim, snap.path / name)                      # another user of the cache plants a link
    again = hf.pull("team/c2-shared", "v1")
    assert victim.read_text() == "do not delete"
    assert not (again.path / name).resolve().is_relative_to(tmp_path / "victim.txt")
    assert (again.path / name).resolve().is_relative_to(hf._repo_cache("team/c2-shared").resolve() / "blobs")
