"""Seconds per stage change: recompiling per stage against the stage switch (one compile), side by side.

Each side trains the same swap model (fresh, same seed) on the same synthetic batches under
"frozen; top2@S; all@2S" with `TrainConfig(stage_switch=...)`. A step's time is read from a callback's
timestamps; the cost of a change is the time from the last step of a stage to the end of the first step
of the next, less one ordinary step of the new stage (the median of its later steps). The switch's price
is a heavier first compile (the whole graph's, as the last stage's recompile) and slower frozen steps (it
computes the frozen part's gradients): "break-even" is how many frozen steps the compile time saved per
change pays for, the figure `zoo.training.switch.RECOMPILE_STEPS` stands for.

    python benchmarks/stage_change.py                                  # mobilenet-face, 64 px
    python benchmarks/stage_change.py --encoder effnet-face-v2 --stage-steps 6
"""
import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _data(size, batch):
    import numpy as np
    from zoo.data.align import align_face
    from zoo.data.dataset import FaceDataset
    from zoo.data.synthetic import SyntheticFaces

    faces = SyntheticFaces(2, size=max(128, size), seed=0)
    arrays = []
    for ident in range(2):
        crops = []
        for k in range(12):
            rgb, truth = faces.render(ident, k)
            crops.append(align_face(rgb, truth["landmarks"], size)[0])
        arrays.append(np.stack(crops))
    return FaceDataset(arrays, batch_size=batch, size=size, seed=0)


def run_side(mode, encoder, size, batch, stage_steps):
    """{"changes": [seconds per change], "first": first-step seconds, "ms": {stage: median ms per step}}."""
    import keras

    import zoo
    from zoo.training import SwapTrainer, TrainConfig

    keras.utils.set_random_seed(0)
    times = []

    class Clock(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            if not times:
                times.append((0, time.perf_counter()))

        def on_train_batch_end(self, batch, logs=None):
            times.append((trainer.step, time.perf_counter()))

    model = zoo.build_swap_model(zoo.build_encoder(encoder, input_size=size), ["a", "b"])
    run = tempfile.mkdtemp(prefix=f"stage-change-{mode}-")
    s = stage_steps
    trainer = SwapTrainer(model, f"frozen; top2@{s}; all@{2 * s}", _data(size, batch), run,
                          TrainConfig(steps=3 * s, chunk=2, checkpoint_every=10 ** 9, preview_every=10 ** 9,
                                      tensorboard=False, calibrate_batchnorm=False, stage_switch=mode),
                          callbacks=[Clock()])
    trainer.progress = False
    begin = time.perf_counter()
    trainer.train(3 * s, finalize=False)
    shutil.rmtree(run, ignore_errors=True)
    at = dict(times)  # step -> time its step ended (0: train() began)
    at[0] = begin

    def steady(lo, hi):  # median step time of steps lo+2..hi (the first step of a stage excluded)
        return statistics.median(at[k] - at[k - 1] for k in range(lo + 2, hi + 1))

    ms = {name: 1000 * steady(lo, lo + s) for name, lo in (("frozen", 0), ("top2", s), ("all", 2 * s))}
    changes = [at[c + 1] - at[c] - ms[name] / 1000 for c, name in ((s, "top2"), (2 * s, "all"))]
    return {"changes": changes, "first": at[1] - at[0], "ms": ms, "mode": trainer.switch_mode}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--encoder", default="mobilenet-face")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--stage-steps", type=int, default=8, help="steps per stage (3 stages)")
    args = parser.parse_args()
    import keras

    print(f"backend {keras.backend.backend()}, encoder {args.encoder}, {args.size} px, batch "
          f"{args.batch_size}+{args.batch_size}, schedule frozen; top2@{args.stage_steps}; all@{2 * args.stage_steps}")
    rows = {mode: run_side(mode, args.encoder, args.size, args.batch_size, args.stage_steps)
            for mode in ("recompile", "switch")}
    print(f"{'':>10} {'first step s':>13} {'change 1 s':>11} {'change 2 s':>11} {'compiles s':>11} "
          f"{'frozen ms/step':>15} {'top2 ms/step':>13} {'all ms/step':>12}")
    for mode, r in rows.items():
        r["total"] = r["first"] + sum(r["changes"])
        print(f"{mode:>10} {r['first']:>13.1f} {r['changes'][0]:>11.1f} {r['changes'][1]:>11.1f} {r['total']:>11.1f} "
              f"{r['ms']['frozen']:>15.0f} {r['ms']['top2']:>13.0f} {r['ms']['all']:>12.0f}")
    rec, sw = rows["recompile"], rows["switch"]
    per_change = (statistics.mean(rec["changes"]), statistics.mean(sw["changes"]))
    print(f"seconds per stage change: recompile {per_change[0]:.1f}, switch {per_change[1]:.1f} "
          f"({per_change[0] / max(per_change[1], 1e-3):.0f}x less)")
    saved = rec["total"] - sw["total"]
    print(f"compiling in all (first step + changes): recompile {rec['total']:.1f} s, switch {sw['total']:.1f} s "
          f"(the switch's one compile is the whole graph's, like the last stage's recompile): "
          f"{saved / 2:.1f} s saved per change")
    extra = (sw["ms"]["frozen"] - rec["ms"]["frozen"]) / 1000
    if extra > 0:
        print(f"frozen-stage price of the switch: {1000 * extra:.0f} ms/step; one saved change pays for "
              f"{saved / 2 / extra:.0f} frozen steps (break-even; zoo.training.switch.RECOMPILE_STEPS)")
    else:
        print("frozen-stage price of the switch: none measurable here")

if __name__ == "__main__":
    main()
