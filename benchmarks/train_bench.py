"""Steps/s of facezoo's trainer against a plain `model.fit` of the same model and data, side by side.

Both drive the same compiled SwapModel (the trainer's) on the same FaceDataset batches; the facezoo
side adds the schedule machinery, chunked fits, loss records and the step callback
(checkpoints and previews are pushed out of the timed window). The two sides alternate timed slices
of the same length and each keeps its best, so load from other jobs on a shared machine hits both alike.
Target: overhead at most 5%.

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
    from zoo.training import SwapTrainer, TrainConfig, _StepBatches

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
        model.fit(_StepBatches(data, model.identities, trainer.step), steps_per_epoch=n, epochs=1, verbose=0)

    ours(3)  # compile and trace
    plain(3)
    best = {"plain": float("inf"), "ours": float("inf")}
    for k in range(rounds):  # alternate (and swap the order each round): both sides see the same load
        order = (("plain", plain), ("ours", ours)) if k % 2 == 0 else (("ours", ours), ("plain", plain))
        for name, fn in order:
            t = time.perf_counter()
            fn(steps)
            best[name] = min(best[name], time.perf_counter() - t)
    shutil.rmtree(run, ignore_errors=True)
    return steps / best["plain"], steps / best["ours"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--encoder", default="effnet-face-v2")
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 128])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3, help="alternating timed slices per side (best is kept)")
    args = parser.parse_args()
    import keras
    print(f"backend {keras.backend.backend()}, encoder {args.encoder}, batch {args.batch_size}+{args.batch_size}, "
          f"best of {args.rounds} alternating slices of {args.steps} steps")
    print(f"{'size':>5} {'model.fit steps/s':>18} {'facezoo steps/s':>16} {'overhead':>9}")
    for size in args.sizes:
        plain, ours = bench(args.encoder, size, args.steps, args.batch_size, args.rounds)
        print(f"{size:>5} {plain:>18.3f} {ours:>16.3f} {plain / ours - 1:>8.1%}  (target <= 5%)", flush=True)


if __name__ == "__main__":
    main()
