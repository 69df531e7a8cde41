"""Write a synthetic face corpus: root/<identity>/<image>.png plus root/landmarks.jsonl.

Every image is a pure function of (seed, identity, image index), so a re-run into the same folder only
renders what is missing and leaves identical files (landmarks.jsonl lists the images of the latest run). landmarks.jsonl holds, per image, its path relative to
the root, the identity, the face box (x0, y0, x1, y1) and five landmarks (left eye, right eye, nose tip,
left mouth corner, right mouth corner; (x, y) pixels, "left" meaning the image's left).

Examples:
  facezoo synth -o data/synth --identities 200 --images-per-identity 20 --size 128 --preview
  facezoo synth -o data/synth-heldout --identities 50 --first-identity 10000   # unseen people
"""
from __future__ import annotations

import argparse
import time

from recipes._common import UserError, main_for


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-o", "--output", required=True, metavar="DIR", help="corpus folder (created if missing)")
    parser.add_argument("--identities", type=int, default=100, metavar="N", help="number of identities (100)")
    parser.add_argument("--images-per-identity", type=int, default=10, metavar="K", help="images of each (10)")
    parser.add_argument("--size", type=int, default=128, metavar="PX", help="image side in pixels (128)")
    parser.add_argument("--seed", type=int, default=0, metavar="S", help="generator seed (0)")
    parser.add_argument("--first-identity", type=int, default=0, metavar="I",
                        help="index of the first identity, e.g. past the training range for held-out people (0)")
    parser.add_argument("--preview", action="store_true",
                        help="also write DIR/preview.png (8 identities x 6 images, landmarks marked)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from zoo.data.synthetic import LANDMARKS_FILE, SyntheticFaces, write_corpus
    for name in ("identities", "images_per_identity"):
        if getattr(args, name) < 1:
            raise UserError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if not 32 <= args.size <= 1024:
        raise UserError(f"--size must be between 32 and 1024 pixels, got {args.size}")
    if args.first_identity < 0:
        raise UserError(f"--first-identity must be >= 0, got {args.first_identity}")
    faces = SyntheticFaces(args.first_identity + args.identities, size=args.size, seed=args.seed)
    ids = range(args.first_identity, args.first_identity + args.identities)
    total = args.identities * args.images_per_identity
    from tqdm import tqdm
    start = time.perf_counter()
    with tqdm(total=total, unit="img", desc="synth", disable=args.quiet or None, leave=False) as bar:
        summary = write_corpus(args.output, faces, args.images_per_identity, identities=ids, progress=bar.update)
    seconds = time.perf_counter() - start
    if args.preview:
        from pathlib import Path

        from zoo.data.synthetic import write_preview_grid
        write_preview_grid(Path(args.output) / "preview.png", min(8, args.identities),
                           min(6, args.images_per_identity), args.size, args.seed, landmarks=True,
                           first_identity=args.first_identity)
    new = summary["written"]
    speed = f", {new / seconds:.0f} faces/s" if new >= 100 and seconds > 0 else ""
    print(f"{summary['images']} images of {summary['identities']} identities in {args.output} "
          f"({new} written, {summary['images'] - new} already there{speed}); "
          f"ground truth: {args.output}/{LANDMARKS_FILE}")
    return 0


def main():
    main_for(__name__, add_arguments, run)


if __name__ == "__main__":
    main()
