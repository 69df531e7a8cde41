"""The judge anchored on LFW: dlib's recognizer scored by facezoo's own verification protocol.

`facezoo bench lfw --encoder judge:dlib` runs this instead of a Keras encoder. The protocol code is
`zoo.verification`'s (thresholds chosen on held-out pairs, View 1 / View 2 folds); only the faces differ:
each photo goes through the judge's own pipeline (dlib HOG, the face nearest the centre as for the LFW
corpus, dlib's 5 points, a 150 px chip, the ResNet descriptor), since that is what the judge uses on swaps.
A photo where HOG finds no face is aligned from a fixed box where LFW's deep-funneled faces sit (the mean
HOG box of LFW photos, measured), and counted in `fallbacks`.

dlib's published figure is 99.38% on View 2 (99.13% without jitter, which facezoo does not use).
`folds=N` scores only the first N folds of pairs.txt, cross-validated among themselves (a budget cut,
recorded in the result).
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from zoo.errors import DataError, InputError

__all__ = ["JUDGE_ENCODER", "LFW_FALLBACK_BOX", "judge_lfw_verification"]

JUDGE_ENCODER = "judge:dlib"
LFW_FALLBACK_BOX = (75, 85, 178, 187)   # mean dlib HOG box of 40 deep-funneled LFW photos (250 x 250)
EMBEDDING = "dlib face recognition ResNet v1 (128-d), 5-point 150 px chip, no jitter; L2-normalised; cosine"


def judge_lfw_verification(root, *, view: int = 1, folds: int | None = None, max_pairs: int | None = None,
                           processes: int = 1, progress=None) -> dict:
    """LFW verification accuracy of the judge; the same result keys as `zoo.verification.lfw_verification`."""
    from zoo.data.lfw import PAIRS_FILES, _protocol_file, find_images_dir, image_path, read_pairs
    from zoo.judge.batch import Item, judge_items
    from zoo.verification import _subset, view1_accuracy, view2_accuracy

    if view not in (1, 2):
        raise DataError(f"LFW view must be 1 or 2. Received: view={view!r}")
    root = Path(root).expanduser()
    images = find_images_dir(root)
    start = time.perf_counter()
    if view == 1:
        lists = [_subset(read_pairs(_protocol_file(root, PAIRS_FILES[k]))[0], max_pairs)
                 for k in ("view1-train", "view1-test")]
    else:
        lists = [_subset(f, max_pairs) for f in read_pairs(_protocol_file(root, PAIRS_FILES["view2"]))]
        if folds is not None:
            if not 2 <= folds <= len(lists):
                raise InputError(f"--folds {folds}: give 2 to {len(lists)} (folds of pairs.txt scored).")
            lists = lists[:folds]
    keys = sorted({(p.name_a, p.num_a) for ps in lists for p in ps} | {(p.name_b, p.num_b) for ps in lists for p in ps})
    paths = [image_path(images, *k) for k in keys]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise DataError(f"LFW at {root}: {len(missing)} photos named in the pairs files are missing "
                        f"(e.g. {missing[0]}). Use the deep-funneled images that ship with the pairs files.")
    faces = judge_items([Item(str(p), p.stem, p) for p in paths], select="centre", fallback_box=LFW_FALLBACK_BOX,
                        processes=processes, progress=progress)
    bad = [str(p) for p, f in zip(paths, faces) if not f.found]
    if bad:
        raise DataError(f"the judge could not align {len(bad)} LFW photos (e.g. {bad[0]}: "
                        f"{faces[paths.index(Path(bad[0]))].reason}).")
    emb = {k: f.embedding for k, f in zip(keys, faces)}

    def scores(pairs):
        a = np.stack([emb[(p.name_a, p.num_a)] for p in pairs])
        b = np.stack([emb[(p.name_b, p.num_b)] for p in pairs])
        return np.sum(a * b, axis=1), np.array([p.same for p in pairs])

    if view == 1:
        result = view1_accuracy(*scores(lists[0]), *scores(lists[1]))
        pairs = len(lists[1])
    else:
        scored = [scores(fold) for fold in lists]
        result = view2_accuracy([s for s, _ in scored], [y for _, y in scored])
        pairs = sum(len(f) for f in lists)
    return {"view": view, **result, **({"folds": len(lists)} if view == 2 else {}), "pairs": pairs,
            "subset": bool(max_pairs), "photos": len(keys),
            "fallbacks": sum(f.method == "fallback-box" for f in faces), "valid": True,
            "embedding": EMBEDDING, "input_size": 150, "seconds": round(time.perf_counter() - start, 1)}
