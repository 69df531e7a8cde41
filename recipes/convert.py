"""Swap faces in images, folders and videos with a trained `facezoo train` run.

Each face is aligned to the canonical template, decoded as the target identity, colour-matched to the
original face and blended back with a feathered mask. Frames without a face pass through unchanged.
Videos keep their frame rate, size and audio track (encoded with the imageio-ffmpeg binary). Outputs are
written atomically and never replace an input.

Examples:
    facezoo convert --run runs/alice-bob --to bob clip.mp4 -o out/clip.mp4
    facezoo convert --run runs/alice-bob --to bob photos/ -o out/ --alignments faces/alice --preview
    facezoo convert --run runs/alice-bob --to bob group.jpg -o out/ --largest --color hist
"""
from __future__ import annotations

import argparse

from recipes._common import UserError, main_for


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="image files, folders (recursive) and videos")
    parser.add_argument("--run", required=True, metavar="RUN_DIR", help="a `facezoo train` run folder")
    parser.add_argument("--to", required=True, metavar="IDENTITY", help="identity to render the faces as")
    parser.add_argument("-o", "--output", required=True, metavar="OUT",
                        help="output folder; or an output file when there is one input file")
    parser.add_argument("--alignments", metavar="FILE",
                        help="alignments.jsonl (or its folder) from `facezoo extract`; default: detect faces")
    parser.add_argument("--mask", choices=("learned", "landmark", "both"), default="both",
                        help="blend mask: the model's learned mask, the landmark mask, or both (default)")
    parser.add_argument("--color", choices=("lab", "hist", "none"), default="lab",
                        help="colour matching to the original face: LAB mean/std (default), histogram, none")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--face-index", type=int, metavar="N",
                       help="swap only face N of each frame (alignments' face index, or detector rank)")
    which.add_argument("--largest", action="store_true", help="swap only the largest face of each frame")
    parser.add_argument("--batch-size", type=int, default=16, help="faces per model call (default 16)")
    parser.add_argument("--preview", action="store_true",
                        help="also write original | swapped PNGs (each image, a few frames per video)")
    parser.add_argument("--every-n", type=int, default=1, metavar="N",
                        help="videos: keep every Nth frame only, at fps/N (a quick draft; default 1)")
    parser.add_argument("--min-score", type=float, default=0.9, help="smallest detector score (default 0.9)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--report", action="store_true",
                        help="then judge the outputs (the judge extra): ID retrieval of --to among the run's "
                             "identities and 20 LFW people, ID similarity, pose and expression error against the "
                             "inputs; skipped, with the reason, when the extra or LFW is absent")


def run(args) -> int:
    if args.every_n < 1 or args.batch_size < 1:
        raise UserError(f"--every-n and --batch-size must be >= 1. Received: --every-n {args.every_n} "
                        f"--batch-size {args.batch_size}")
    import zoo
    from zoo.convert import convert

    model = zoo.load_run(args.run)
    if args.to not in model.identities:
        raise UserError(f"--to {args.to!r} is not an identity of run {args.run}; it has {model.identities}")
    report = convert(model, args.inputs, args.output, to=args.to, alignments=args.alignments, mask=args.mask,
                     color=args.color, face_index=args.face_index, largest=args.largest,
                     batch_size=args.batch_size, preview=args.preview, every_n=args.every_n,
                     min_score=args.min_score, progress=False if args.no_progress else None)
    print(report.summary())
    for path in report.outputs[:20]:
        print(f"wrote {path}")
    if len(report.outputs) > 20:
        print(f"... and {len(report.outputs) - 20} more")
    if args.report:
        print(judge_outputs(args, report.outputs))
    return 0


def judge_outputs(args, outputs) -> str:
    """The judge's numbers for what was written, or one line saying why they are not there."""
    from recipes.judge import format_report
    from zoo.errors import FacezooError
    from zoo.judge import available, judge_conversion

    ok, why = available()
    if not ok:
        return f"judge: skipped ({why})"
    try:
        result = judge_conversion(args.run, args.to, outputs, args.inputs, every_n=args.every_n)
    except FacezooError as exc:      # the conversion itself is done; say why it is not judged
        return f"judge: not run ({exc})"
    return format_report(result)


def main():
    main_for(__name__, add_arguments, run)


if __name__ == "__main__":
    main()
