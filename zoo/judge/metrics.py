"""Swap metrics the way the field reports them (FaceShifter, SimSwap, HifiFace, FaceDancer).

`judge_swaps(swaps, target=..., source=..., gallery=..., pairs=...)` returns one dict:
- `id_retrieval`: the share of swapped faces (among those found) whose nearest identity centroid, by
  cosine of the judge's descriptors, is the target's. The gallery holds the target, the source and other
  real people: the 20 most photographed LFW DevTest people by default (`default_gallery`), or `gallery`
  folders (a folder of identity subfolders, or one folder per identity).
- `id_similarity`: mean over found faces of cos(face, target centroid) - cos(face, source centroid);
  without a source, mean cos(face, target centroid) (`id_similarity_definition` says which).
- `faces_found` / `faces_total`: inputs where a face was found, of all inputs; `bad_inputs` names each
  input that was unreadable or had no face, with why.
- with `pairs` (the source frames, matched to swaps by file stem or video frame index):
  `pose_error_deg` (mean L2 norm of the (yaw, pitch, roll) difference, degrees), `pose_delta_deg` (mean
  signed differences), and `expression_error` (`zoo.judge.pose.expression_error`). Null where not measured.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from zoo.errors import DataError, InputError

__all__ = ["judge_swaps", "judge_conversion", "default_gallery", "gallery_from_folders", "MIN_OTHER_IDENTITIES"]

MIN_OTHER_IDENTITIES = 20
GALLERY_PHOTOS = 8          # photos per default gallery person: enough for a stable centroid


def _centroid(faces, what: str) -> np.ndarray:
    emb = [f.embedding for f in faces if f.found]
    if not emb:
        why = "; ".join(sorted({f.reason for f in faces if f.reason}))
        raise DataError(f"no face was found in any photo of {what} ({why or 'no photos'}); give photos where "
                        "the face is visible.")
    c = np.mean(emb, axis=0)
    return c / (np.linalg.norm(c) + 1e-12)


def default_gallery(exclude=()) -> dict[str, list[Path]]:
    """{name: photos} of the most photographed LFW DevTest people (from `zoo.data.lfw.find_face_data`)."""
    from zoo.data.lfw import PEOPLE_FILES, find_face_data, find_images_dir, read_people

    data = find_face_data()
    root = data / "lfw" if data else None
    if root is None or not root.is_dir():
        raise InputError("the judge's default gallery is LFW's DevTest people, and no LFW was found at "
                         "../shared/face_data/lfw beside the project or $FACEZOO_FACE_DATA/lfw. Pass "
                         "--gallery DIR (identity subfolders of photos, at least 20 people) or set $FACEZOO_FACE_DATA.")
    images = find_images_dir(root)
    people = sorted(read_people(root / PEOPLE_FILES["devtest"]), key=lambda r: (-r[1], r[0]))
    out = {}
    for name, _ in people:
        if name in exclude:
            continue
        photos = sorted((images / name).glob("*.jpg"))[:GALLERY_PHOTOS]
        if photos:
            out[name] = photos
        if len(out) == MIN_OTHER_IDENTITIES:
            break
    return out


def gallery_from_folders(folders) -> dict[str, list[Path]]:
    """{identity: photos}: each folder's image subfolders are identities; a folder of images is one."""
    from zoo.data.images import is_image_path, list_images

    out = {}
    for raw in folders:
        folder = Path(raw).expanduser()
        if not folder.is_dir():
            raise InputError(f"--gallery {folder}: not a folder. Give folders of identity subfolders of photos, "
                             "or one folder of photos per identity.")
        subs = sorted(d for d in folder.iterdir() if d.is_dir() and any(is_image_path(q) for q in d.iterdir()))
        for d in subs or [folder]:
            photos = [q for q in list_images(d, recursive=False)] if subs else list_images(d)
            if photos:
                out[f"{d.name}" if d.name not in out else str(d)] = photos
    if not out:
        raise InputError(f"--gallery {', '.join(map(str, folders))}: no photos found.")
    return out


def _pair_key(key: str) -> str:
    """A frame's matching key: its stem, or the trailing number of it (frame_000012 -> 12)."""
    m = re.search(r"(\d+)$", key)
    return str(int(m.group(1))) if m else key


def _spread(items: list, most: int) -> list:
    """At most `most` items, evenly spaced (a person's centroid needs dozens of faces, not thousands)."""
    if len(items) <= most:
        return items
    return [items[int(i)] for i in np.linspace(0, len(items) - 1, most)]


