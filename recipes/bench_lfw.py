"""`facezoo bench lfw`: an encoder's face-verification accuracy by LFW's own protocol.

Examples:
    facezoo bench lfw --encoder team/mobilenet-lfw@v1 --lfw /data/lfw             # View 1 (DevTest pairs)
    facezoo bench lfw --encoder random:mobilenet-face --size 64 --view 2          # an untrained baseline
    facezoo bench lfw --encoder runs/pre/encoder.keras --json lfw.json

The embedding is the encoder's last feature map, global-average-pooled and L2-normalised; pairs are
scored by cosine similarity with the threshold chosen on held-out pairs (see `zoo.verification`).
View 2 (pairs.txt, 10 folds) is refused for an encoder whose release says it trained on LFW.
"""
from __future__ import annotations

import json
from pathlib import Path

from recipes._common import UserError

RANDOM_PREFIX = "random:"


def lfw_root(value: str | None) -> Path:
    """--lfw, else `$FACEZOO_FACE_DATA/lfw`; an error that says where LFW comes from otherwise."""
    from zoo.data.lfw import face_data_dir

    if value:
        return Path(value).expanduser()
    data = face_data_dir()
    if data is not None and (data / "lfw").is_dir():
        return data / "lfw"
    raise UserError("no LFW folder: pass --lfw PATH (the folder with images_deepfunneled/ and pairs.txt; "
                    "download LFW from its official site) or set $FACEZOO_FACE_DATA to a folder holding lfw/.")


def open_encoder(ref: str, *, size: int, hub=None):
    """(encoder, release manifest) for a hub ref, a path, or `random:NAME` (random init at `size`)."""
    import zoo
    from hub.constants import MANIFEST_FILE
    from zoo.loading import _is_path

    if ref.startswith(RANDOM_PREFIX):
        name = ref[len(RANDOM_PREFIX):]
        return zoo.build_encoder(name, input_size=size), {"corpus": None, "encoder": name, "weights": "random"}
    if not _is_path(ref):
        encoder = zoo.load_encoder(ref, hub=hub)      # resolved, pulled and verified once
        return encoder, zoo.encoder_info(encoder).manifest
    path = Path(ref).expanduser()
    encoder = zoo.load_encoder(str(path))
    manifest = zoo.encoder_info(encoder).manifest
    if not manifest and path.is_file() and (path.parent / MANIFEST_FILE).is_file():
        manifest = json.loads((path.parent / MANIFEST_FILE).read_text())   # a .keras beside its release's manifest
    return encoder, manifest


def run_lfw(args) -> int:
    from zoo.data.lfw import LFW_REFERENCE_ACCURACY
    from zoo.io import write_json
    from zoo.verification import lfw_verification

    from zoo.data.lfw import find_images_dir

    root = lfw_root(args.lfw)
    find_images_dir(root)  # fail on a wrong folder before loading the encoder
    encoder, manifest = open_encoder(args.encoder, size=args.size, hub=args.hub)
    result = lfw_verification(encoder, root, view=args.view, manifest=manifest, allow_seen=args.allow_seen,
                              max_pairs=args.max_pairs)
    result = {"encoder": args.encoder, **result}
    std = f" +- {100 * result['std']:.2f}" if result.get("std") is not None else ""
    print(f"LFW View {args.view} verification accuracy of {args.encoder}: {100 * result['accuracy']:.2f}%{std} "
          f"({result['pairs']} pairs, threshold {result['threshold']:.4f} chosen on held-out pairs; "
          f"{result['fallbacks']} of {result['photos']} photos aligned by the mean landmarks, no face found)")
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
