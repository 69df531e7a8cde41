"""`facezoo bench lfw`: an encoder's face-verification accuracy by LFW's own protocol.

Without --lfw, LFW is looked for at ../shared/face_data/lfw beside the project, then at
$FACEZOO_FACE_DATA/lfw (docs/real-faces.md). `--encoder judge:dlib` scores the judge (`zoo.judge`, the
`judge` extra) by the same protocol code, on its own dlib chips; `--folds N` scores the first N folds of
View 2 only (a budget cut for slow encoders, recorded in the result).

Examples:
    facezoo bench lfw --encoder team/mobilenet-lfw@v1 --lfw /data/lfw             # View 1 (DevTest pairs)
    facezoo bench lfw --encoder random:mobilenet-face --size 64 --view 2          # an untrained baseline
    facezoo bench lfw --encoder runs/pre/encoder.keras --json lfw.json
    facezoo bench lfw --encoder judge:dlib --view 2 --processes 2                 # the judge's anchor

The embedding is the encoder's last feature map, global-average-pooled and L2-normalised; pairs are
scored by cosine similarity with the threshold chosen on held-out pairs (see `zoo.verification`).
View 2 (pairs.txt, 10 folds) is refused for an encoder whose release says it trained on LFW.
"""
from __future__ import annotations

import json
from pathlib import Path

from recipes._common import UserError

RANDOM_PREFIX = "random:"


def add_arguments(parser) -> None:
    parser.add_argument("--encoder", required=True,
                        help="a hub ref, a path, random:NAME (random init at --size), or judge:dlib (the judge)")
    parser.add_argument("--view", type=int, choices=(1, 2), default=1,
                        help="1: threshold on pairsDevTrain, accuracy on pairsDevTest; 2: 10-fold pairs.txt")
    parser.add_argument("--lfw", default=None, metavar="ROOT",
                        help="LFW folder (images_deepfunneled/ + protocol files); default "
                             "../shared/face_data/lfw beside the project, then $FACEZOO_FACE_DATA/lfw")
    parser.add_argument("--size", type=int, default=64, help="input size of random:NAME (default: %(default)s)")
    parser.add_argument("--allow-seen", action="store_true",
                        help="score View 2 even for an encoder trained on LFW (flagged invalid)")
    parser.add_argument("--json", default=None, help="also write the result to this JSON file")
    parser.add_argument("--max-pairs", type=int, default=None, metavar="N",
                        help="only N matched + N mismatched pairs per list/fold: a quick check, not LFW's score")
    parser.add_argument("--folds", type=int, default=None, metavar="N",
                        help="View 2: score only the first N of the 10 folds, cross-validated among themselves")
    parser.add_argument("--processes", type=int, default=1,
                        help="judge:dlib: worker processes (dlib uses one core each; default: %(default)s)")
    parser.add_argument("--hub", default=None, help="hub for --encoder (default: $FACEZOO_HUB or the local hub)")
    parser.add_argument("--verbose", "-v", action="store_true")


def format_threshold(t: float) -> str:
    """A cosine threshold with the digits that matter: 0.45738, 0.9999962 (never a rounded "1.0000")."""
    import math

    gap = 1.0 - abs(t)
    decimals = 5 if gap >= 1e-4 else min(12, 2 - int(math.floor(math.log10(max(gap, 1e-15)))))
    return f"{t:.{decimals}f}"


def lfw_root(value: str | None) -> Path:
    """--lfw, else ../shared/face_data/lfw beside the project, else `$FACEZOO_FACE_DATA/lfw`."""
    from zoo.data.lfw import find_face_data

    if value:
        return Path(value).expanduser()
    data = find_face_data()
    if data is not None and (data / "lfw").is_dir():
        return data / "lfw"
    raise UserError("no LFW folder: pass --lfw PATH (the folder with images_deepfunneled/ and pairs.txt; "
                    "download LFW from its official site), put it at ../shared/face_data/lfw beside the project, "
                    "or set $FACEZOO_FACE_DATA to a folder holding lfw/.")


