"""Regression tests of issue 14 against `facezoo hub serve`'s HTTP layer, in raw HTTP on 127.0.0.1:
authentication before the body, body limits, exact Content-Length, chunked bodies, idle timeouts, bad
JSON shapes, token-file quirks, the LFS upload path, and a server that dies mid-answer."""
from __future__ import annotations

import base64
import hashlib
import json
import os
import socket
import threading
from pathlib import Path

import pytest

import hub
from test_hub_support import TOKEN, Server, second_loopback

AUTH = f"Authorization: Bearer {TOKEN}\r\n"
MAX_BODY = 1 << 20


@pytest.fixture(scope="module")
def strict(tmp_path_factory):
    """A server with a 1 MiB body limit, an 8 KiB file limit, a 2 s idle timeout, and a token file saved with
    a BOM, mode 0644."""
    base = tmp_path_factory.mktemp("strict")
    token_file = base / "tokens.txt"
    token_file.write_text("\ufeff" + TOKEN + "\n", encoding="utf-8")
    os.chmod(token_file, 0o644)
    server = Server(base / "root", token_file, extra_args=["--max-body", "1M", "--max-file", "8K",
                                                                "--idle-timeout", "2"])
    yield server
    server.stop()


def _connect(server, timeout=60, source: str | None = None) -> socket.socket:
    """A connection to `server`, from the loopback address `source` if given (Linux routes all of 127/8)."""
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=timeout,
                                    source_address=(source, 0) if source else None)
    return sock


def _read_response(sock) -> tuple[int | None, dict, bytes]:
    """One response (status, headers, body) read from `sock`; (None, {}, b"") if it closed without one."""
    data = b""
    while b"\r\n\r\n" not in data:
        piece = sock.recv(65536)
        if not piece:
            return (None, {}, data) if not data else (int(data.split(b" ")[1]), {}, b"")
        data += piece
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        piece = sock.recv(65536)
        if not piece:
            break
        rest += piece
    return status, headers, rest[:length]


def _request(server, raw: bytes, *, half_close=False, source=None) -> tuple[int | None, dict, bytes]:
    with _connect(server, source=source) as sock:
        sock.sendall(raw)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        return _read_response(sock)


def _post(path: str, body: bytes, *, auth=True, extra="") -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{AUTH if auth else ''}{extra}"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


def _ndjson(*items) -> bytes:
    return b"".join(json.dumps(i).encode() + b"\n" for i in items)


def _file_line(path: str, data: bytes) -> dict:
    return {"key": "file", "value": {"path": path, "content": base64.b64encode(data).decode(), "encoding": "base64"}}


def _make_repo(server, repo: str) -> str:
    """Create `repo` with one commit on main over raw HTTP; return main's commit id."""
    ns, name = repo.split("/")
    status, _, _ = _request(server, _post("/api/repos/create", json.dumps({"name": name, "organization": ns}).encode()))
    assert status in (200, 409)                      # 409: an earlier parametrized case created it
    body = _ndjson({"key": "header", "value": {"summary": "first"}}, _file_line("a.txt", b"first release\n"))
    status, _, answer = _request(server, _post(f"/api/models/{repo}/commit/main", body))
    assert status == 200, answer
    return json.loads(answer)["commitOid"]


def _main(server, repo: str) -> str:
    status, _, answer = _request(server, f"GET /api/models/{repo}/refs HTTP/1.1\r\nHost: x\r\n{AUTH}\r\n".encode())
    assert status == 200
    return {b["name"]: b["targetCommit"] for b in json.loads(answer)["branches"]}["main"]


# ---- 2: authentication before the body, 413 before reading ---------------------------------------

