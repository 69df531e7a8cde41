"""Import face sets made by faceswap and DeepFaceLab as if `facezoo extract` had made them.

Both tools keep 68-point landmarks (iBUG 300-W order) per face. facezoo aligns on five points, derived
here as the two eye centres (means of points 36-41 and 42-47; 36-41 is the image-left eye), the nose
tip (30) and the mouth corners (48, 54); each face is then cropped with `zoo.data.align.align_face`
exactly as extraction does and written with a face record and a done record to `alignments.jsonl`,
so `train` and `convert` read the folder like any other.

Formats (read from the tools' public source; both hold pickles, loaded with `zoo.data.safe_pickle`):
- faceswap `.fsa` (lib/serializer.py, lib/align/alignments.py): zlib-compressed pickle of
  `{"__meta__": {"version": 2.x}, "__data__": {frame_name: {"faces": [{"x", "y", "w", "h",
  "landmarks_xy": (68, 2), "mask", "identity", "thumb"}], "video_meta": {...}}}}` (files before 2.0 are
  the bare `__data__` dict). Frame names are the frames' file names; for a video, faceswap names frame
  i (0-based) `<video stem>_<i+1:06d>.png`.
- DeepFaceLab aligned JPEG (DFLIMG/DFLJPG.py): a pickled dict in the APP15 segment with `landmarks`
  (68 points in the aligned image's pixels), `source_filename`, `source_rect`, `source_landmarks`,
  `image_to_face_mat`, `face_type`, ... The aligned JPEG itself is the source facezoo crops from (the
  original frames are usually gone); faces near its edge are filled by reflection, as in extraction.
"""
from __future__ import annotations

import re
import time
import zlib
from pathlib import Path

import numpy as np

from zoo.data.align import TEMPLATE_NAME, align_face, check_size, transform_points
from zoo.data.alignments import ALIGNMENTS_FILE, write_alignments
from zoo.data.images import IMAGE_EXTENSIONS, SkipReason, list_images, read_image, write_image
from zoo.data.safe_pickle import safe_loads
from zoo.data.video import is_video_path, iter_frames
from zoo.errors import DataError, InputError
from zoo.io import sha256_file

FACESWAP_FRAME = re.compile(r"^(?P<stem>.*)_(?P<n>\d{6})\.png$")  # `<video stem>_000001.png`, 1-based


def five_points(landmarks68) -> np.ndarray:
    """facezoo's 5 points (`zoo.data.align.POINT_NAMES` order) from 68 iBUG landmarks, (5, 2) float64."""
    pts = np.asarray(landmarks68, dtype=np.float64)
    if pts.shape != (68, 2) or not np.isfinite(pts).all():
        raise InputError(f"68-point landmarks must be a finite (68, 2) array. Received: shape {pts.shape}")
    return np.stack([pts[36:42].mean(axis=0), pts[42:48].mean(axis=0), pts[30], pts[48], pts[54]])


