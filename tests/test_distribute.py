"""Data-parallel pretraining across processes: two workers on 127.0.0.1 per engine (JAX, TensorFlow).

Each engine: the two-process loss curve matches a one-process run of the same global batch; only the
chief (process 0) writes the run folder and publishes; a killed worker makes the job fail with a clear
error within a bound instead of hanging. Workers are real `python -m recipes.pretrain_encoder`
processes; every one is killed in a `finally`, whatever happens.
"""
import csv
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from zoo.distribute import Cluster, DistributedConfigError, cluster_from_env, local_rows

ROOT = Path(__file__).resolve().parent.parent
# Generous bounds for a loaded 2-core machine: start-up (TF import, compile) can take minutes there.
RUN_TIMEOUT = 900
LOST_WORKER_BOUND = 300   # seconds from the kill to the chief's exit (heartbeat 30 s + start-up slack)


# --- the cluster environment (fast) ----------------------------------------------------------------------

def test_cluster_from_env(monkeypatch):
    for name in ("KERAS_DISTRIBUTION_NUM_PROCESSES", "KERAS_DISTRIBUTION_PROCESS_ID",
                 "KERAS_DISTRIBUTION_JOB_ADDRESSES", "TF_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    assert cluster_from_env("jax") == Cluster(None) and cluster_from_env("tensorflow") == Cluster(None)
    monkeypatch.setenv("KERAS_DISTRIBUTION_NUM_PROCESSES", "2")
    monkeypatch.setenv("KERAS_DISTRIBUTION_PROCESS_ID", "1")
    monkeypatch.setenv("KERAS_DISTRIBUTION_JOB_ADDRESSES", "10.0.0.1:1234,10.0.0.2:1234")
    cluster = cluster_from_env("jax")
    assert cluster == Cluster("jax", 2, 1, "10.0.0.1:1234") and cluster.multi and not cluster.is_chief
    monkeypatch.setenv("KERAS_DISTRIBUTION_PROCESS_ID", "2")
    with pytest.raises(DistributedConfigError, match="outside 0..1"):
        cluster_from_env("jax")
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": {"worker": ["a:1", "b:2"]},
                                                "task": {"type": "worker", "index": 0}}))
    assert cluster_from_env("tensorflow") == Cluster("tensorflow", 2, 0, "a:1")
    monkeypatch.setenv("TF_CONFIG", "{not json")
    with pytest.raises(DistributedConfigError, match="TF_CONFIG is not valid"):
        cluster_from_env("tensorflow")


def test_local_rows_split_the_global_batch():
    rows = [local_rows(8, Cluster("jax", 2, i, "h:1")) for i in (0, 1)]
    assert rows == [slice(0, 4), slice(4, 8)]
    assert local_rows(8, Cluster("tensorflow", 2, 1, "h:1")) == slice(0, 8)  # TF shards the whole batch
    with pytest.raises(DistributedConfigError, match="multiple of the 2 processes"):
        local_rows(7, Cluster("jax", 2, 0, "h:1"))


# --- two worker processes per engine (slow) ------------------------------------------------------------

def _free_ports(count):
    """Ports the kernel just handed out on 127.0.0.1 (all held open together, so they differ)."""
    socks = [socket.socket() for _ in range(count)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _cluster_env(backend, ports, index):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("KERAS_DISTRIBUTION_") and k != "TF_CONFIG"}
    env.update(KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="2", FACEZOO_PEER_TIMEOUT="30", PYTHONUNBUFFERED="1",
               PYTHONPATH=os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]))
    if backend == "jax":
        env.update(KERAS_DISTRIBUTION_JOB_ADDRESSES=f"127.0.0.1:{ports[0]}",
                   KERAS_DISTRIBUTION_NUM_PROCESSES=str(len(ports)), KERAS_DISTRIBUTION_PROCESS_ID=str(index))
    else:
        env["TF_CONFIG"] = json.dumps({"cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]},
                                       "task": {"type": "worker", "index": index}})
    return env


@pytest.fixture(scope="module")
def parent_encoder(tmp_path_factory):
    """A tiny BatchNorm-free encoder file: TF MultiWorkerMirroredStrategy normalises per replica, so
    exact equivalence with one process needs no batch statistics (docs/pretraining.md)."""
    import keras
    from keras import layers
    inp = keras.Input((32, 32, 3), name="face")
    x = layers.Conv2D(16, 3, strides=2, padding="same", activation="relu", name="c1")(inp)
    x = layers.Conv2D(32, 3, strides=2, padding="same", activation="relu", name="c2")(x)
    x = layers.Conv2D(32, 3, strides=2, padding="same", activation="relu", name="c3")(x)
    path = tmp_path_factory.mktemp("parent") / "tiny.keras"
    keras.Model(inp, x, name="tiny_encoder").save(path)
    return path


def _pretrain_args(parent, run, hub, steps, eval_steps=2):
    return [sys.executable, "-m", "recipes.pretrain_encoder", "--corpus", "synthetic:20", "--parent", str(parent),
            "--size", "32", "--steps", str(steps), "--batch-size", "8", "--chunk", "1", "--checkpoint-every", "2",
            "--decoder-width", "16", "--lr", "1e-3", "--holdout", "2", "--eval-steps", str(eval_steps),
            "--eval-images", "3", "--run", str(run), "--publish", "team/dp", "--tag", "v1", "--hub", str(hub)]


