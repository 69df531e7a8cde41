"""Does the data path outrun the model? Images/s of each, side by side, in one run.

The data path is `facezoo pretrain`'s: LFW photos (read as aligned: deep-funneled, centre-squared; the
MTCNN alignment is a one-time cost outside an epoch) decoded once into the memory-mapped crop cache
(`zoo.data.crop_cache`), then each batch drawn and augmented by `BatchSampler.batch` in `zoo.data.pool`
workers (1 and 2), handed over through shared memory. Beside it: the old path (the same sampler in the
trainer's process, decoding JPEGs on first touch: "in-process"), and the model's own consumption: the
compiled train step of the default pretraining model (mobilenet-face, conditioned heads) on one batch of
in-memory arrays (`train_on_batch`), the floor the feed must beat.

Goals (issue 30): data path (most workers) >= 3x the model at every size; >= 300 images/s per core at
256 px with augmentation; 1 -> 2 workers >= 1.8x. The machine is shared: the load average is recorded
next to each number. The crop caches go to a temporary $FACEZOO_HOME, deleted at the end (nothing
derived from a face is kept).

    python benchmarks/data_feed.py                        # 64, 128, 256 px; writes benchmarks/results/data_feed.json
    python benchmarks/data_feed.py --sizes 64 --batches 10 --no-write
"""
import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _load():
    return round(os.getloadavg()[0], 2)


def _lfw_root() -> Path | None:
    root = Path(os.environ.get("FACEZOO_FACE_DATA", ROOT.parent / "shared" / "face_data")) / "lfw"
    return root if root.is_dir() else None


def data_rates(corpus, size, batch, batches, workers_list):
    """{workers: images/s} of float batches as the pretrainer gets them: `sampler.compact_batch` (uint8)
    through a `BatchPool`, scaled to float32 here (`expand_batch`); 0: `sampler.batch` in this process."""
    from zoo.data.pool import BatchPool
    from zoo.data.sampler import expand_batch

    out = {}
    for workers in workers_list:
        sampler = corpus.sampler(batch, size, seed=0)
        with BatchPool(sampler.compact_batch if workers else sampler.batch, workers) as pool:
            expand_batch(pool.get(0))  # start (fork) and fill the pipeline outside the timed window
            start = time.perf_counter()
            for step in range(1, batches + 1):
                expand_batch(pool.get(step))
            out[workers] = batches * batch / (time.perf_counter() - start)
    return out


