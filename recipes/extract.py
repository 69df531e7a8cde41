"""Detect, align and crop faces from images, folders and videos (MTCNN + 5-point similarity alignment).

Writes one crop per face into OUT and one JSON line per face into OUT/alignments.jsonl (source, sha256,
frame, box, landmarks, source->crop matrix, score). Running it again resumes: finished sources are not
read again, and a run that was cut off is completed with each face exactly once.

Face sets made by faceswap or DeepFaceLab are imported instead (their 68-point landmarks give facezoo's
5-point alignment; their pickled metadata is loaded without running any code):

Examples:
    facezoo extract photos/ clip.mp4 -o faces/alice --size 256 --every-n 5
    facezoo extract group.jpg -o faces/group --min-score 0.95 --min-size 40
    facezoo extract --from-faceswap clip_alignments.fsa clip.mp4 -o faces/alice
    facezoo extract --from-dfl workspace/data_src/aligned -o faces/alice
"""
from __future__ import annotations

import argparse

from recipes._common import UserError, main_for


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", nargs="*", metavar="INPUT",
                        help="image files, folders (recursive) and videos; with --from-faceswap: the video or "
                             "frames folder the alignments were extracted from")
    parser.add_argument("-o", "--output", required=True, metavar="OUT",
                        help="output folder for the crops and alignments.jsonl (resumed if it exists)")
    parser.add_argument("--size", type=int, default=256, help="crop side in pixels, 64..512 (default 256)")
    parser.add_argument("--every-n", type=int, default=1, metavar="N", help="use every Nth video frame")
    parser.add_argument("--min-size", type=int, default=20, metavar="PX",
                        help="smallest face side in source pixels (default 20; larger is faster)")
    parser.add_argument("--min-score", type=float, default=0.9, help="smallest detector score kept (default 0.9)")
    parser.add_argument("--batch-size", type=int, default=16, help="frames per detector call (default 16)")
    parser.add_argument("--largest-only", action="store_true", help="keep only the largest face per frame")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--no-track", action="store_true",
                        help="run the full-frame detector on every video frame (slower; by default faces are "
                             "followed between key frames every 25 frames, and new faces are found there)")
    parser.add_argument("--from-faceswap", metavar="ALIGNMENTS.fsa", default=None,
                        help="import faceswap's alignments file; INPUT is its video or frames folder")
    parser.add_argument("--from-dfl", metavar="ALIGNED_DIR", default=None,
                        help="import DeepFaceLab's aligned JPEGs (their metadata holds the landmarks)")


def _run_import(args) -> int:
    from zoo.data.faceset_import import import_dfl, import_faceswap

    if args.from_faceswap and args.from_dfl:
        raise UserError("pass one of --from-faceswap and --from-dfl, not both")
    if args.from_faceswap:
        if len(args.inputs) != 1:
            raise UserError(f"--from-faceswap {args.from_faceswap} needs exactly one INPUT: the video or frames "
                            f"folder it was extracted from. Received: {len(args.inputs)} inputs")
        counts = import_faceswap(args.from_faceswap, args.inputs[0], args.output, size=args.size)
        origin = f"faceswap alignments {args.from_faceswap}"
    else:
        if args.inputs:
            raise UserError("--from-dfl takes the aligned folder only; leave out the other inputs")
        counts = import_dfl(args.from_dfl, args.output, size=args.size)
        origin = f"DeepFaceLab aligned faces in {args.from_dfl}"
    print(f"imported {counts['faces']} faces from {counts['frames']} frames of {origin} in "
          f"{counts['seconds']:.1f} s -> {args.output}")
    if counts["missing"]:
        print(f"{len(counts['missing'])} frames named in the alignments were not found, e.g. {counts['missing'][0]}")
    if not counts["faces"]:
        raise UserError(f"no face imported from {origin}: its frames list no faces")
    return 0


def run(args) -> int:
    from zoo.data.extract import extract

    if args.from_faceswap or args.from_dfl:
        return _run_import(args)
    if not args.inputs:
        raise UserError("pass at least one INPUT (images, folders or videos), or --from-faceswap / --from-dfl")

    if args.every_n < 1 or args.batch_size < 1 or args.min_size < 1:
        raise UserError(f"--every-n, --batch-size and --min-size must be >= 1. Received: "
                        f"--every-n {args.every_n} --batch-size {args.batch_size} --min-size {args.min_size}")
    if args.min_size < 12:
        print(f"note: --min-size {args.min_size} is below the smallest face MTCNN can find (12 px); "
              "searching from 12 px")
    if len(args.inputs) > 1:
        print(f"note: all {len(args.inputs)} inputs go into one face folder, {args.output}, which training "
              "treats as ONE identity. If they show different people, extract each person into its own "
              "folder: `facezoo extract INPUT -o faces/NAME`.")
    report = extract(args.inputs, args.output, size=args.size, every_n=args.every_n, min_size=args.min_size,
                     min_score=args.min_score, batch_size=args.batch_size, largest_only=args.largest_only,
                     progress=False if args.no_progress else None, track=not args.no_track)
    print(report.summary())
    print(f"alignments: {report.alignments}")
    problem = report.problem()
    if problem:  # a run that wrote no face failed, whatever the reason: say why and what to change
        raise UserError(f"extract wrote no face into {args.output}: {problem}.")
    return 0


def main():
    main_for(__name__, add_arguments, run)


if __name__ == "__main__":
    main()
