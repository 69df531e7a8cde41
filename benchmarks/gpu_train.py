"""Training throughput against the hardware: images/s, step time, achieved TFLOP/s and MFU, per backend.

For each backend (JAX, PyTorch; each in its own subprocess, as Keras fixes the backend at import) and
each precision, times the compiled training step of

- the swap model: `effnet-face-v2` encoder + two decoders (FaceLoss), at 128 and 256 px and a few
  batch sizes (images = both identities' faces);
- the pretraining model with conditioned heads (`zoo.pretrain`, 1,000 identities).

Model FLOPs are counted from the step itself, forward + backward: JAX from the compiled program's cost
analysis (`jax.jit(...).lower(...).compile().cost_analysis()`), PyTorch with
`torch.utils.flop_counter.FlopCounterMode` (matmuls and convolutions). MFU = achieved FLOP/s divided by
the chip's dense peak for the dtype (`PEAKS`; `--peak-tflops` for other chips; blank on CPUs).

Then the data pipeline: augmented swap images/s of `FaceDataset` and pretraining samples/s of the
synthetic corpus sampler, each through `zoo.data.pool.BatchPool` with all cores (the trainers' path),
against the fastest step's consumption at the same size ("keeps up" when the ratio is >= 1).

The table (markdown + JSON) goes to `benchmarks/results/gpu_train-<device>.{md,json}`.

    python benchmarks/gpu_train.py                       # the full run (for a GPU)
    python benchmarks/gpu_train.py --backends jax --precisions bf16 --sizes 256 --batches 32
    python benchmarks/gpu_train.py --tiny --out /tmp/gt  # CI: tiny models on the CPU, keeps the script working
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# Dense peak TFLOP/s per chip and dtype (vendor datasheets; fp32 = TF32 tensor cores where the
# backend's default matmul precision uses them: JAX and PyTorch with allow_tf32 set by this script).
PEAKS = {
    "H200": {"bf16": 989.4, "fp32": 494.7},
    "H100": {"bf16": 989.4, "fp32": 494.7},   # SXM
    "A100": {"bf16": 312.0, "fp32": 156.0},
    "L40S": {"bf16": 362.1, "fp32": 181.0},
    "A10G": {"bf16": 70.0, "fp32": 35.0},
}


def chip_peak(device: str, precision: str, override: float | None) -> float | None:
    if override:
        return float(override)
    for name, peaks in PEAKS.items():
        if name.lower() in device.lower():
            return peaks.get(precision)
    return None


# --- one backend (child process) ------------------------------------------------------------------------

def _device_name() -> str:
    import keras
    backend = keras.backend.backend()
    if backend == "jax":
        import jax
        dev = jax.devices()[0]
        if dev.platform != "cpu":
            return f"{dev.platform.upper()} {getattr(dev, 'device_kind', '')}".strip()
    if backend == "torch":
        import torch
        if torch.cuda.is_available():
            return f"GPU {torch.cuda.get_device_name(0)}"
    import platform
    return f"CPU {platform.processor() or platform.machine()} x{os.cpu_count()}"


def _swap_case(encoder: str, size: int, batch: int, width: int):
    """(model, inputs, targets, loss per output) of the swap model; `batch` faces per identity."""
    import numpy as np

    import zoo
    from zoo.losses import FaceLoss

    model = zoo.build_swap_model(zoo.build_encoder(encoder, input_size=size), ["a", "b"], decoder_width=width)
    rng = np.random.default_rng(0)
    x = {k: rng.random((batch, size, size, 3), dtype=np.float32) for k in ("a", "b")}
    y = {k: np.concatenate([v, np.ones(v.shape[:3] + (1,), np.float32)], -1) for k, v in x.items()}
    loss = FaceLoss(ssim_weight=0.5, mask_weight=0.5, ms_ssim=size >= 128)
    return model, x, y, {k: loss for k in ("a", "b")}, 2 * batch


def _pretrain_case(encoder: str, size: int, batch: int, width: int):
    import numpy as np

    import zoo
    from zoo.losses import FaceLoss
    from zoo.pretrain import build_pretrain_model

    model = build_pretrain_model(zoo.build_encoder(encoder, input_size=size), 1000, heads="conditioned",
                                 size=size, decoder_width=width)
    rng = np.random.default_rng(0)
    x = {"face": rng.random((batch, size, size, 3), dtype=np.float32),
         "identity": rng.integers(0, 1000, (batch, 1)).astype("int32")}
    y = np.concatenate([x["face"], np.ones((batch, size, size, 1), np.float32)], -1)
    return model, x, y, FaceLoss(ssim_weight=0.5, mask_weight=0.5, ms_ssim=False), batch


def _step_flops(model, x, y, loss) -> float | None:
    """FLOPs of one forward + backward pass, counted by the backend (None if it cannot)."""
    import keras
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        trainable = [v.value for v in model.trainable_variables]
        frozen = [v.value for v in model.non_trainable_variables]

        def objective(tv, ntv, xb, yb):
            pred, _ = model.stateless_call(tv, ntv, xb, training=True)
            if isinstance(loss, dict):
                return sum(loss[k](yb[k], pred[k]) for k in loss)
            return loss(yb, pred)

        # The lowered program's cost analysis: the same count as the compiled one, without a second compile.
        analysis = jax.jit(jax.grad(objective)).lower(trainable, frozen, x, y).cost_analysis()
        if isinstance(analysis, list):
            analysis = analysis[0]
        return float(analysis.get("flops", 0.0)) or None
    if backend == "torch":
        from torch.utils.flop_counter import FlopCounterMode

        with FlopCounterMode(display=False) as counter:
            pred = model(x, training=True)
            total = sum(loss[k](y[k], pred[k]) for k in loss) if isinstance(loss, dict) else loss(y, pred)
            total.backward()
        model.zero_grad(set_to_none=True)  # a Keras model on torch is a torch.nn.Module
        return float(counter.get_total_flops()) or None
    return None


def _time_steps(model, x, y, steps: int, warmup: int) -> float:
    """Median seconds per `train_on_batch` step (each returns its loss: the step has finished)."""
    import statistics

    for _ in range(warmup):
        model.train_on_batch(x, y)
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        model.train_on_batch(x, y)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def child(args) -> list[dict]:
    import keras

    from zoo.training import resolve_jit
    if keras.backend.backend() == "torch":
        import torch
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    device = _device_name()
    jit = resolve_jit("auto") if args.jit == "auto" else args.jit == "on"   # torch "on": torch.compile
    rows = []
    cases = [("swap", size, batch) for size in args.sizes for batch in args.batches]
    cases += [("pretrain", size, batch) for size in args.pretrain_sizes for batch in args.pretrain_batches]
    for precision in args.precisions:
        keras.config.set_dtype_policy({"fp32": "float32", "bf16": "mixed_bfloat16"}[precision])
        for kind, size, batch in cases:
            keras.backend.clear_session()
            make = _swap_case if kind == "swap" else _pretrain_case
            model, x, y, loss, images = make(args.encoder, size, batch, args.width)
            # On the device once: the timed steps measure the step, not host-to-device copies.
            x, y = (keras.tree.map_structure(keras.ops.convert_to_tensor, v) for v in (x, y))
            model.compile(optimizer=keras.optimizers.AdamW(2e-4), loss=loss, jit_compile=jit)
            row = {"backend": keras.backend.backend(), "device": device, "model": kind, "encoder": args.encoder,
                   "size": size, "batch": images, "precision": precision, "jit": str(jit)}
            try:
                flops = _step_flops(model, x, y, loss)
                seconds = _time_steps(model, x, y, args.steps, args.warmup)
            except Exception as exc:  # noqa: BLE001 - one failing case is reported, the others still run
                row["error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"
                rows.append(row)
                print(json.dumps(row), file=sys.stderr, flush=True)
                continue
            row.update(step_ms=round(seconds * 1000, 2), images_per_s=round(images / seconds, 1),
                       step_tflop=None if flops is None else round(flops / 1e12, 4),
                       tflops=None if flops is None else round(flops / seconds / 1e12, 3))
            peak = chip_peak(device, precision, args.peak_tflops)
            row["peak_tflops"] = peak
            row["mfu"] = round(row["tflops"] / peak, 4) if peak and row["tflops"] is not None else None
            rows.append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)
    return rows


# --- the data pipeline (parent process, no backend needed) --------------------------------------------

def _pool_rate(make, workers: int, batches: int, images_per_batch: int, finish=lambda b: b) -> float:
    """Images/s of `finish(make(step))` through `zoo.data.pool.BatchPool` with `workers` processes (the
    trainers' own data path: `finish` runs in the trainer's process), after the pool's start-up."""
    from zoo.data.pool import BatchPool

    with BatchPool(make, workers) as pool:
        finish(pool.get(0))
        start = time.perf_counter()
        for step in range(1, batches + 1):
            finish(pool.get(step))
        return batches * images_per_batch / (time.perf_counter() - start)