def model_rate(size, batch, steps, identities):
    """Images/s of the compiled pretraining train step on one in-memory batch (the model's consumption)."""
    import numpy as np

    import zoo
    from zoo.pretrain import PretrainConfig, build_pretrain_model
    from zoo.pretrain.trainer import _compile

    config = PretrainConfig(size=size, batch_size=batch)
    model = build_pretrain_model(zoo.build_encoder("mobilenet-face", input_size=size), identities,
                                 heads=config.heads, size=size, code_dim=config.code_dim,
                                 film_scales=config.film_scales, decoder_width=config.decoder_width,
                                 inter=config.inter, inter_channels=config.inter_channels,
                                 bottleneck=config.bottleneck)
    _compile(model, config)
    rng = np.random.default_rng(0)
    x = {"face": rng.random((batch, size, size, 3), np.float32),
         "identity": rng.integers(0, identities, (batch, 1)).astype(np.int32)}
    y = rng.random((batch, size, size, 4), np.float32)
    for _ in range(2):
        model.train_on_batch(x, y)
    start = time.perf_counter()
    for _ in range(steps):
        model.train_on_batch(x, y)
    return steps * batch / (time.perf_counter() - start)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[64, 128, 256])
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--batches", type=int, default=None, help="timed batches per data measurement "
                   "(default: 40 at 64 px, 16 at 128, 8 at 256)")
    p.add_argument("--people", type=int, default=300, help="LFW DevTrain people in the corpus")
    p.add_argument("--no-write", action="store_true")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "data_feed.json"))
    args = p.parse_args()
    lfw = _lfw_root()
    if lfw is None:
        print("skipped: ../shared/face_data/lfw is absent (set FACEZOO_FACE_DATA)")
        return 0
    from zoo.bench.provenance import git_commit
    commit = git_commit()  # the code measured: the checkout as the run starts
    home = tempfile.mkdtemp(prefix="data-feed-")
    os.environ["FACEZOO_HOME"] = home
    try:
        from zoo.data.corpus import open_corpus
        from zoo.data.crop_cache import with_crop_cache
        from zoo.data.pool import _cores

        plain = open_corpus(f"lfw:{lfw}:people={args.people}", aligned=True)
        rows = []
        for size in args.sizes:
            n = args.batches or {64: 40, 128: 16}.get(size, 8)
            load0 = _load()
            start = time.perf_counter()
            corpus = with_crop_cache(plain, size, workers=2)
            build = plain.image_count() / (time.perf_counter() - start)
            old = data_rates(plain, size, args.batch, max(2, n // 3), [0])[0]
            rates = data_rates(corpus, size, args.batch, n, [1, 2])
            rows.append({"size": size, "cache_build_images_per_s": round(build, 1),
                         "in_process_decode_images_per_s": round(old, 1),
                         "workers_1_images_per_s": round(rates[1], 1), "workers_2_images_per_s": round(rates[2], 1),
                         "scaling_1_to_2": round(rates[2] / rates[1], 2), "load_during_data": [load0, _load()]})
            print(f"{size} px data: in-process {old:.0f}/s, 1 worker {rates[1]:.0f}/s, 2 workers {rates[2]:.0f}/s "
                  f"(x{rates[2] / rates[1]:.2f}); load {load0} -> {_load()}", flush=True)
        for row in rows:
            size = row["size"]
            load0 = _load()
            steps = {64: 8, 128: 4}.get(size, 3)
            rate = model_rate(size, args.batch, steps, plain.num_identities)
            row["model_images_per_s"] = round(rate, 1)
            row["load_during_model"] = [load0, _load()]
            row["ratio_data_to_model"] = round(row["workers_2_images_per_s"] / rate, 2)
            print(f"{size} px model step: {rate:.1f} images/s; data/model {row['ratio_data_to_model']}x", flush=True)
        big = [r for r in rows if r["size"] == 256]
        goals = {
            "data_3x_model_every_size": all(r["ratio_data_to_model"] >= 3 for r in rows),
            "per_core_256px_images_per_s": big[0]["workers_1_images_per_s"] if big else None,
            "per_core_256px_at_least_300": bool(big and big[0]["workers_1_images_per_s"] >= 300),
            "scaling_1_to_2_at_least_1.8": all(r["scaling_1_to_2"] >= 1.8 for r in rows),
        }
        result = {"benchmark": "data_feed", "commit": commit, "cores": _cores(), "batch": args.batch,
                  "corpus": f"lfw DevTrain, {args.people} people, {plain.image_count()} photos (read as aligned)",
                  "augment": True, "rows": rows, "goals": goals,
                  "note": "load average of a 2-core machine shared with other jobs; per-worker rates are "
                          "lower than an idle core's"}
        print("\n| px | in-process | 1 worker | 2 workers | 1->2 | model step | data/model | load |")
        print("|---|---|---|---|---|---|---|---|")
        for r in rows:
            print(f"| {r['size']} | {r['in_process_decode_images_per_s']} | {r['workers_1_images_per_s']} | "
                  f"{r['workers_2_images_per_s']} | {r['scaling_1_to_2']}x | {r['model_images_per_s']} | "
                  f"{r['ratio_data_to_model']}x | {r['load_during_data'][0]} |")
        print("goals:", json.dumps(goals))
        if not args.no_write:
            from zoo.io import write_json
            out = Path(args.out)
            kept = json.loads(out.read_text()) if out.exists() else {}
            if "pretrain_end_to_end" in kept:  # benchmarks/pretrain_feed.py's part of the same file
                result["pretrain_end_to_end"] = kept["pretrain_end_to_end"]
            write_json(out, result)
            print(f"wrote {args.out}")
    finally:
        shutil.rmtree(home, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
