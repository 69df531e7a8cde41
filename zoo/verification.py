"""Face verification by LFW's own protocol: the standard number for how well an encoder tells people apart.

An encoder's embedding of a face is its last feature map, global-average-pooled over space and
L2-normalised (the same pooled features the identity probe uses). A pair's score is the cosine
similarity of its two embeddings; a pair is called "same person" above a threshold. The threshold is
always chosen on pairs that are not scored with it:

    View 1: the threshold that is best on pairsDevTrain.txt (2,200 pairs), accuracy on pairsDevTest.txt
            (1,000 pairs of DevTest people). Valid for encoders trained on DevTrain people.
    View 2: 10-fold cross-validation on pairs.txt: for each fold the threshold best on the other nine;
            mean +- std of the ten accuracies. LFW's headline number, valid only for encoders that never
            saw LFW (`view2_valid`), since pairs.txt covers every LFW person.

Faces go through facezoo's own detection and 5-point alignment (the face nearest the image centre, as
for the LFW corpus). A photo where MTCNN finds no face is aligned with the mean landmarks of the photos
where it did (LFW is deep-funneled, so faces sit near the same place), and counted in `fallbacks`.

Examples:
    >>> result = lfw_verification(encoder, "/data/lfw", view=1)
    >>> result["accuracy"], result["threshold"]
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from zoo.errors import DataError

__all__ = ["embed", "best_threshold", "accuracy_at", "view1_accuracy", "view2_accuracy", "lfw_verification",
           "view2_valid", "format_reference"]


def embed(encoder, faces: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """uint8 faces (N, S, S, 3) at the encoder's input size -> L2-normalised pooled features (N, C)."""
    x = faces.astype(np.float32) / 255.0
    feats = encoder.predict(x, batch_size=batch_size, verbose=0)
    feats = np.asarray(feats, np.float64)
    if feats.ndim == 4:
        feats = feats.mean(axis=(1, 2))
    feats = feats.reshape(len(feats), -1)
    return feats / (np.linalg.norm(feats, axis=1, keepdims=True) + 1e-12)


def best_threshold(scores, same) -> float:
    """The threshold with the best accuracy on (scores, same): the midpoint between two sorted scores."""
    scores = np.asarray(scores, np.float64)
    same = np.asarray(same, bool)
    order = np.argsort(scores)
    s, y = scores[order], same[order]
    # Threshold below s[i] (call i.. same): correct = mismatched below i + matched from i on.
    neg_below = np.concatenate([[0], np.cumsum(~y)])
    pos_from = np.concatenate([np.cumsum(y[::-1])[::-1], [0]])
    correct = neg_below + pos_from
    i = int(np.argmax(correct))
    if i == 0:
        return float(s[0] - 1e-6)
    if i == len(s):
        return float(s[-1] + 1e-6)
    return float((s[i - 1] + s[i]) / 2)


def accuracy_at(scores, same, threshold: float) -> float:
    return float(np.mean((np.asarray(scores) > threshold) == np.asarray(same, bool)))


def view1_accuracy(train_scores, train_same, test_scores, test_same) -> dict:
    t = best_threshold(train_scores, train_same)
    return {"accuracy": round(accuracy_at(test_scores, test_same, t), 5), "std": None, "threshold": float(t),
            "train_accuracy": round(accuracy_at(train_scores, train_same, t), 5)}


def view2_accuracy(fold_scores, fold_same) -> dict:
    accs, thresholds = [], []
    for k in range(len(fold_scores)):
        tr_s = np.concatenate([s for j, s in enumerate(fold_scores) if j != k])
        tr_y = np.concatenate([y for j, y in enumerate(fold_same) if j != k])
        t = best_threshold(tr_s, tr_y)
        thresholds.append(t)
        accs.append(accuracy_at(fold_scores[k], fold_same[k], t))
    return {"accuracy": round(float(np.mean(accs)), 5), "std": round(float(np.std(accs)), 5),
            "threshold": float(np.mean(thresholds)), "fold_accuracies": [round(a, 5) for a in accs]}


def view2_valid(manifest: dict | None) -> tuple[bool, str]:
    """Whether LFW View 2 is a fair test of a release, from its `facezoo.json` (corpus, parent)."""
    corpus = (manifest or {}).get("corpus") or {}
    text = " ".join(str(corpus.get(k, "")) for k in ("kind", "spec", "name")).lower()
    if "lfw" in text:
        return False, (f"the encoder was trained on LFW ({corpus.get('name') or corpus.get('spec')}); "
                       "View 2's pairs.txt covers every LFW person, so its score would be inflated. Use View 1 (--view 1), whose test pairs are of DevTest people.")
    return True, ""


def format_reference() -> str:
    from zoo.data.lfw import LFW_REFERENCE_ACCURACY
    return ", ".join(f"{k} {100 * v:.2f}%" for k, v in LFW_REFERENCE_ACCURACY.items())


def _fallback_landmarks(cache: Path) -> np.ndarray | None:
    from zoo.data.alignments import face_records, read_alignments
    pts = [np.asarray(r["landmarks"], np.float64) for r in face_records(read_alignments(cache))
           if r.get("image_size") == [250, 250]]
    return np.mean(pts, axis=0) if pts else None


