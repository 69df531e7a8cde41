"""Load and memory of `facezoo hub serve`, bounded (`python benchmarks/hub_load.py`).

1. Load: --clients concurrent clients (threads sharing one HF cache, as processes of one user do) publish and pull releases of a
   small encoder through the real `huggingface_hub` client against one server, for --seconds. Prints
   requests/s (from the server's request log), server-side p50/p99 latency per request, client-side
   p50/p99 per publish and per pull, errors, the server's idle and peak RSS, and a consistency check of
   every ref afterwards: each branch and tag is pulled cold and every file's sha256 checked against its
   manifest (hub.pull), and every stored blob is re-hashed against its name.
2. Big release: a ~--big-mb MB encoder published and pulled through a fresh server (LFS upload path,
   streamed download). Prints the server's idle and peak RSS; target: growth under 100 MB, because no
   file is ever held whole in memory.

The server runs as `python -m recipes.hub_cmd serve` in a subprocess; RSS is read from /proc (VmRSS at
idle, VmHWM = peak). Every loop is bounded by the deadline; the servers are always stopped.
"""
from __future__ import annotations

import argparse
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
from hub.server import wait_until_serving  # noqa: E402 (after the path set-up)

TOKEN = "bench-token-0123456789abcdef"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _proc_kb(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


class ServedHub:
    """`facezoo hub serve` in a subprocess on a free port, logging each request with its duration."""

    def __init__(self, work: Path, name: str):
        self.root, self.port = work / name, _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = work / f"{name}.log"
        self._log = open(self.log_path, "w")
        env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "recipes.hub_cmd", "serve", "--root", str(self.root), "--port", str(self.port),
             "--token-file", str(work / "tokens"), "--verbose"],
            cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT)
        if not wait_until_serving(self.port, self.proc):
            raise RuntimeError("hub server did not start: " + self.log_path.read_text())
        time.sleep(1.0)
        self.idle_kb = _proc_kb(self.proc.pid, "VmRSS")

    def peak_kb(self) -> int:
        return _proc_kb(self.proc.pid, "VmHWM")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        self._log.close()

    def request_log(self) -> list[tuple[str, int, float]]:
        """[(method, status, milliseconds)] of every request the server logged."""
        out = []
        for line in self.log_path.read_text().splitlines():
            parts = line.split()
            if len(parts) >= 4 and parts[-1].endswith("ms") and parts[-4] in ("GET", "HEAD", "POST", "PUT", "DELETE"):
                out.append((parts[-4], int(parts[-2]), float(parts[-1][:-2])))
        return out


def _pct(values, q) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q / 100 * len(values)))] if values else float("nan")


def _by_status(requests) -> dict:
    out = {}
    for _, status, _ in requests:
        if status >= 300:
            out[status] = out.get(status, 0) + 1
    return out


def _tiny_encoder(path: Path) -> Path:
    import keras
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Conv2D(32, 3, strides=2, padding="same", activation="relu")(inputs)
    x = keras.layers.Conv2D(64, 3, strides=2, padding="same")(x)
    keras.Model(inputs, x, name="load_encoder").save(path)
    return path