def open_encoder(ref: str, *, size: int, hub=None):
    """(encoder, release manifest) for a hub ref, a path, or `random:NAME` (random init at `size`)."""
    import zoo
    from hub.constants import MANIFEST_FILE
    from zoo.refs import PATH, EncoderRef

    if ref.startswith(RANDOM_PREFIX):
        name = ref[len(RANDOM_PREFIX):]
        return zoo.build_encoder(name, input_size=size), {"corpus": None, "encoder": name, "weights": "random"}
    parsed = EncoderRef.parse(ref)                     # parsed once; load_encoder takes the object
    encoder = zoo.load_encoder(parsed, hub=hub)        # resolved, pulled and verified once
    manifest = zoo.encoder_info(encoder).manifest
    path = parsed.path
    if parsed.kind == PATH and not manifest and path.is_file() and (path.parent / MANIFEST_FILE).is_file():
        manifest = json.loads((path.parent / MANIFEST_FILE).read_text())   # a .keras beside its release's manifest
    return encoder, manifest


def run_lfw(args) -> int:
    from zoo.data.lfw import LFW_REFERENCE_ACCURACY
    from zoo.io import write_json
    from zoo.verification import lfw_verification

    from zoo.data.lfw import find_images_dir

    root = lfw_root(args.lfw)
    find_images_dir(root)  # fail on a wrong folder before loading the encoder
    if args.folds is not None and args.view != 2:
        raise UserError(f"--folds {args.folds}: folds are View 2's; add --view 2.")
    if args.processes < 1:
        raise UserError(f"--processes {args.processes}: give 1 or more.")
    if args.encoder.startswith("judge:"):
        from zoo.judge import JUDGE_ENCODER, judge_lfw_verification
        if args.encoder != JUDGE_ENCODER:
            raise UserError(f"--encoder {args.encoder}: the judge is {JUDGE_ENCODER}.")
        result = judge_lfw_verification(root, view=args.view, folds=args.folds, max_pairs=args.max_pairs,
                                        processes=args.processes, progress=_progress())
    else:
        encoder, manifest = open_encoder(args.encoder, size=args.size, hub=args.hub)
        if args.folds is not None:
            raise UserError("--folds is for slow encoders (judge:dlib); a Keras encoder scores all 10 folds.")
        result = lfw_verification(encoder, root, view=args.view, manifest=manifest, allow_seen=args.allow_seen,
                                  max_pairs=args.max_pairs)
    result = {"encoder": args.encoder, **result}
    std = f" +- {100 * result['std']:.2f}" if result.get("std") is not None else ""
    folds = f", {result['folds']} folds" if result.get("folds") not in (None, 10) else ""
    print(f"LFW View {args.view} verification accuracy of {args.encoder}: {100 * result['accuracy']:.2f}%{std} "
          f"({result['pairs']} pairs{folds}, threshold {format_threshold(result['threshold'])} chosen on held-out pairs; "
          f"{result['fallbacks']} of {result['photos']} photos had no face detected and were aligned from where LFW faces sit)")
    if result["subset"]:
        print(f"  a subset of {args.max_pairs} matched + {args.max_pairs} mismatched pairs per list: not LFW's score")
    if not result["valid"]:
        print(f"  NOT A VALID View 2 SCORE: {result['invalid_because']}")
    print("  published 10-fold accuracies on pairs.txt (View 2), for scale: "
          + ", ".join(f"{k} {100 * v:.2f}%" for k, v in LFW_REFERENCE_ACCURACY.items()) + "; chance 50%")
    if args.json:
        write_json(Path(args.json), result)
        print(f"  written to {args.json}")
    return 0


def _progress():
    """A progress line at most every 10 s (the judge takes minutes on LFW)."""
    import time
    last = [0.0]

    def report(done: int, total: int) -> None:
        now = time.monotonic()
        if now - last[0] >= 10 or done == total:
            last[0] = now
            print(f"[lfw] {done}/{total} photos judged", flush=True)
    return report