def _pair_faces(root: Path, pairs_lists, size: int, cache_dir, progress) -> tuple[dict, int]:
    """{(name, number): aligned uint8 face at `size`} for every photo in the pairs; number of fallbacks."""
    from zoo.data.align import align_face
    from zoo.data.corpus import _to_square, align_sources, default_aligned_cache
    from zoo.data.images import read_image
    from zoo.data.lfw import find_images_dir, image_path

    images = find_images_dir(root)
    keys = sorted({(p.name_a, p.num_a) for ps in pairs_lists for p in ps} |
                  {(p.name_b, p.num_b) for ps in pairs_lists for p in ps})
    paths = {k: image_path(images, *k).resolve() for k in keys}
    missing = [str(p) for p in paths.values() if not p.is_file()]
    if missing:
        raise DataError(f"LFW at {root}: {len(missing)} photos named in the pairs files are missing "
                        f"(e.g. {missing[0]}). Use the deep-funneled images that ship with the pairs files.")
    if cache_dir is None:
        cache_dir = default_aligned_cache("lfw", root, 128)
    crops = align_sources(list(paths.values()), cache_dir, 128, select="centre", progress=progress)
    mean_pts = None
    faces, fallbacks = {}, 0
    for k, p in paths.items():
        found = crops.get(p) or []
        if found:
            faces[k] = _to_square(read_image(found[0]), size)
            continue
        if mean_pts is None:
            mean_pts = _fallback_landmarks(Path(cache_dir))
            if mean_pts is None:
                raise DataError(f"no face was found in any LFW photo under {root}; is it LFW?")
        rgb = read_image(p)
        crop, _ = align_face(rgb, mean_pts, 128)
        faces[k] = _to_square(crop, size) if size != 128 else crop
        fallbacks += 1
    return faces, fallbacks


def _scores(encoder, faces: dict, pairs) -> tuple[np.ndarray, np.ndarray]:
    keys = list(faces)
    index = {k: i for i, k in enumerate(keys)}
    emb = embed(encoder, np.stack([faces[k] for k in keys]))
    a = np.array([index[(p.name_a, p.num_a)] for p in pairs])
    b = np.array([index[(p.name_b, p.num_b)] for p in pairs])
    return np.sum(emb[a] * emb[b], axis=1), np.array([p.same for p in pairs])


def _subset(pairs: list, per_kind: int | None) -> list:
    """The first `per_kind` matched and first `per_kind` mismatched pairs of a list (all when None)."""
    if not per_kind:
        return pairs
    return [p for p in pairs if p.same][:per_kind] + [p for p in pairs if not p.same][:per_kind]


def lfw_verification(encoder, root, *, view: int = 1, cache_dir=None, progress=None, manifest: dict | None = None,
                     allow_seen: bool = False, max_pairs: int | None = None) -> dict:
    """Verification accuracy of `encoder` on LFW by the protocol of `view` (see the module doc).

    `manifest` (the release's `facezoo.json`) decides whether View 2 is valid; an encoder trained on
    LFW is refused for View 2 unless `allow_seen`, and then flagged `valid: False`. `max_pairs` keeps
    that many matched and mismatched pairs of each list or fold (a quick check, reported as `subset`;
    not LFW's score).
    """
    from zoo.data.lfw import PAIRS_FILES, _protocol_file, find_images_dir, read_pairs

    if view not in (1, 2):
        raise DataError(f"LFW view must be 1 or 2. Received: view={view!r}")
    root = Path(root).expanduser()
    find_images_dir(root)  # a missing or wrong folder fails here, before anything is read
    valid, why = (True, "") if view == 1 else view2_valid(manifest)
    if not valid and not allow_seen:
        raise DataError(f"LFW View 2 refused: {why}")
    start = time.perf_counter()
    size = int(encoder.input_shape[1])
    if view == 1:
        train = _subset(read_pairs(_protocol_file(root, PAIRS_FILES["view1-train"]))[0], max_pairs)
        test = _subset(read_pairs(_protocol_file(root, PAIRS_FILES["view1-test"]))[0], max_pairs)
        faces, fallbacks = _pair_faces(root, [train, test], size, cache_dir, progress)
        result = view1_accuracy(*_scores(encoder, faces, train), *_scores(encoder, faces, test))
        pairs = len(test)
    else:
        folds = [_subset(f, max_pairs) for f in read_pairs(_protocol_file(root, PAIRS_FILES["view2"]))]
        faces, fallbacks = _pair_faces(root, folds, size, cache_dir, progress)
        scored = [_scores(encoder, faces, fold) for fold in folds]
        result = view2_accuracy([s for s, _ in scored], [y for _, y in scored])
        pairs = sum(len(f) for f in folds)
    return {"view": view, **result, "pairs": pairs, "subset": bool(max_pairs), "photos": len(faces),
            "fallbacks": fallbacks,
            "valid": valid, **({"invalid_because": why} if why else {}),
            "embedding": "global-average-pooled last feature map, L2-normalised; cosine similarity",
            "input_size": size, "seconds": round(time.perf_counter() - start, 1)}