def swap_pipeline_rate(size: int, workers: int, batches: int) -> float:
    """Augmented swap images/s (both identities) of `FaceDataset` through the swap trainer's own path
    (`facezoo train --workers N`): `BatchPool` processes writing batches into shared memory (Keras'
    enqueuer pickled each 58 MB batch at 256 px through a pipe: 3x slower than one thread)."""
    import functools

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from data_bench import BATCH, _faces

    from zoo.data.dataset import ArraySource, FaceDataset
    from zoo.training.feed import batch_at

    sources = [ArraySource(_faces(64, size, 0), name="a"), ArraySource(_faces(64, size, 1), name="b")]
    ds = FaceDataset(sources, batch_size=BATCH, size=size, seed=0)
    ds.preload()  # the workers share the decoded faces copy-on-write, as in a long run
    return _pool_rate(functools.partial(batch_at, ds), workers, batches, 2 * BATCH)


def pipeline_rates(size: int, batches: int, workers: int) -> dict:
    """Images/s of the swap data pipeline and of the pretraining sampler (synthetic corpus, rendered +
    augmented), each through `BatchPool` with `workers` processes: the trainers' own data path."""
    from zoo.data.corpus import open_corpus
    from zoo.data.sampler import expand_batch

    swap = swap_pipeline_rate(size, workers, batches)
    batch = 16
    sampler = open_corpus("synthetic:1000").sampler(batch, size, holdout=0, seed=0)
    pretrain = _pool_rate(sampler.compact_batch, workers, batches, batch, finish=expand_batch)
    return {"size": size, "workers": workers, "swap_images_per_s": round(swap, 1),
            "pretrain_images_per_s": round(pretrain, 1)}