def load_test(work: Path, clients: int, seconds: float, repos: int) -> None:
    import hub
    from hub.local import LocalHub

    model = _tiny_encoder(work / "encoder.keras")
    server = ServedHub(work, "load")
    try:
        names = [f"load/enc-{i}" for i in range(repos)]
        for name in names:
            hub.publish(model, name, tag="seed", hub=server.url)
        tags = {name: ["seed"] for name in names}
        lock = threading.Lock()
        timings = {"publish": [], "pull": []}
        errors = []
        deadline = time.time() + seconds

        def client(c: int) -> None:
            rng = random.Random(c)
            i = 0
            while time.time() < deadline:
                repo = rng.choice(names)
                t = time.perf_counter()
                try:
                    if rng.random() < 0.3:
                        tag = f"c{c}-{i}"
                        hub.publish(model, repo, tag=tag, hub=server.url, metadata={"client": c, "i": i})
                        with lock:
                            tags[repo].append(tag)
                        kind = "publish"
                    else:
                        with lock:
                            tag = rng.choice(tags[repo] + ["main"])
                        hub.pull(repo, tag, hub=server.url)
                        kind = "pull"
                    with lock:
                        timings[kind].append(time.perf_counter() - t)
                except Exception as exc:  # counted and shown, never hidden
                    with lock:
                        errors.append(f"client {c}: {type(exc).__name__}: {str(exc)[:200]}")
                i += 1

        started = time.time()
        with ThreadPoolExecutor(clients) as pool:
            list(pool.map(client, range(clients)))
        elapsed = time.time() - started
        peak = server.peak_kb()
        requests = server.request_log()

        # consistency: every ref of every repository pulls cold and verifies; every blob hashes to its name
        os.environ["HF_HUB_CACHE"] = str(work / "hf-check")
        local = LocalHub(server.root)
        refs_checked, bad = 0, []
        for name in names:
            refs = local.refs(name)
            for kind, table in refs.items():
                for ref_name, commit in table.items():
                    refs_checked += 1
                    try:
                        snap = hub.pull(name, ref_name, hub=server.url)
                        if snap.revision != commit:
                            bad.append(f"{name}@{ref_name}: pulled {snap.revision}, ref says {commit}")
                    except Exception as exc:
                        bad.append(f"{name}@{ref_name}: {type(exc).__name__}: {exc}")
            objects = server.root / "models" / name / "objects"
            for blob in objects.iterdir():
                if not blob.name.startswith(".") and not local.blob_is_intact(name, blob.name):
                    bad.append(f"{name}: blob {blob.name[:12]} does not hash to its name")
        staging = [b for name in names for b in local.refs(name)["heads"] if b.startswith("facezoo-staging-")]
    finally:
        server.stop()

    ms = [r[2] for r in requests]
    print(f"load test: {clients} clients, {elapsed:.1f} s, {repos} repositories, one server")
    print(f"  requests           {len(requests)} ({len(requests) / elapsed:.1f} req/s), "
          f"non-2xx by status: {_by_status(requests)} (409: create_repo(exist_ok=True) on an existing repo)")
    print(f"  server latency     p50 {_pct(ms, 50):.1f} ms, p99 {_pct(ms, 99):.1f} ms per request")
    for kind in ("publish", "pull"):
        values = timings[kind]
        print(f"  client {kind:<8}    {len(values)} done, p50 {_pct(values, 50) * 1000:.0f} ms, "
              f"p99 {_pct(values, 99) * 1000:.0f} ms")
    print(f"  errors             {len(errors)}")
    for line in errors[:10]:
        print(f"    {line}")
    print(f"  server RSS         idle {server.idle_kb / 1024:.1f} MB, peak {peak / 1024:.1f} MB")
    print(f"  consistency        {refs_checked} refs pulled and verified, {len(bad)} problems, "
          f"{len(staging)} staging branches left")
    for line in bad[:10]:
        print(f"    {line}")


def big_release(work: Path, mb: float) -> None:
    import keras

    import hub
    width = int((mb * 1e6 / 4) ** 0.5)
    model = keras.Sequential([keras.Input((width,)), keras.layers.Dense(width, use_bias=False),
                              keras.layers.Dense(8)])
    folder = work / "big.keras"
    model.save(folder)
    del model
    server = ServedHub(work, "big")
    try:
        t = time.perf_counter()
        rel = hub.publish(folder, "big/enc", tag="v1", hub=server.url)
        t_pub = time.perf_counter() - t
        after_publish = server.peak_kb()
        os.environ["HF_HUB_CACHE"] = str(work / "hf-big")
        t = time.perf_counter()
        snap = hub.pull("big/enc", "v1", hub=server.url)
        t_pull = time.perf_counter() - t
        peak = server.peak_kb()
        size = sum(p.stat().st_size for p in snap.path.iterdir() if p.is_file())
        modes = [r for r in server.request_log() if r[0] == "PUT"]
    finally:
        server.stop()
    print(f"big release: {size / 1e6:.1f} MB (commit {rel.revision[:12]}), published in {t_pub:.1f} s "
          f"({len(modes)} LFS PUT), pulled cold in {t_pull:.1f} s, every sha256 verified")
    print(f"  server RSS         idle {server.idle_kb / 1024:.1f} MB, peak after publish "
          f"{after_publish / 1024:.1f} MB, peak after pull {peak / 1024:.1f} MB, "
          f"growth {(peak - server.idle_kb) / 1024:.1f} MB (target < 100 MB)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--repos", type=int, default=4, help="repositories the clients share")
    parser.add_argument("--big-mb", type=float, default=200.0, help="size of the big release (0: skip)")
    parser.add_argument("--skip-load", action="store_true")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="facezoo-hub-load-"))
    os.environ["FACEZOO_HOME"] = str(work / "fz")
    os.environ["HF_HOME"] = str(work / "hf")
    os.environ["HF_TOKEN"] = TOKEN
    (work / "tokens").write_text(TOKEN + "\n")
    os.chmod(work / "tokens", 0o600)
    if not args.skip_load:
        load_test(work, args.clients, args.seconds, args.repos)
    if args.big_mb > 0:
        big_release(work, args.big_mb)
    return 0


if __name__ == "__main__":
    sys.exit(main())