def read_faceswap_alignments(path) -> dict:
    """{frame name: [face dict]} of a faceswap `.fsa` (or a plain pickle of one), loaded safely."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"faceswap alignments file not found: {path}. Pass the .fsa that faceswap's extract wrote.")
    raw = path.read_bytes()
    try:
        raw = zlib.decompress(raw)
    except zlib.error:
        pass  # legacy .p/.pickle alignments are not compressed
    data = safe_loads(raw, what=str(path))
    if not isinstance(data, dict):
        raise DataError(f"{path} holds a {type(data).__name__}, not faceswap's alignments dict")
    data = data.get("__data__", data)
    frames = {}
    for name, entry in data.items():
        faces = entry.get("faces", []) if isinstance(entry, dict) else entry
        if not isinstance(name, str) or not isinstance(faces, list):
            raise DataError(f"{path}: frame {name!r} is not a faceswap alignments entry (no faces list)")
        frames[name] = faces
    return frames


def read_dfl_metadata(path) -> dict:
    """The metadata dict DeepFaceLab stores in an aligned JPEG's APP15 segment, loaded safely."""
    data = Path(path).read_bytes()
    if data[:2] != b"\xff\xd8":
        raise DataError(f"{path} is not a JPEG; DeepFaceLab's aligned faces are .jpg files")
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            break
        marker = data[pos + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            pos += 2
            continue
        if marker in (0xDA, 0xD9):  # image data starts (or ends): no metadata after this
            break
        length = int.from_bytes(data[pos + 2:pos + 4], "big")
        if marker == 0xEF:
            meta = safe_loads(data[pos + 4:pos + 2 + length], what=str(path))
            if not isinstance(meta, dict):
                raise DataError(f"{path}: its DeepFaceLab metadata is a {type(meta).__name__}, not a dict")
            return meta
        pos += 2 + length
    raise DataError(f"{path} holds no DeepFaceLab metadata (no APP15 segment): was it written by "
                    "DeepFaceLab's extractor, or re-saved by another program?")


def _face_record(source: Path, sha: str, frame: int, k: int, rgb: np.ndarray, lm68, box, size: int,
                 out_dir: Path, prefix: str, origin: str) -> dict:
    from zoo.data.extract import CROP_EXT, _r

    points = five_points(lm68)
    crop, matrix = align_face(rgb, points, size)
    name = f"{prefix}_{frame:06d}_{k}{CROP_EXT}"
    write_image(out_dir / name, crop)
    h, w = rgb.shape[:2]
    return {"type": "face", "source": str(source), "sha256": sha, "frame": frame, "face": k,
            "box": _r(box), "landmarks": _r(points), "landmarks_crop": _r(transform_points(points, matrix)),
            "matrix": [[float(v) for v in row] for row in matrix], "score": 1.0, "crop": name, "size": size,
            "template": TEMPLATE_NAME, "image_size": [w, h], "landmarks68": _r(np.asarray(lm68, float)),
            "imported_from": origin}


def _faceswap_box(face: dict) -> list[float]:
    x, y, w, h = (float(face.get(k, 0)) for k in ("x", "y", "w", "h"))
    return [x, y, x + w, y + h]


def _faceswap_frames(frames_or_video: Path):
    """(frame index, faceswap frame name, RGB) for a video or each image of a folder."""
    if is_video_path(frames_or_video):
        stem = frames_or_video.stem
        for index, rgb in iter_frames(frames_or_video):
            yield index, f"{stem}_{index + 1:06d}.png", rgb
        return
    for p in list_images(frames_or_video, extensions=IMAGE_EXTENSIONS):
        yield 0, p.name, p


def import_faceswap(fsa, frames_or_video, out_dir, size: int = 256) -> dict:
    """Crop every face of a faceswap alignments file from its frames (a folder or the video) into
    `out_dir` with facezoo's alignment; returns counts {"frames", "faces", "missing", "seconds"}."""
    from zoo.data.extract import _crop_prefix

    size = check_size(size)
    t0 = time.perf_counter()
    table = read_faceswap_alignments(fsa)
    src = Path(frames_or_video).resolve()
    if not src.exists():
        raise DataError(f"frames not found: {frames_or_video}. Pass the video or the frames folder that "
                        f"{Path(fsa).name} was extracted from.")
    out_dir = _new_output(out_dir)
    records, seen, faces = [], set(), 0
    video = is_video_path(src)
    sha = sha256_file(src) if video else None
    for index, name, item in _faceswap_frames(src):
        if name not in table:
            continue
        seen.add(name)
        if video:
            path, rgb, this_sha = src, item, sha
        else:
            path, this_sha = item.resolve(), sha256_file(item)
            try:
                rgb = read_image(item)
            except SkipReason as exc:
                raise DataError(f"frame {item} of {fsa} cannot be read: {exc}") from None
        prefix = _crop_prefix(path, this_sha)
        for k, face in enumerate(table[name]):
            lm = face.get("landmarks_xy") if isinstance(face, dict) else None
            if lm is None:
                raise DataError(f"{fsa}: face {k} of frame {name} has no landmarks_xy")
            records.append(_face_record(path, this_sha, index, k, rgb, lm, _faceswap_box(face), size, out_dir,
                                        prefix, "faceswap"))
            faces += 1
        if not video:
            records.append(_done(path, this_sha, 1, len(table[name]), size, "faceswap"))
    if video:
        records.append(_done(src, sha, len(seen), faces, size, "faceswap"))
    missing = sorted(set(table) - seen)
    if not seen:
        raise DataError(f"none of the {len(table)} frames named in {fsa} (e.g. {next(iter(table), '-')}) is in "
                        f"{frames_or_video}. Pass the video or frames folder faceswap extracted from.")
    write_alignments(out_dir / ALIGNMENTS_FILE, records)
    return {"frames": len(seen), "faces": faces, "missing": missing, "seconds": time.perf_counter() - t0}


def import_dfl(aligned_dir, out_dir, size: int = 256) -> dict:
    """Re-crop every DeepFaceLab aligned JPEG of `aligned_dir` with facezoo's alignment from the 68
    landmarks in its metadata; returns counts {"frames", "faces", "missing", "seconds"}."""
    from zoo.data.extract import _crop_prefix

    size = check_size(size)
    t0 = time.perf_counter()
    aligned_dir = Path(aligned_dir)
    if not aligned_dir.is_dir():
        raise DataError(f"DeepFaceLab aligned folder not found: {aligned_dir}")
    files = [p for p in sorted(aligned_dir.iterdir()) if p.suffix.lower() in (".jpg", ".jpeg")]
    if not files:
        raise DataError(f"no .jpg files in {aligned_dir}; pass DeepFaceLab's aligned folder "
                        "(workspace/data_src/aligned)")
    out_dir = _new_output(out_dir)
    records = []
    for p in files:
        meta = read_dfl_metadata(p)
        if meta.get("landmarks") is None:
            raise DataError(f"{p}: its DeepFaceLab metadata has no landmarks")
        path, sha = p.resolve(), sha256_file(p)
        rgb = read_image(p)
        lm = np.asarray(meta["landmarks"], dtype=np.float64)
        box = [*lm.min(axis=0), *lm.max(axis=0)]
        rec = _face_record(path, sha, 0, 0, rgb, lm, box, size, out_dir, _crop_prefix(path, sha), "deepfacelab")
        rec["dfl_source"] = str(meta.get("source_filename") or "")
        records += [rec, _done(path, sha, 1, 1, size, "deepfacelab")]
    write_alignments(out_dir / ALIGNMENTS_FILE, records)
    return {"frames": len(files), "faces": len(files), "missing": [], "seconds": time.perf_counter() - t0}


def _new_output(out_dir) -> Path:
    out_dir = Path(out_dir)
    if (out_dir / ALIGNMENTS_FILE).exists():
        raise DataError(f"{out_dir} already holds an {ALIGNMENTS_FILE}; import into a new, empty folder "
                        "(one folder per person)")
    out_dir.mkdir(parents=True, exist_ok=True)
    return out_dir


def _done(source: Path, sha: str, frames: int, faces: int, size: int, origin: str) -> dict:
    return {"type": "done", "source": str(source), "sha256": sha, "frames": frames, "faces": faces,
            "settings": {"size": size, "imported_from": origin}}