# --- the table ----------------------------------------------------------------------------------------------

def _fmt(value, pattern="{}"):
    return "" if value is None else pattern.format(value)


def render(rows: list[dict], pipeline: list[dict], note: str) -> str:
    devices = sorted({r["device"] for r in rows})
    lines = [f"# Training throughput: {', '.join(devices) or 'no device'}", "", note, "",
             "| backend | model | px | batch | precision | step ms | images/s | TFLOP/step | TFLOP/s | peak | MFU |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['backend']} | {r['model']} | {r['size']} | {r['batch']} | {r['precision']} | "
                         f"failed: {r['error']} | | | | | |")
            continue
        lines.append(f"| {r['backend']} | {r['model']} | {r['size']} | {r['batch']} | {r['precision']} | "
                     f"{r['step_ms']} | {r['images_per_s']} | {_fmt(r['step_tflop'])} | {_fmt(r['tflops'])} | "
                     f"{_fmt(r['peak_tflops'])} | {_fmt(r['mfu'] and round(100 * r['mfu'], 1), '{}%')} |")
    if pipeline:
        lines += ["", "## Data pipeline vs the accelerator", "",
                  "| px | workers | swap pipeline images/s (pool) | fastest swap step images/s | ratio | "
                  "pretrain sampler images/s (processes) | fastest pretrain step images/s | ratio |",
                  "|---|---|---|---|---|---|---|---|"]
        for p in pipeline:
            best = {kind: max((r["images_per_s"] for r in rows if r["model"] == kind and r["size"] == p["size"]
                               and "error" not in r), default=None) for kind in ("swap", "pretrain")}
            ratio = {k: (round(p[f"{k}_images_per_s"] / best[k], 2) if best[k] else None) for k in best}
            lines.append(f"| {p['size']} | {p['workers']} | {p['swap_images_per_s']} | {_fmt(best['swap'])} | "
                         f"{_fmt(ratio['swap'])} | {p['pretrain_images_per_s']} | {_fmt(best['pretrain'])} | "
                         f"{_fmt(ratio['pretrain'])} |")
    return "\n".join(lines) + "\n"


