"""End-to-end images/s of `facezoo pretrain` at 64 px against the compiled step's own rate, side by side.

Runs `python -m recipes.pretrain_encoder` on LFW DevTrain photos (read as aligned, as in
`benchmarks/data_feed.py`) for `--steps` steps, and takes the steady rate from RUN/losses.csv's
timestamps (first chunk, with the tracing, excluded). Each `--code` root is one side: this checkout
(the parallel path, default workers) and, for a before/after, an older checkout of the code
(`git archive <commit> | tar -x -C DIR`), each with its own environment variables if given. After them:
`train_on_batch` of the same model on one in-memory batch (`data_feed.model_rate`, in this process, so
with `import zoo`'s TF_ENABLE_ONEDNN_OPTS=1), the floor. Goal (issue 30): end-to-end within 10% of it.

    python benchmarks/pretrain_feed.py --code . --code /tmp/base --steps 40
    python benchmarks/pretrain_feed.py --code . --code /tmp/base,TF_ENABLE_ONEDNN_OPTS=0   # before, as shipped
"""
import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))


def end_to_end(code: Path, lfw: Path, people: int, steps: int, batch: int, chunk: int, home: str,
               workers=None, extra_env: dict | None = None) -> dict:
    run = Path(tempfile.mkdtemp(prefix="pretrain-feed-run-")) / "run"
    args = [sys.executable, "-m", "recipes.pretrain_encoder", "--corpus", f"lfw:{lfw}:people={people}",
            "--aligned", "--size", "64", "--batch-size", str(batch), "--steps", str(steps), "--chunk",
            str(chunk), "--checkpoint-every", str(10 ** 6), "--holdout", "0", "--eval-steps", "0",
            "--lfw-eval", "none", "--run", str(run), "--quiet"]
    if workers is not None:
        args += ["--workers", str(workers)]
    env = {**os.environ, "PYTHONPATH": str(code), "FACEZOO_HOME": home, "TF_CPP_MIN_LOG_LEVEL": "3",
           **(extra_env or {})}
    load0 = os.getloadavg()[0]
    proc = subprocess.run(args, cwd=code, env=env, capture_output=True, text=True, timeout=3000)
    if proc.returncode != 0:
        raise SystemExit(f"{code}: pretrain failed:\n{proc.stderr[-3000:]}")
    rows = list(csv.DictReader(open(run / "losses.csv")))
    (s0, t0), (s1, t1) = [(int(r["step"]), float(r["time"])) for r in (rows[0], rows[-1])]
    shutil.rmtree(run.parent, ignore_errors=True)
    return {"code": str(code), "env": extra_env or {}, "workers": workers, "steady_images_per_s": round((s1 - s0) * batch / (t1 - t0), 2),
            "steps_timed": s1 - s0, "load": [round(load0, 2), round(os.getloadavg()[0], 2)]}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--code", action="append", default=None,
                   help="a checkout to run, optionally with environment variables for it: "
                        "PATH[,KEY=VALUE...] (repeat; default: this one)")
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--chunk", type=int, default=10)
    p.add_argument("--people", type=int, default=300)
    p.add_argument("--out", default=None, help="merge the result into this JSON file (key pretrain_end_to_end)")
    args = p.parse_args()
    from data_feed import _lfw_root, model_rate

    lfw = _lfw_root()
    if lfw is None:
        print("skipped: ../shared/face_data/lfw is absent (set FACEZOO_FACE_DATA)")
        return 0
    from zoo.bench.provenance import git_commit
    commit = git_commit()
    home = tempfile.mkdtemp(prefix="pretrain-feed-")
    os.environ["FACEZOO_HOME"] = home
    try:
        sides = []
        for code in args.code or [str(ROOT)]:
            path, *pairs = code.split(",")
            side = end_to_end(Path(path).resolve(), lfw, args.people, args.steps, args.batch, args.chunk, home,
                              extra_env=dict(pair.split("=", 1) for pair in pairs))
            print(json.dumps(side), flush=True)
            sides.append(side)
        from zoo.data.corpus import open_corpus
        identities = open_corpus(f"lfw:{lfw}:people={args.people}", aligned=True).num_identities
        load0 = os.getloadavg()[0]
        step = model_rate(64, args.batch, 10, identities)
        floor = {"model_images_per_s": round(step, 2), "load": [round(load0, 2), round(os.getloadavg()[0], 2)]}
        print(json.dumps(floor), flush=True)
        for side in sides:
            side["share_of_model_rate"] = round(side["steady_images_per_s"] / step, 3)
            print(f"{side['code']}: {side['steady_images_per_s']} images/s end to end = "
                  f"{100 * side['share_of_model_rate']:.1f}% of the compiled step's {step:.1f}")
        result = {"commit": commit, "size": 64, "batch": args.batch, "steps": args.steps, "sides": sides, "compiled_step": floor,
                  "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        if args.out:
            from zoo.io import write_json
            path = Path(args.out)
            data = json.loads(path.read_text()) if path.exists() else {}
            data["pretrain_end_to_end"] = result
            write_json(path, data)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
