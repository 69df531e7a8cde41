"""TensorFlow's oneDNN CPU kernels on and off: images/s of facezoo's compiled train steps, side by side.

TensorFlow enables oneDNN by default only on some Intel CPUs; on others (this machine's AMD EPYC) it
runs plain Eigen kernels. `import zoo` sets TF_ENABLE_ONEDNN_OPTS=1 unless the user chose a value. This
script measures why: each case runs in a fresh process (the variable is read once, when TensorFlow
loads) with the variable at 0 and at 1, the two alternating for `--rounds` rounds, each side keeping its
best round so load from other jobs hits both alike. A case is the compiled train step of a model on one
in-memory batch (`train_on_batch`, after two warm-up steps): the pretraining model (`facezoo pretrain`'s
default heads) and the swap model (two decoders, both trained), for an encoder at a size.

    python benchmarks/onednn.py                          # writes benchmarks/results/onednn.json
    python benchmarks/onednn.py --cases pretrain:mobilenet-face:64 --rounds 1 --no-write
"""
import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CASES = ["pretrain:mobilenet-face:64", "pretrain:mobilenet-face:128", "pretrain:effnet-face-v2:64",
         "swap:mobilenet-face:64", "swap:effnet-face-v2:64"]

CHILD = r"""
import json, sys, time
import numpy as np
kind, encoder, size, batch, steps = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
import zoo
from zoo import compiling
rng = np.random.default_rng(0)
if kind == "pretrain":
    from zoo.pretrain import PretrainConfig, build_pretrain_model
    from zoo.pretrain.trainer import _compile
    config = PretrainConfig(size=size, batch_size=batch)
    model = build_pretrain_model(zoo.build_encoder(encoder, input_size=size), 64, heads=config.heads, size=size,
                                 code_dim=config.code_dim, film_scales=config.film_scales,
                                 decoder_width=config.decoder_width, inter=config.inter,
                                 inter_channels=config.inter_channels, bottleneck=config.bottleneck)
    _compile(model, config)
    x = {"face": rng.random((batch, size, size, 3), np.float32),
         "identity": rng.integers(0, 64, (batch, 1)).astype(np.int32)}
    y = rng.random((batch, size, size, 4), np.float32)
else:
    from zoo.training.config import TrainConfig
    config = TrainConfig()
    model = zoo.build_swap_model(zoo.build_encoder(encoder, input_size=size), identities=["a", "b"])
    loss = compiling.face_loss(config, size)
    compiling.compile_for_training(model, config, loss={k: loss for k in model.identities}, encoder=model.encoder)
    x = {k: rng.random((batch, size, size, 3), np.float32) for k in model.identities}
    y = {k: rng.random((batch, size, size, 4), np.float32) for k in model.identities}
    batch = 2 * batch  # images per step: a batch of each identity
for _ in range(2):
    model.train_on_batch(x, y)
start = time.perf_counter()
for _ in range(steps):
    model.train_on_batch(x, y)
print(json.dumps({"images_per_s": steps * batch / (time.perf_counter() - start)}))
"""


def run_case(case: str, onednn: str, batch: int, steps: int) -> float:
    kind, encoder, size = case.split(":")
    env = {**os.environ, "TF_ENABLE_ONEDNN_OPTS": onednn, "TF_CPP_MIN_LOG_LEVEL": "3",
           "KERAS_BACKEND": "tensorflow", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", CHILD, kind, encoder, size, str(batch), str(steps)],
                          env=env, capture_output=True, text=True, timeout=1800)
    if proc.returncode != 0:
        raise SystemExit(f"{case} (oneDNN {onednn}) failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])["images_per_s"]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cases", nargs="+", default=CASES, help="KIND:ENCODER:SIZE, KIND pretrain or swap")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--steps", type=int, default=6, help="timed steps per round")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--no-write", action="store_true")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "onednn.json"))
    args = p.parse_args()
    sys.path.insert(0, str(ROOT))
    from zoo.bench.provenance import git_commit

    rows = []
    print("| case | oneDNN off (images/s) | oneDNN on | on/off | load |")
    print("|---|---|---|---|---|")
    for case in args.cases:
        best = {"0": 0.0, "1": 0.0}
        load0 = os.getloadavg()[0]
        for _ in range(args.rounds):
            for onednn in ("0", "1"):
                best[onednn] = max(best[onednn], run_case(case, onednn, args.batch, args.steps))
        row = {"case": case, "off_images_per_s": round(best["0"], 2), "on_images_per_s": round(best["1"], 2),
               "speedup": round(best["1"] / best["0"], 2), "load": [round(load0, 2), round(os.getloadavg()[0], 2)]}
        rows.append(row)
        print(f"| {case} | {row['off_images_per_s']} | {row['on_images_per_s']} | {row['speedup']}x | "
              f"{row['load'][0]} |", flush=True)
    if not args.no_write:
        from zoo.io import write_json
        cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
                   "unknown") if os.path.exists("/proc/cpuinfo") else "unknown"
        write_json(Path(args.out), {"benchmark": "onednn", "commit": git_commit(), "cpu": cpu,
                                    "cores": os.cpu_count(), "batch": args.batch, "steps": args.steps,
                                    "rounds": args.rounds, "rows": rows,
                                    "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
