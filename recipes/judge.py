"""`facezoo judge`: score swapped faces with an independent face recognizer (the `judge` extra).

ID retrieval: the share of swapped faces whose nearest identity, among per-identity centroids (the
target, the source and at least 20 other real people: LFW DevTest's most photographed by default, found
at ../shared/face_data or $FACEZOO_FACE_DATA), is the target. ID similarity: cosine to the target's
centroid minus cosine to the source's. With --pairs (the source frames, matched by file name or frame
number): pose error in degrees and expression error (a share of the inter-ocular distance). Inputs that
are unreadable or show no face are counted and named, never fatal. See `zoo.judge`.

The judge is dlib's face recognition ResNet (public domain, 99.38% on LFW) with its 5-point landmarks;
install it with: pip install -e ".[judge]"

Examples:
    facezoo judge --target photos_of_B/ --source photos_of_A/ runs/pair/previews/swaps/
    facezoo judge --target B/ --source A/ swapped.mp4 --pairs A_clip.mp4 --json
    facezoo judge --target B/ --gallery people/ swaps/ --aligned       # facezoo's own aligned swap crops
"""
from __future__ import annotations

import json

from recipes._common import main_for


def add_arguments(parser) -> None:
    parser.add_argument("swaps", nargs="+", metavar="SWAPS",
                        help="swapped faces: image files, folders of images, or videos")
    parser.add_argument("--target", required=True, metavar="DIR_B",
                        help="photos of the target person B (a folder, a photo or a video): the identity swaps should show")
    parser.add_argument("--source", default=None, metavar="DIR_A",
                        help="photos of the source person A, whose identity a swap should lose")
    parser.add_argument("--gallery", action="append", default=None, metavar="DIR",
                        help="other identities (repeatable): a folder of identity subfolders, or one folder per identity "
                             "(default: 20 LFW DevTest people from ../shared/face_data or $FACEZOO_FACE_DATA)")
    parser.add_argument("--pairs", default=None, metavar="SRC_DIR",
                        help="the source frames the swaps were made from (a folder or a video), matched by file "
                             "name or frame number: adds pose and expression error")
    parser.add_argument("--aligned", action="store_true",
                        help="inputs are facezoo aligned crops: where no face is detected, use the crop's "
                             "alignment template")
    parser.add_argument("--max-frames", type=int, default=100, help="frames judged per video, evenly spaced")
    parser.add_argument("--processes", type=int, default=1,
                        help="worker processes (dlib runs one core each; default: %(default)s)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the summary")


def format_report(r: dict) -> str:
    """The judge's numbers as a few lines (for `facezoo judge`, `convert --report`, benchmarks)."""
    def pct(v):
        return "n/a" if v is None else f"{100 * v:.1f}%"

    def num(v, fmt):
        return "n/a" if v is None else format(v, fmt)

    lines = [f"judge ({r['judge']}):",
             f"  ID retrieval        {pct(r['id_retrieval'])} of {r['faces_found']} faces found "
             f"({r['faces_total']} inputs; gallery of {r['gallery_identities']} identities)",
             f"  ID similarity       {num(r['id_similarity'], '+.4f')}  [{r['id_similarity_definition']}]",
             f"  pose error          {num(r['pose_error_deg'], '.2f')} deg"
             + (f" over {r['pairs_matched']} pairs" if r.get("pairs_matched") else " (needs --pairs)"),
             f"  expression error    {num(r['expression_error'], '.4f')} of the inter-ocular distance"]
    if r.get("warning"):
        lines.append(f"  note: {r['warning']}")
    for b in r.get("bad_inputs", [])[:10]:
        lines.append(f"  not judged: {b['input']}: {b['why']}")
    if len(r.get("bad_inputs", [])) > 10:
        lines.append(f"  ... and {len(r['bad_inputs']) - 10} more not judged")
    return "\n".join(lines)


def run(args) -> int:
    from recipes._common import UserError
    from zoo.judge import judge_swaps

    if args.max_frames < 1 or args.processes < 1:
        raise UserError("--max-frames and --processes must be at least 1.")
    report = judge_swaps(args.swaps, target=[args.target], source=[args.source] if args.source else None, gallery=args.gallery,
                         pairs=args.pairs, aligned=args.aligned, processes=args.processes,
                         max_frames=args.max_frames)
    print(json.dumps(report) if args.json else format_report(report))
    return 0


def main():
    main_for(__name__, add_arguments, run)


if __name__ == "__main__":
    main()
