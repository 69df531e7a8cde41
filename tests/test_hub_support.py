"""Shared helpers of the hub tests (no tests here): a tiny encoder file, a served hub, subprocess env."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from hub.server import wait_until_serving

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "fzt_test_SECRET_token_0123456789"
REPO = "team/tiny-enc"


def subprocess_env(**extra) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    env.update({k: str(v) for k, v in extra.items()})
    return env


def second_loopback() -> str:
    """127.0.0.2, "another client" on loopback (Linux routes all of 127/8); the test skips where it is absent."""
    try:
        with socket.socket() as s:
            s.bind(("127.0.0.2", 0))
    except OSError:
        pytest.skip("needs a second loopback address (127.0.0.2) to play another client")
    return "127.0.0.2"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def tiny_keras(tmp_path_factory) -> Path:
    """A tiny encoder saved as a `.keras` file (16 px, a few layers)."""
    import keras
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(4, 3, strides=2, padding="same", activation="relu")(inputs)
    x = keras.layers.Conv2D(8, 3, strides=2, padding="same")(x)
    model = keras.Model(inputs, x, name="tiny_encoder")
    path = tmp_path_factory.mktemp("model") / "encoder.keras"
    model.save(path)
    return path


class Server:
    """`facezoo hub serve` in a subprocess, through the recipe, on a free port."""

    def __init__(self, root: Path, token_file: Path, public_read=False, port=None, extra_args=()):
        self.root, self.port = root, port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = root.parent / f"server-{self.port}.log"
        cmd = [sys.executable, "-m", "recipes.hub_cmd", "serve", "--root", str(root), "--port", str(self.port),
               "--token-file", str(token_file), "--verbose"]
        if public_read:
            cmd.append("--public-read")
        cmd += list(extra_args)
        self._log = open(self.log, "w")
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=subprocess_env(), stdout=self._log,
                                     stderr=subprocess.STDOUT)
        if not wait_until_serving(self.port, self.proc):
            raise RuntimeError("hub server did not start: " + self.log.read_text())

    def stop(self) -> str:
        self.proc.terminate()
        self.proc.wait(10)
        self._log.close()
        return self.log.read_text()


@pytest.fixture(scope="session")
def served(tmp_path_factory):
    """A running server over a fresh hub directory; yields the Server."""
    base = tmp_path_factory.mktemp("served")
    token_file = base / "tokens.txt"
    token_file.write_text(f"# team tokens\n{TOKEN}\n")
    server = Server(base / "root", token_file)
    yield server
    server.stop()