def test_unauthenticated_huge_body_is_refused_from_the_headers(strict):
    for path in ("/api/models/team/x/commit/main", "/api/repos/create", "/team/x.git/info/lfs/objects/batch"):
        head = (f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {256 << 20}\r\n\r\n").encode()
        status, headers, _ = _request(strict, head)            # no body sent at all: the answer cannot wait for it
        assert status == 401, path
        assert headers.get("connection") == "close"


def test_oversize_body_is_refused_with_413_before_it_is_read(strict):
    _make_repo(strict, "team/big-body")
    head = _post("/api/models/team/big-body/commit/main", b"")
    head = head.replace(b"Content-Length: 0", f"Content-Length: {MAX_BODY + 1}".encode())
    status, _, _ = _request(strict, head)
    assert status == 413
    # the limit holds for a chunked body too, which announces no length
    chunk = b"x" * (MAX_BODY // 2)
    body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(3)) + b"0\r\n\r\n"
    raw = (f"POST /api/models/team/big-body/commit/main HTTP/1.1\r\nHost: x\r\n{AUTH}"
           "Transfer-Encoding: chunked\r\n\r\n").encode() + body
    assert _request(strict, raw)[0] == 413


# ---- 4: exact Content-Length ------------------------------------------------------------------------

def test_a_commit_body_shorter_than_its_content_length_commits_nothing(strict):
    before = _make_repo(strict, "team/short-body")
    body = _ndjson({"key": "header", "value": {"summary": "second"}}, _file_line("a.txt", b"second release\n"))
    raw = _post("/api/models/team/short-body/commit/main", body)
    raw = raw.replace(f"Content-Length: {len(body)}".encode(), f"Content-Length: {len(body) + 500}".encode())
    status, _, _ = _request(strict, raw, half_close=True)      # the client dies at a line boundary
    assert status != 200
    assert _main(strict, "team/short-body") == before


@pytest.mark.parametrize("length", ["-1", "12abc", "99999999999999999999999"])
def test_a_create_with_a_bad_content_length_creates_nothing(strict, length):
    body = json.dumps({"name": f"bad-length-{abs(hash(length))}", "organization": "team"}).encode()
    raw = _post("/api/repos/create", body).replace(f"Content-Length: {len(body)}".encode(),
                                                   f"Content-Length: {length}".encode())
    status, _, _ = _request(strict, raw, half_close=True)
    assert status == 400
    assert not (strict.root / "models/team" / f"bad-length-{abs(hash(length))}").exists()


def test_a_create_with_a_short_body_creates_nothing(strict):
    body = json.dumps({"name": "short-create", "organization": "team"}).encode()
    raw = _post("/api/repos/create", body[:-3]).replace(f"Content-Length: {len(body) - 3}".encode(),
                                                        f"Content-Length: {len(body)}".encode())
    assert _request(strict, raw, half_close=True)[0] != 200
    assert not (strict.root / "models/team/short-create").exists()


# ---- 5: chunked bodies --------------------------------------------------------------------------------

def test_a_chunked_commit_is_decoded_and_the_connection_stays_in_step(strict):
    _make_repo(strict, "team/chunked")
    body = _ndjson({"key": "header", "value": {"summary": "chunked"}}, _file_line("b.txt", b"sent in chunks\n"))
    half = len(body) // 2
    chunks = b"%x\r\n%s\r\n%x\r\n%s\r\n0\r\n\r\n" % (half, body[:half], len(body) - half, body[half:])
    raw = (f"POST /api/models/team/chunked/commit/main HTTP/1.1\r\nHost: x\r\n{AUTH}"
           "Transfer-Encoding: chunked\r\n\r\n").encode() + chunks
    with _connect(strict) as sock:
        sock.sendall(raw)
        status, _, answer = _read_response(sock)
        assert status == 200, answer
        commit = json.loads(answer)["commitOid"]
        sock.sendall(f"GET /api/models/team/chunked/tree/{commit} HTTP/1.1\r\nHost: x\r\n{AUTH}\r\n".encode())
        status, _, answer = _read_response(sock)                # the next request on the same connection
    assert status == 200
    assert {e["path"] for e in json.loads(answer)} == {"a.txt", "b.txt"}


# ---- 9: bad shapes, names, Range, token file ----------------------------------------------------------

@pytest.mark.parametrize("body", [b"[]", b"null", b"3", b"\"x\"", b"{\"name\": null}", b"{}", b"{bad"])
def test_bad_json_shapes_are_400_not_500(strict, body):
    status, _, _ = _request(strict, _post("/api/repos/create", body))
    assert status == 400
    assert not (strict.root / "models/None").exists()


def test_bad_commit_lines_are_400(strict):
    _make_repo(strict, "team/bad-lines")
    for body in (b"[1]\n", b"{\"key\": \"file\", \"value\": 3}\n", b"null\n",
                 _ndjson({"key": "file", "value": {"path": "../x", "content": ""}}),
                 _ndjson({"key": "lfsFile", "value": {"path": "w.h5", "oid": "0" * 64, "size": 3}})):
        assert _request(strict, _post("/api/models/team/bad-lines/commit/main", body))[0] == 400, body


def test_a_huge_range_header_is_a_clean_400(strict):
    _make_repo(strict, "team/ranged")
    raw = (f"GET /team/ranged/resolve/main/a.txt HTTP/1.1\r\nHost: x\r\n{AUTH}"
           f"Range: bytes={'9' * 5000}-\r\n\r\n").encode()
    assert _request(strict, raw)[0] == 400
    raw = f"GET /team/ranged/resolve/main/a.txt HTTP/1.1\r\nHost: x\r\n{AUTH}Range: bytes=6-12\r\n\r\n".encode()
    status, headers, body = _request(strict, raw)
    assert status == 206 and body == b"release" and headers["content-range"] == "bytes 6-12/14"


@pytest.mark.parametrize("path", ["%00evil", "x" * 5000, "..%2F..%2Fetc%2Fpasswd"], ids=["nul", "5000-chars", "dotdot"])
def test_odd_paths_and_revisions_are_clean_answers(strict, path):
    _make_repo(strict, "team/odd")
    for url in (f"/team/odd/resolve/main/{path}", f"/team/odd/resolve/{path}/a.txt",
                f"/api/models/team/odd/tree/main/{path}", f"/api/models/team/odd/revision/{path}"):
        status, _, body = _request(strict, f"GET {url} HTTP/1.1\r\nHost: x\r\n{AUTH}\r\n".encode())
        assert status in (400, 404), (url[:80], status, body[:200])
        assert b"team/odd" in body or status == 400


def test_names_with_a_trailing_newline_are_refused_by_the_server(strict):
    body = json.dumps({"name": "newline\n", "organization": "team"}).encode()
    assert _request(strict, _post("/api/repos/create", body))[0] == 400
    assert not any(p.name.startswith("newline") for p in (strict.root / "models").rglob("*"))


def test_a_token_file_with_a_bom_accepts_the_token_and_a_readable_one_is_warned_about(strict):
    status, _, _ = _request(strict, f"GET /api/whoami-v2 HTTP/1.1\r\nHost: x\r\n{AUTH}\r\n".encode())
    assert status == 200
    assert "readable by other users" in strict.log.read_text()


def test_half_sent_requests_hold_no_threads_and_are_timed_out(strict):
    status_file = Path(f"/proc/{strict.proc.pid}/status")
    if not status_file.exists():
        pytest.skip("needs /proc to count the server's threads")
    socks = []
    try:
        for _ in range(150):
            sock = _connect(strict)
            sock.sendall(b"POST /api/repos/create HTTP/1.1\r\nHost: x\r\n")     # headers never finish
            socks.append(sock)
        # the server still answers others (from another address: one address holds at most 64 connections)
        status, _, _ = _request(strict, f"GET /api/whoami-v2 HTTP/1.1\r\nHost: x\r\n{AUTH}\r\n".encode(),
                                source=second_loopback())
        assert status == 200
        threads = int([line.split()[1] for line in status_file.read_text().splitlines()
                       if line.startswith("Threads:")][0])
        assert threads < 100, threads                              # the stdlib server held one thread each
        for sock in socks:                                         # every one is closed by the server
            try:
                assert sock.recv(1024) == b""
            except ConnectionResetError:                           # past the per-client cap: closed at once
                pass
    finally:
        for sock in socks:
            sock.close()


# ---- the LFS upload path ------------------------------------------------------------------------------

def _batch(server, repo: str, data: bytes) -> dict:
    oid = hashlib.sha256(data).hexdigest()
    body = json.dumps({"operation": "upload", "transfers": ["basic"], "hash_algo": "sha256",
                       "objects": [{"oid": oid, "size": len(data)}]}).encode()
    status, _, answer = _request(server, _post(f"/{repo}.git/info/lfs/objects/batch", body))
    assert status == 200, answer
    return json.loads(answer)["objects"][0]


def _put(server, href: str, data: bytes) -> int:
    from urllib.parse import urlsplit
    url = urlsplit(href)
    path = f"{url.path}?{url.query}"
    raw = f"PUT {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(data)}\r\n\r\n".encode() + data
    return _request(server, raw)[0]


def test_lfs_put_needs_the_servers_signature_and_the_announced_bytes(strict):
    _make_repo(strict, "team/lfs")
    data = os.urandom(3000)
    action = _batch(strict, "team/lfs", data)
    href = action["actions"]["upload"]["href"]
    objects = strict.root / "models/team/lfs/objects"
    assert _put(strict, href.replace("signature=", "signature=0"), data) == 403
    assert _put(strict, href, os.urandom(3000)) == 400             # right size, wrong bytes
    assert not (objects / action["oid"]).exists()
    assert not [p for p in objects.iterdir() if p.name.startswith(".blob.")]   # no temp file left
    assert _put(strict, href, data) == 200
    assert (objects / action["oid"]).read_bytes() == data
    assert "actions" not in _batch(strict, "team/lfs", data)       # stored and intact: nothing to upload
    blob = objects / action["oid"]
    blob.write_bytes(bytes([data[0] ^ 1]) + data[1:])              # a bit flip on disk
    assert "actions" in _batch(strict, "team/lfs", data)           # ... is uploaded again, not trusted


def test_preupload_sends_binary_files_through_lfs(strict):
    _make_repo(strict, "team/modes")
    files = [{"path": "w.h5", "size": 10, "sample": base64.b64encode(b"\x89HDF\r\n\x1a\n\x00\x00").decode()},
             {"path": "c.json", "size": 10, "sample": base64.b64encode(b'{"a": 1}  ').decode()},
             {"path": "big.json", "size": 5 << 20, "sample": base64.b64encode(b"{}").decode()}]
    status, _, answer = _request(strict, _post("/api/models/team/modes/preupload/main",
                                               json.dumps({"files": files}).encode()))
    assert status == 200
    assert {f["path"]: f["uploadMode"] for f in json.loads(answer)["files"]} == {
        "w.h5": "lfs", "c.json": "regular", "big.json": "lfs"}


def test_a_file_over_the_limit_is_refused_by_the_batch_api_as_a_hub_error(strict, tiny_keras, isolated_home,
                                                                         monkeypatch):
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    with pytest.raises(hub.HubError, match="refused an upload"):     # the weights are ~16 KB, the limit 8 KiB
        hub.publish(tiny_keras, "team/too-big", tag="v1", hub=strict.url)
    refs = json.loads((strict.root / "models/team/too-big/refs.json").read_text())
    assert refs["tags"] == {} and "main" not in refs["heads"]


# ---- a server that dies mid-answer ----------------------------------------------------------------------

def test_a_server_dying_mid_answer_is_a_hub_error(tiny_keras, isolated_home, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.5)
    stop = threading.Event()

    def die_on_every_request():
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(10)
                try:
                    conn.recv(65536)                       # read the request, then die without answering
                except OSError:
                    pass

    thread = threading.Thread(target=die_on_every_request, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        with pytest.raises(hub.HubError) as info:
            hub.publish(tiny_keras, "team/dies", tag="v1", hub=url)
        assert "team/dies@v1" in str(info.value)
    finally:
        stop.set()
        thread.join(10)
        listener.close()


def test_wait_until_serving_sees_a_listener_and_a_dead_server():
    """Scripts and tests wait for a served hub with `hub.server.wait_until_serving`: True once the port
    accepts connections; False (without waiting out its limit) when the server process has exited."""
    import subprocess
    import sys
    import time

    from hub.server import wait_until_serving

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        assert wait_until_serving(listener.getsockname()[1], timeout=60)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        free = s.getsockname()[1]        # nothing listens here once the socket is closed
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    started = time.monotonic()
    assert wait_until_serving(free, dead, timeout=600) is False
    assert time.monotonic() - started < 300     # it returned at once (~0.1 s), not at its 600 s limit