class _Workers:
    """Worker processes with their output in files; `stop()` kills every one still alive."""

    def __init__(self, tmp_path):
        self.tmp_path = tmp_path
        self.procs = []

    def start(self, name, args, env):
        log = open(self.tmp_path / f"{name}.log", "w")
        proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        log.close()
        self.procs.append((name, proc))
        return proc

    def log(self, name):
        return (self.tmp_path / f"{name}.log").read_text(errors="replace")

    def wait_all(self, timeout):
        deadline = time.monotonic() + timeout
        for name, proc in self.procs:
            try:
                proc.wait(timeout=max(1.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pytest.fail(f"{name} still running after {timeout} s:\n{self.log(name)[-3000:]}")

    def stop(self):
        for _, proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def _losses(run):
    with open(run / "losses.csv") as f:
        return [(int(r["step"]), float(r["loss"])) for r in csv.DictReader(f)]


def _two_workers_match_one_process(tmp_path, parent, backend):
    ports = _free_ports(2)
    single, chief, other = tmp_path / "single", tmp_path / "chief", tmp_path / "worker1"
    workers = _Workers(tmp_path)
    try:
        for i, run in enumerate((chief, other)):
            workers.start(f"worker{i}", _pretrain_args(parent, run, run.with_suffix(".hub"), 4) +
                          ["--distribute", "data-parallel"], _cluster_env(backend, ports, i))
        # The reference, alongside: one process, the same global batch, no cluster variables.
        env = {k: v for k, v in _cluster_env(backend, ports, 0).items()
               if not k.startswith("KERAS_DISTRIBUTION_") and k != "TF_CONFIG"}
        workers.start("single", _pretrain_args(parent, single, tmp_path / "single.hub", 4, eval_steps=0), env)
        workers.wait_all(RUN_TIMEOUT)
    finally:
        workers.stop()
    for name, proc in workers.procs:
        assert proc.returncode == 0, f"{name}:\n{workers.log(name)[-4000:]}"
    assert "worker 1 of 2 done" in workers.log("worker1")

    two, ref = _losses(chief), _losses(single)
    assert [s for s, _ in two] == [s for s, _ in ref] == [1, 2, 3, 4]
    np.testing.assert_allclose([v for _, v in two], [v for _, v in ref], rtol=2e-3, atol=2e-4)
    # The chief wrote the run and published once; the other worker wrote nothing at all.
    result = json.loads((chief / "pretrain.json").read_text())
    assert result["step"] == 4 and result["release"]["tag"] == "v1" and result["distribute"] == "data-parallel"
    assert (chief / "encoder.keras").exists() and json.loads((chief / "state.json").read_text())["step"] == 4
    assert not other.exists() or not any(other.rglob("*")), sorted(other.rglob("*"))
    assert not other.with_suffix(".hub").exists()
    import hub
    snap = hub.pull("team/dp", "v1", hub=str(chief.with_suffix(".hub")))
    assert json.loads((Path(snap.path) / "facezoo.json").read_text())["training"]["steps"] == 4


def _killed_worker_fails_the_job(tmp_path, parent, backend):
    ports = _free_ports(2)
    chief = tmp_path / "chief"
    workers = _Workers(tmp_path)
    try:
        procs = [workers.start(f"worker{i}", _pretrain_args(parent, run, tmp_path / f"hub{i}", 400, 0) +
                               ["--distribute", "data-parallel"], _cluster_env(backend, ports, i))
                 for i, run in enumerate((chief, tmp_path / "worker1"))]
        deadline = time.monotonic() + RUN_TIMEOUT
        while time.monotonic() < deadline and not (chief / "state.json").exists():
            if any(p.poll() is not None for p in procs):
                pytest.fail("a worker exited before the first checkpoint:\n"
                            + workers.log("worker0")[-3000:] + workers.log("worker1")[-3000:])
            time.sleep(0.5)
        assert (chief / "state.json").exists(), "no checkpoint before the deadline:\n" + workers.log("worker0")[-3000:]
        os.killpg(procs[1].pid, signal.SIGKILL)
        procs[1].wait()
        killed_at = time.monotonic()
        try:
            code = procs[0].wait(timeout=LOST_WORKER_BOUND)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the chief still runs {LOST_WORKER_BOUND} s after its peer was killed:\n"
                        + workers.log("worker0")[-3000:])
        waited = time.monotonic() - killed_at
    finally:
        workers.stop()
    out = workers.log("worker0")
    assert code != 0, out[-3000:]
    assert "facezoo: error: data-parallel training across 2 processes stopped at step" in out, out[-3000:]
    assert "restart every worker with --resume" in out
    assert json.loads((chief / "state.json").read_text())["step"] >= 2   # the last checkpoint stays usable
    print(f"{backend}: the chief failed {waited:.1f} s after its peer was killed")


@pytest.mark.slow
def test_two_tensorflow_workers_match_one_process(tmp_path, parent_encoder):
    _two_workers_match_one_process(tmp_path, parent_encoder, "tensorflow")


@pytest.mark.slow
def test_killed_tensorflow_worker_fails_the_job(tmp_path, parent_encoder):
    _killed_worker_fails_the_job(tmp_path, parent_encoder, "tensorflow")


@pytest.mark.slow
@pytest.mark.jax
def test_two_jax_workers_match_one_process(tmp_path, parent_encoder):
    pytest.importorskip("jax")
    _two_workers_match_one_process(tmp_path, parent_encoder, "jax")


@pytest.mark.slow
@pytest.mark.jax
def test_killed_jax_worker_fails_the_job(tmp_path, parent_encoder):
    pytest.importorskip("jax")
    _killed_worker_fails_the_job(tmp_path, parent_encoder, "jax")
