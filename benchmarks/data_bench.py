"""Augmentation throughput vs what a training step consumes, measured side by side in one run.

For each size: images/s of `FaceDataset` (two identities, batch 16 each, cached faces, full faceswap
augmentation) through Keras' own enqueuer with 1 and 2 worker processes, and images/s a training step
consumes: a stand-in for the default swap model (EfficientNetV2-B0 encoder, weights=None, shared by two
small conv decoders, batch 16 + 16, MSE on RGB + mask). Ratio > 1: the pipeline keeps up.

Then runs `benchmarks/data_bench_extract.py` (extraction) if it exists.

    python benchmarks/data_bench.py                    # 64, 128, 256 px
    python benchmarks/data_bench.py --sizes 64 --model-steps 3
"""
from __future__ import annotations

import argparse
import os
import runpy
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

BATCH = 16


def _faces(n: int, size: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size] / size
    base = np.stack([x, y, 1 - x], -1)[None] * rng.uniform(80, 250, (n, 1, 1, 3))
    return np.clip(base + rng.normal(0, 20, (n, size, size, 3)), 0, 255).astype(np.uint8)


def augmentation_rate(size: int, workers: int, batches: int, *, use_multiprocessing: bool | None = None) -> float:
    """Augmented images/s (both identities counted) through Keras' PyDataset enqueuer: `workers`
    processes when `use_multiprocessing` (default: when workers > 1), else threads."""
    from keras.src.trainers.data_adapters.py_dataset_adapter import PyDatasetAdapter

    from zoo.data.dataset import ArraySource, FaceDataset

    sources = [ArraySource(_faces(64, size, 0), name="a"), ArraySource(_faces(64, size, 1), name="b")]
    ds = FaceDataset(sources, batch_size=BATCH, size=size, steps_per_epoch=batches + 2, seed=0,
                     workers=workers, max_queue_size=8,
                     use_multiprocessing=workers > 1 if use_multiprocessing is None else use_multiprocessing)
    for k in range(2):  # fill the cache before forking, as a long run would have
        for i in range(64):
            ds.store.get(k, i)
    adapter = PyDatasetAdapter(ds, shuffle=False)
    adapter.on_epoch_begin()
    iterator = iter(adapter.get_numpy_iterator())
    next(iterator), next(iterator)  # start-up (pool fork) is not throughput
    start = time.perf_counter()
    for _ in range(batches):
        next(iterator)
    elapsed = time.perf_counter() - start
    for _ in iterator:
        pass
    adapter.on_epoch_end()
    return batches * 2 * BATCH / elapsed


def _stand_in_swap_model(size: int):
    import keras
    from keras import layers

    encoder = keras.applications.EfficientNetV2B0(weights=None, include_top=False,
                                                  input_shape=(size, size, 3))

    def decoder(name):
        features = keras.Input(encoder.output.shape[1:])
        h = layers.Conv2D(256, 1, activation="relu")(features)
        filters = 256
        while h.shape[1] < size:
            filters = max(32, filters // 2)
            h = layers.UpSampling2D()(h)
            h = layers.Conv2D(filters, 3, padding="same", activation="relu")(h)
        out = layers.Conv2D(4, 3, padding="same", activation="sigmoid")(h)
        return keras.Model(features, out, name=name)

    a, b = keras.Input((size, size, 3), name="a"), keras.Input((size, size, 3), name="b")
    model = keras.Model([a, b], [decoder("decoder_a")(encoder(a)), decoder("decoder_b")(encoder(b))])
    model.compile(optimizer=keras.optimizers.AdamW(1e-4), loss=["mse", "mse"])
    return model


def consumption_rate(size: int, steps: int) -> tuple[float, float]:
    """(images/s consumed by warm train steps, seconds of the first step)."""
    model = _stand_in_swap_model(size)
    rng = np.random.default_rng(0)
    x = [rng.random((BATCH, size, size, 3), np.float32) for _ in range(2)]
    y = [rng.random((BATCH, size, size, 4), np.float32) for _ in range(2)]
    start = time.perf_counter()
    model.train_on_batch(x, y)
    first = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(steps):
        model.train_on_batch(x, y)
    return steps * 2 * BATCH / (time.perf_counter() - start), first


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 128, 256])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--batches", type=int, default=12, help="timed batches per rate")
    parser.add_argument("--model-steps", type=int, default=3, help="timed train steps per size")
    parser.add_argument("--no-model", action="store_true", help="augmentation only")
    parser.add_argument("--no-extract", action="store_true", help="skip data_bench_extract.py")
    args = parser.parse_args(argv)

    import keras
    print(f"keras {keras.__version__}, backend {keras.backend.backend()}, {os.cpu_count()} CPUs; "
          f"batch {BATCH} per identity, 2 identities")
    rows = []
    for size in args.sizes:
        rates = {w: augmentation_rate(size, w, args.batches) for w in args.workers}
        consumed, first = (None, None) if args.no_model else consumption_rate(size, args.model_steps)
        rows.append((size, rates, consumed, first))
        line = f"{size:4d} px  augment " + "  ".join(f"{w}w {r:7.0f} img/s" for w, r in rates.items())
        if consumed:
            best = max(rates.values())
            line += (f"  | train step {consumed:6.1f} img/s ({2 * BATCH / consumed:.2f} s/step, first "
                     f"{first:.0f} s)  | augment/consume: "
                     + "  ".join(f"{w}w {r / consumed:.1f}x" for w, r in rates.items())
                     + f"  (best {best / consumed:.1f}x)")
        print(line, flush=True)

    extract = Path(__file__).with_name("data_bench_extract.py")
    if not args.no_extract and extract.is_file():
        print(f"\n--- {extract.name} ---", flush=True)
        try:
            sys.argv = [str(extract)]
            runpy.run_path(str(extract), run_name="__main__")
        except SystemExit as exc:
            if exc.code not in (None, 0):
                print(f"{extract.name} exited with {exc.code}")
        except Exception as exc:  # its failure must not hide the numbers above
            print(f"{extract.name} failed: {type(exc).__name__}: {exc}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
