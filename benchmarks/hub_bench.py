"""Hub overhead, measured side by side in one run (`python benchmarks/hub_bench.py`).

1. Cold pull of a ~20 MB release from `facezoo hub serve`: `hub.pull` (resolve + download + sha256
   verification) vs raw `huggingface_hub.snapshot_download` of the same commit. Target ratio <= 1.2.
2. Warm `hub.pull` + `keras.saving.load_model` vs `keras.saving.load_model` of the same files.
   Target ratio <= 1.2.
Also reports the local hub's cold and warm pulls. Each number is the median of --repeat runs.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")


def _median(fn, repeat: int) -> float:
    times = []
    for i in range(repeat):
        t = time.perf_counter()
        fn(i)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def _pair(fn_a, fn_b, repeat: int) -> tuple[float, float]:
    """Medians of two measures taken alternately (A, B, A, B, ...) so machine load hits both alike."""
    a, b = [], []
    for i in range(repeat):
        for fn, out in ((fn_a, a), (fn_b, b)) if i % 2 == 0 else ((fn_b, b), (fn_a, a)):
            t = time.perf_counter()
            fn(i)
            out.append(time.perf_counter() - t)
    return statistics.median(a), statistics.median(b)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=20.0, help="approximate release size in MB")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="facezoo-hub-bench-"))
    os.environ["FACEZOO_HOME"] = str(work / "fz")
    os.environ["HF_HOME"] = str(work / "hf")
    token = "bench-token-0123456789"
    os.environ["HF_TOKEN"] = token
    (work / "tokens").write_text(token + "\n")

    import keras
    from huggingface_hub import snapshot_download

    import hub
    from hub.server import make_server

    width = int((args.mb * 1e6 / 4) ** 0.5)
    model = keras.Sequential([keras.Input((width,)), keras.layers.Dense(width), keras.layers.Dense(8)])
    server = make_server(work / "served", port=0, token_file=work / "tokens")
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = "http://127.0.0.1:%d" % server.server_address[1]
    rel = hub.publish(model, "bench/enc", tag="v1", hub=url)
    size = sum(p.stat().st_size for p in (work / "served").rglob("objects/*"))
    print(f"release: {size / 1e6:.1f} MB, commit {rel.revision[:12]}, server {url}")

    def fresh_cache(i, tag):
        os.environ["HF_HOME"] = str(work / f"hf-{tag}-{i}")

    def fz_cold(i):
        fresh_cache(i, "fz")
        hub.pull("bench/enc", "v1", hub=url)

    def raw_cold(i):
        snapshot_download("bench/enc", revision="v1", endpoint=url, token=token,
                          cache_dir=str(work / f"hf-raw-{i}" / "hub"))

    raw_cold(-1)  # warm the client library and the server once
    t_fz, t_raw = _pair(fz_cold, raw_cold, args.repeat)

    os.environ["HF_HOME"] = str(work / "hf-warm")
    snap = hub.pull("bench/enc", "v1", hub=url)

    def fz_warm_load(i):
        s = hub.pull("bench/enc", "v1", hub=url)
        keras.saving.load_model(s.path, compile=False)

    def keras_load(i):
        keras.saving.load_model(snap.path, compile=False)

    keras_load(0)  # warm Keras itself
    t_warm, t_keras = _pair(fz_warm_load, keras_load, args.repeat)

    local = str(work / "localhub")
    hub.publish(model, "bench/enc", tag="v1", hub=local)

    def local_cold(i):
        os.environ["FACEZOO_HOME"] = str(work / f"fz-{i}")
        hub.pull("bench/enc", "v1", hub=local)

    t_local_cold = _median(local_cold, args.repeat)
    t_local_warm = _median(lambda i: hub.pull("bench/enc", "v1", hub=local), args.repeat)
    server.shutdown()

    print(f"{'measure':<48}{'facezoo':>10}{'baseline':>10}{'ratio':>8}")
    print(f"{'cold pull from server vs raw snapshot_download':<48}{t_fz:>9.3f}s{t_raw:>9.3f}s{t_fz / t_raw:>8.2f}")
    print(f"{'warm hub.pull+load vs keras.saving.load_model':<48}{t_warm:>9.3f}s{t_keras:>9.3f}s"
          f"{t_warm / t_keras:>8.2f}")
    print(f"{'local hub: cold pull / warm pull':<48}{t_local_cold:>9.3f}s{t_local_warm:>9.3f}s")
    print("target: ratios <= 1.2")
    return 0


if __name__ == "__main__":
    sys.exit(main())
