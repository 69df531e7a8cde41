"""Steps/s of facezoo's trainer against a plain `model.fit` of the same model and data, side by side.

Both drive the same compiled SwapModel (the trainer's) on the same FaceDataset batches; the facezoo
side adds the schedule machinery, chunked fits, loss records and the step callback
(checkpoints and previews are pushed out of the timed window). The two sides alternate timed slices
of the same length and each keeps its best, so load from other jobs on a shared machine hits both alike.
Target: overhead at most 5%. A third side, `model.fit` in epochs of the trainer's chunk size, shows what
Keras' own epoch boundaries cost; "vs chunked" is then the trainer's bookkeeping alone.

    python benchmarks/train_bench.py                 # 64 and 128 px, effnet-face-v2
    python benchmarks/train_bench.py --sizes 64 --encoder mobilenet-face --steps 20
"""
import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _faces(n, size, seed):
    from zoo.data.synthetic import SyntheticFaces
    from zoo.data.align import align_face

    faces = SyntheticFaces(n, size=max(128, size), seed=seed)
    out = []
    for ident in range(n):
        imgs = []
        for i in range(16):
            rgb, truth = faces.render(ident, i)
            crop, _ = align_face(rgb, truth["landmarks"], max(64, size))
            imgs.append(crop)
        out.append(__import__("numpy").stack(imgs))
    return out


def bench(encoder, size, steps, batch, rounds):
    """(plain steps/s, facezoo steps/s), each the best of `rounds` alternating timed slices of `steps`.

    Both sides drive the same compiled model (the trainer's), so the difference is the trainer's loop
    alone: chunked epochs, the step callback, loss records and the stage bookkeeping.
    """
    import zoo
    from zoo.data.dataset import FaceDataset
    from zoo.training import SwapTrainer, TrainConfig, StepBatches

    arrays = _faces(2, size, 0)
    data = FaceDataset(arrays, batch_size=batch, size=size, seed=0)
    model = zoo.build_swap_model(zoo.build_encoder(encoder, input_size=size), ["a", "b"])
    run = tempfile.mkdtemp(prefix="train-bench-")
    # schedule "all": every weight trains, as in a plain fit
    trainer = SwapTrainer(model, "all", data, run, TrainConfig(
        steps=3, chunk=10, checkpoint_every=10 ** 9, preview_every=10 ** 9, tensorboard=False))

    def ours(n):
        trainer.train(trainer.step + n, finalize=False)

    def plain(n):  # model.fit on the trainer's compiled model, one epoch, same batches
        model.fit(StepBatches(data, model.identities, trainer.step), steps_per_epoch=n, epochs=1, verbose=0)

    def chunked(n):  # the same, in epochs of the trainer's chunk: Keras' own cost of epoch boundaries
        chunk = trainer.config.chunk
        model.fit(StepBatches(data, model.identities, trainer.step), steps_per_epoch=chunk,
                  epochs=-(-n // chunk), verbose=0)

    sides = {"plain": plain, "chunked": chunked, "ours": ours}
    ours(3)  # compile and trace
    plain(3)
    best = dict.fromkeys(sides, float("inf"))
    for k in range(rounds):  # alternate (rotating the order each round): every side sees the same load
        names = list(sides)[k % 3:] + list(sides)[:k % 3]
        for name in names:
            t = time.perf_counter()
            sides[name](steps)
            best[name] = min(best[name], time.perf_counter() - t)
    shutil.rmtree(run, ignore_errors=True)
    return {name: steps / seconds for name, seconds in best.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--encoder", default="effnet-face-v2")
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 128])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3, help="rotating timed slices per side (best is kept)")
    args = parser.parse_args()
    import keras
    print(f"backend {keras.backend.backend()}, encoder {args.encoder}, batch {args.batch_size}+{args.batch_size}, "
          f"best of {args.rounds} rotating slices of {args.steps} steps")
    print(f"{'size':>5} {'model.fit steps/s':>18} {'fit, chunked':>13} {'facezoo steps/s':>16} "
          f"{'overhead':>9} {'vs chunked':>11}")
    for size in args.sizes:
        r = bench(args.encoder, size, args.steps, args.batch_size, args.rounds)
        print(f"{size:>5} {r['plain']:>18.3f} {r['chunked']:>13.3f} {r['ours']:>16.3f} "
              f"{r['plain'] / r['ours'] - 1:>8.1%} {r['chunked'] / r['ours'] - 1:>11.1%}  (target <= 5%)", flush=True)


if __name__ == "__main__":
    main()
