"""Issue 29 findings against `facezoo hub serve` (H4, H10 and the Low items), in raw HTTP on loopback.

The server runs in this process (`hub.server.make_server` on a thread): public reads, a token file, a 2 s
idle timeout. A second loopback address (127.0.0.2; Linux routes all of 127/8) plays "another client".
"""
from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from pathlib import Path

import pytest

import hub
from hub.local import LocalHub
from hub.server import make_server
from test_hub_support import TOKEN, second_loopback

AUTH = f"Authorization: Bearer {TOKEN}\r\n"


class InProcess:
    def __init__(self, root: Path, token_file: Path, **kw):
        self.root, self.token_file = root, token_file
        self.server = make_server(root, port=0, token_file=token_file, public_read=True, idle_timeout=2, **kw)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        hub.server.wait_until_serving(self.port, timeout=60)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    base = tmp_path_factory.mktemp("round2")
    token_file = base / "tokens.txt"
    token_file.write_text(TOKEN + "\n")
    server = InProcess(base / "root", token_file, max_conns_per_client=16)
    yield server
    server.close()


def _connect(server, source=None, timeout=60) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=timeout,
                                    source_address=(source, 0) if source else None)


def _read_response(sock) -> tuple[int | None, bytes]:
    data = b""
    try:
        while b"\r\n\r\n" not in data:
            piece = sock.recv(65536)
            if not piece:
                return None, data
            data += piece
    except ConnectionResetError:
        return None, data
    head, _, rest = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length":
            length = int(v)
    while len(rest) < length:
        piece = sock.recv(65536)
        if not piece:
            break
        rest += piece
    return int(head.split()[1]), rest


def _request(server, raw: bytes, source=None) -> tuple[int | None, bytes]:
    with _connect(server, source) as sock:
        sock.sendall(raw)
        return _read_response(sock)


def _post(path: str, body: bytes, auth=True) -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{AUTH if auth else ''}"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


WHOAMI = f"GET /api/whoami-v2 HTTP/1.1\r\nHost: x\r\n{AUTH}\r\n".encode()


def test_h4_a_flood_from_one_address_leaves_another_client_served(srv):
    flood = []
    try:
        for _ in range(300):                        # idle connections, as in the probe (1,000 there)
            flood.append(_connect(srv))
        assert _request(srv, WHOAMI, source=second_loopback())[0] == 200
        for _ in range(5):                          # and the flood keeps reconnecting: still served
            flood.append(_connect(srv))
            assert _request(srv, WHOAMI, source=second_loopback())[0] == 200
        # the flooding address itself holds at most 16 connections: a new request from it is closed unanswered
        assert _request(srv, WHOAMI)[0] is None
        # the short header deadline closes the idle ones it does hold
        for sock in flood:
            try:
                assert sock.recv(1024) == b""
            except ConnectionResetError:
                pass
    finally:
        for sock in flood:
            sock.close()
    assert _request(srv, WHOAMI)[0] == 200           # and once they are gone it is served again


def test_h10_anonymous_bodies_are_capped_at_a_few_kib(srv):
    big = json.dumps({"content": "x" * (60 << 10)}).encode()
    small = json.dumps({"content": "x" * 1000}).encode()
    assert _request(srv, _post("/api/validate-yaml", big, auth=False))[0] == 413
    assert _request(srv, _post("/api/validate-yaml", small, auth=False))[0] == 200
    assert _request(srv, _post("/api/validate-yaml", big, auth=True))[0] == 200


def test_low_a_body_sent_one_byte_per_idle_period_is_cut(srv):
    sock = _connect(srv)
    sock.sendall(f"POST /api/repos/create HTTP/1.1\r\nHost: x\r\n{AUTH}Content-Length: 100\r\n\r\n".encode())
    sent, stop = [], threading.Event()

    def drip():
        for _ in range(60):                         # one byte every 0.5 s, inside the 2 s idle timeout
            if stop.wait(0.5):
                return
            try:
                sock.sendall(b"{")
            except OSError:
                return
            sent.append(1)
    t = threading.Thread(target=drip, daemon=True)
    t.start()
    status, body = _read_response(sock)
    stop.set()
    t.join(5)
    sock.close()
    assert status == 408 and b"slowly" in body
    assert len(sent) < 60                           # cut while still dripping, not after it stopped