def judge_swaps(swaps, *, target, source=None, gallery=None, pairs=None, aligned: bool = False,
                processes: int = 1, max_frames: int = 100, progress=None) -> dict:
    """Score swapped faces (files, folders, videos) against `target` photos: see the module docstring."""
    from zoo.judge.batch import Item, judge_items, load_items
    from zoo.judge.pose import expression_error, head_pose, pose_error

    def run(items, **kw):
        return judge_items(items, processes=processes, progress=progress, **kw)

    swap_items = load_items(swaps, max_frames=max_frames)
    if not swap_items:
        raise InputError("no swaps given: name image files, folders or videos to judge.")
    target_faces = run(_spread(load_items(target, max_frames=max_frames), max_frames), aligned=aligned)
    centroids = {"target": _centroid(target_faces, f"the target ({', '.join(map(str, target))})")}
    if source:
        centroids["source"] = _centroid(run(_spread(load_items(source, max_frames=max_frames), max_frames),
                                            aligned=aligned), f"the source ({', '.join(map(str, source))})")
    resolved = {Path(p).expanduser().resolve() for p in list(target) + list(source or [])}
    others = gallery_from_folders(gallery) if gallery else default_gallery()
    for name, photos in others.items():
        if {p.resolve().parent for p in photos} & resolved or name in centroids:
            continue        # the target or source themselves, found again in the gallery
        faces = run([Item(str(p), p.stem, p) for p in photos], select="largest")
        if any(f.found for f in faces):
            centroids[name] = _centroid(faces, name)
    names = list(centroids)
    matrix = np.stack([centroids[n] for n in names])

    faces = run(swap_items, aligned=aligned)
    found = [(it, f) for it, f in zip(swap_items, faces) if f.found]
    bad = [{"input": it.label, "why": it.error or f.reason} for it, f in zip(swap_items, faces) if not f.found]
    report = {"id_retrieval": None, "id_similarity": None, "faces_found": len(found), "faces_total": len(faces),
              "pose_error_deg": None, "pose_delta_deg": None, "expression_error": None, "pairs_matched": 0,
              "gallery_identities": len(names), "gallery_others": len(names) - 1 - ("source" in centroids),
              "id_similarity_definition": ("cos(target centroid) - cos(source centroid)" if "source" in centroids
                                           else "cos(target centroid); no --source given"),
              "target_cosine": None, "source_cosine": None, "nearest_identities": {},
              "aligned_by_template": sum(f.method == "template" for _, f in found), "bad_inputs": bad,
              "judge": "dlib face recognition ResNet v1 (public domain), 5-point chips at 150 px"}
    if report["gallery_others"] < MIN_OTHER_IDENTITIES:
        report["warning"] = (f"the gallery holds {report['gallery_others']} other identities; ID retrieval is "
                             f"comparable with published figures from {MIN_OTHER_IDENTITIES} on")
    if found:
        emb = np.stack([f.embedding for _, f in found])
        sims = emb @ matrix.T
        nearest = [names[i] for i in sims.argmax(axis=1)]
        report["id_retrieval"] = round(float(np.mean([n == "target" for n in nearest])), 5)
        t = sims[:, 0]
        report["target_cosine"] = round(float(t.mean()), 5)
        if "source" in centroids:
            s = sims[:, names.index("source")]
            report["source_cosine"] = round(float(s.mean()), 5)
            report["id_similarity"] = round(float((t - s).mean()), 5)
        else:
            report["id_similarity"] = round(float(t.mean()), 5)
        counts: dict[str, int] = {}
        for n in nearest:
            counts[n] = counts.get(n, 0) + 1
        report["nearest_identities"] = dict(sorted(counts.items(), key=lambda kv: -kv[1]))
    if pairs and found:
        src_items = load_items([pairs], max_frames=max_frames) if isinstance(pairs, (str, Path)) else \
            load_items(pairs, max_frames=max_frames)
        by_stem = {it.key: it for it in src_items if not it.error}
        by_number: dict[str, list] = {}
        for it in by_stem.values():
            by_number.setdefault(_pair_key(it.key), []).append(it)

        def source_of(it):
            """The source frame of a swap: the same file stem, else the one frame with its number."""
            if it.key in by_stem:
                return by_stem[it.key]
            same = by_number.get(_pair_key(it.key), [])
            return same[0] if len(same) == 1 else None

        matched = [(it, f, source_of(it)) for it, f in found if source_of(it) is not None]
        report["pairs_unmatched"] = len(found) - len(matched)
        src_faces = run([m[2] for m in matched]) if matched else []
        poses, exprs, deltas = [], [], []
        for (it, f, src), sf in zip(matched, src_faces):
            if not sf.found:
                bad.append({"input": src.label, "why": f"source frame: {sf.reason}"})
                continue
            e = pose_error(head_pose(f.landmarks, f.shape), head_pose(sf.landmarks, sf.shape))
            poses.append(e["l2"])
            deltas.append([e["yaw"], e["pitch"], e["roll"]])
            exprs.append(expression_error(f.landmarks, f.shape, sf.landmarks, sf.shape))
        report["pairs_matched"] = len(poses)
        if poses:
            d = np.mean(deltas, axis=0)
            report["pose_error_deg"] = round(float(np.mean(poses)), 3)
            report["pose_delta_deg"] = {"yaw": round(float(d[0]), 3), "pitch": round(float(d[1]), 3),
                                        "roll": round(float(d[2]), 3)}
            report["expression_error"] = round(float(np.mean(exprs)), 5)
            report["expression_note"] = "dlib's 5 points (eye corners, nose base): no mouth, a weak expression measure"
    return report


def judge_conversion(run_dir, to: str, outputs, inputs=None, *, every_n: int = 1, max_frames: int = 100,
                     processes: int = 1) -> dict:
    """Judge what `facezoo convert --run RUN --to B` wrote: the target is the run's training faces of `to`
    (from RUN/state.json), the source its other identities' faces; `inputs` (the converted originals,
    matched by file name or frame number) give pose and expression error when every frame was kept."""
    from zoo.runs import read_state

    folders = (read_state(run_dir).get("meta") or {}).get("folders") or {}
    if to not in folders:
        raise InputError(f"run {run_dir} does not record the training faces of {to!r} (state.json meta.folders: "
                         f"{sorted(folders)}); judge the outputs with `facezoo judge --target PHOTOS_OF_{to.upper()}`.")
    others = [Path(f) for k, f in folders.items() if k != to]
    pairs = list(inputs) if inputs and every_n == 1 else None
    report = judge_swaps([str(o) for o in outputs], target=[Path(folders[to])], source=others or None,
                         pairs=pairs, aligned=True, max_frames=max_frames, processes=processes)
    if inputs and every_n != 1:
        report["pairs_note"] = f"--every-n {every_n}: output frames are not the inputs' frames; no pose error"
    return report