def _available(backend: str) -> bool:
    import importlib.util
    return importlib.util.find_spec({"jax": "jax", "torch": "torch"}[backend]) is not None


def parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--backends", nargs="+", default=["jax", "torch"], choices=("jax", "torch"))
    p.add_argument("--precisions", nargs="+", default=["bf16", "fp32"], choices=("bf16", "fp32"))
    p.add_argument("--encoder", default="effnet-face-v2")
    p.add_argument("--sizes", nargs="+", type=int, default=[128, 256], help="swap model face sizes")
    p.add_argument("--batches", nargs="+", type=int, default=[16, 32, 64], help="swap: faces per identity")
    p.add_argument("--pretrain-sizes", nargs="+", type=int, default=[128, 256])
    p.add_argument("--pretrain-batches", nargs="+", type=int, default=[64])
    p.add_argument("--width", type=int, default=128, help="decoder width")
    p.add_argument("--steps", type=int, default=20, help="timed steps per case (median)")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps (compilation) per case")
    p.add_argument("--pipeline-batches", type=int, default=20)
    p.add_argument("--workers", type=int, default=os.cpu_count(), help="data pipeline processes")
    p.add_argument("--jit", choices=("auto", "on", "off"), default="auto",
                   help="jit_compile: auto = the trainer's choice (XLA on JAX; eager PyTorch), "
                        "on = XLA / torch.compile")
    p.add_argument("--peak-tflops", type=float, default=None, help="the chip's peak, if not in PEAKS")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results"), help="folder for the table")
    p.add_argument("--tiny", action="store_true",
                   help="CI mode: mobilenet-face at 32 px, batch 2, 2 steps, fp32, 2 pipeline workers")
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.tiny:
        args.encoder, args.sizes, args.batches, args.width = "mobilenet-face", [32], [2], 16
        args.pretrain_sizes, args.pretrain_batches, args.precisions = [32], [4], ["fp32"]
        args.steps, args.warmup, args.pipeline_batches, args.workers = 2, 1, 2, min(2, args.workers)
    return args


def main(argv=None) -> int:
    args = parse(argv)
    if args.child:
        print("ROWS " + json.dumps(child(args)), flush=True)
        return 0
    rows, skipped = [], []
    forwarded = [a for a in (argv if argv is not None else sys.argv[1:])]
    for backend in args.backends:
        if not _available(backend):
            skipped.append(backend)
            print(f"{backend}: not installed, skipped", flush=True)
            continue
        env = {**os.environ, "KERAS_BACKEND": backend}
        proc = subprocess.run([sys.executable, __file__, *forwarded, "--child", backend], env=env,
                              stdout=subprocess.PIPE, text=True)
        found = [line for line in proc.stdout.splitlines() if line.startswith("ROWS ")]
        if proc.returncode != 0 or not found:
            print(f"{backend}: the benchmark process failed (exit {proc.returncode})", file=sys.stderr)
            return 1
        rows += json.loads(found[-1][5:])
    pipeline = [pipeline_rates(size, args.pipeline_batches, args.workers)
                for size in sorted(set(args.sizes) | set(args.pretrain_sizes))]
    note = (f"`python benchmarks/gpu_train.py {' '.join(forwarded)}`".replace(" `", "`") +
            f" on {time.strftime('%Y-%m-%d')}; median of {args.steps} steps after {args.warmup} warm-up steps; "
            "batch = images per step (swap: both identities). FLOPs per step (forward + backward) counted "
            "by each backend (JAX: XLA cost analysis, all ops; PyTorch: FlopCounterMode, matmuls and convolutions). MFU = TFLOP/s / peak."
            + (f" Not installed: {', '.join(skipped)}." if skipped else ""))
    text = render(rows, pipeline, note)
    print(text)
    device = next((r["device"] for r in rows), "none")
    slug = re.sub(r"[^A-Za-z0-9]+", "-", device).strip("-").lower() + ("-tiny" if args.tiny else "")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    from zoo.io import atomic_write
    with atomic_write(out / f"gpu_train-{slug}.md", "w") as f:
        f.write(text)
    with atomic_write(out / f"gpu_train-{slug}.json", "w") as f:
        json.dump({"rows": rows, "pipeline": pipeline, "note": note}, f, indent=1)
    print(f"wrote {out / f'gpu_train-{slug}.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