def test_low_a_non_ascii_signature_is_403_not_500(srv, caplog):
    LocalHub(srv.root).create_repo("team/sig")
    oid = "a" * 64
    path = f"/team/sig.git/info/lfs/objects/{oid}/5?expires=9999999999&signature=%C3%A9%C3%A9"
    caplog.set_level(logging.INFO, logger="facezoo.hub.server")
    raw = f"PUT {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n".encode() + b"hello"
    raw = raw.replace(b"%C3%A9%C3%A9", "éé".encode("utf-8"))
    status, _ = _request(srv, raw)
    assert status in (400, 403)
    status, _ = _request(srv, f"PUT {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello".encode())
    assert status == 403
    assert "Traceback" not in caplog.text and "internal error" not in caplog.text


def test_low_stale_blob_temp_files_are_swept_at_start_and_on_publish(tmp_path, tiny_keras, isolated_home):
    root = tmp_path / "hubdir"
    hub.publish(tiny_keras, "team/sweep", tag="v1", hub=str(root))
    objects = root / "models/team/sweep/objects"
    old, fresh = objects / ".blob.killed.tmp", objects / ".blob.live.tmp"
    old.write_bytes(b"half")
    fresh.write_bytes(b"live")
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    hub.publish(tiny_keras, "team/sweep", tag="v2", hub=str(root), metadata={"n": 2})
    assert not old.exists() and fresh.exists()
    old.write_bytes(b"half")
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    token_file = tmp_path / "t.txt"
    token_file.write_text(TOKEN)
    make_server(root, port=0, token_file=token_file).server_close()     # built, never run: swept at start
    assert not old.exists() and fresh.exists()


def test_low_a_repo_without_organization_is_refused(srv):
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError
    with pytest.raises(HfHubHTTPError) as info:
        HfApi(endpoint=srv.url, token=TOKEN).create_repo("noorg")
    assert info.value.response.status_code == 400
    assert not (srv.root / "models" / "None").exists()


def test_low_links_out_of_the_root_are_refused(tmp_path, tiny_keras, isolated_home):
    root = tmp_path / "hubdir"
    outside = tmp_path / "outside"
    hub.publish(tiny_keras, "team/real", tag="v1", hub=str(outside))
    (root / "models" / "team").mkdir(parents=True)
    os.symlink(outside / "models/team/real", root / "models/team/linked")       # a symlinked repository
    with pytest.raises(hub.HubError, match="outside the hub folder"):
        hub.pull("team/linked", "v1", hub=str(root))
    hub.publish(tiny_keras, "team/objs", tag="v1", hub=str(root))
    victim = tmp_path / "elsewhere"
    victim.mkdir()
    objs = root / "models/team/objs/objects"
    for p in objs.iterdir():
        p.unlink()
    objs.rmdir()
    os.symlink(victim, objs)                                                    # a symlinked objects/
    before = sorted(victim.iterdir())
    with pytest.raises(hub.HubError, match="outside the hub folder"):
        hub.publish(tiny_keras, "team/objs", tag="v2", hub=str(root), metadata={"n": 2})
    assert sorted(victim.iterdir()) == before


def test_low_a_header_block_over_64_kib_is_refused(srv):
    raw = f"GET /api/whoami-v2 HTTP/1.1\r\nHost: x\r\n{AUTH}X-Pad: {'a' * (110 << 10)}\r\n\r\n".encode()
    status, _ = _request(srv, raw)
    assert status in (400, 431)
    assert _request(srv, WHOAMI)[0] == 200


def test_low_an_lfs_batch_is_capped_and_deduplicated(srv):
    LocalHub(srv.root).create_repo("team/batch", exist_ok=True)

    def batch(objects):
        body = json.dumps({"operation": "upload", "transfers": ["basic"], "objects": objects}).encode()
        return _request(srv, _post("/team/batch.git/info/lfs/objects/batch", body))
    one = {"oid": "b" * 64, "size": 10}
    status, body = batch([one] * 200)
    assert status == 200 and len(json.loads(body)["objects"]) == 1
    status, _ = batch([{"oid": f"{i:064x}", "size": 10} for i in range(257)])
    assert status == 413


def test_low_a_token_file_deleted_while_serving_is_503_with_a_log_line(tmp_path, caplog):
    token_file = tmp_path / "tokens.txt"
    token_file.write_text(TOKEN + "\n")
    server = InProcess(tmp_path / "root", token_file)
    try:
        assert _request(server, WHOAMI)[0] == 200
        token_file.unlink()
        caplog.set_level(logging.INFO, logger="facezoo.hub.server")
        assert _request(server, WHOAMI)[0] == 503
        assert "token file" in caplog.text and "Traceback" not in caplog.text
    finally:
        server.close()
