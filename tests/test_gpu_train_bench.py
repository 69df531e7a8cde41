"""`benchmarks/gpu_train.py --tiny` keeps working: a table per backend, FLOPs counted, the data pipeline measured."""
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_gpu_train_tiny(tmp_path):
    backends = [b for b in ("jax", "torch") if importlib.util.find_spec(b) is not None]
    # OMP_NUM_THREADS=1: see tests/test_torch.py (torch's OpenMP threads on a loaded 2-core machine).
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "benchmarks/gpu_train.py", "--tiny", "--out", str(tmp_path)],
                         cwd=REPO, env=env, capture_output=True, text=True, timeout=1200)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
    [table] = tmp_path.glob("gpu_train-*-tiny.json")
    data = json.loads(table.read_text())
    rows = data["rows"]
    assert sorted({r["backend"] for r in rows}) == backends
    for row in rows:
        assert "error" not in row, row
        assert row["step_ms"] > 0 and row["images_per_s"] > 0
        assert row["step_tflop"] and row["step_tflop"] > 0, f"no FLOP count: {row}"
        assert row["device"].startswith("CPU") and row["mfu"] is None   # no peak for a CPU: MFU left blank
    assert {(r["model"], r["backend"]) for r in rows} == {(m, b) for m in ("swap", "pretrain") for b in backends}
    [pipe] = data["pipeline"]
    assert pipe["swap_images_per_s"] > 0 and pipe["pretrain_images_per_s"] > 0
    text = table.with_suffix(".md").read_text()
    assert "| backend | model |" in text and "Data pipeline vs the accelerator" in text and "CPU" in text
