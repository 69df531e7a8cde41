"""Judging many images: inputs (image files, folders, videos, arrays) -> `Face` records, cached, in processes.

`load_items(paths)` lists what to judge: an image file, a folder of images (recursively), or a video
(up to `max_frames` frames, evenly spaced). Each `Item` keeps a label for reports and a key for matching
a swap to its source frame (the file's stem, or the frame index). An unreadable file becomes an item with
its error, counted and named in the report, never raised.

`judge_items(items)` analyses every item. The record of an image is cached under
`$FACEZOO_HOME/judge/<model and options>/` keyed by the sha256 of the image's content (the file's bytes,
or a frame's pixels), so judging the same files twice costs nothing; with `processes > 1` the uncached
images are spread over worker processes (dlib is single-threaded here).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from zoo.errors import DataError
from zoo.judge.faces import Face

__all__ = ["Item", "load_items", "judge_items", "cache_dir"]


@dataclass
class Item:
    """One image to judge: `path` (a file) or `image` (RGB uint8, e.g. a video frame); `error` when unusable."""
    label: str
    key: str
    path: Path | None = None
    image: np.ndarray | None = None
    error: str = ""


def _stem_key(path: Path) -> str:
    return path.stem


def load_items(paths, *, max_frames: int = 100) -> list[Item]:
    """Items for image files, folders of images (recursively, sorted) and videos (evenly spaced frames)."""
    from zoo.data.images import IMAGE_EXTENSIONS, list_images
    from zoo.data.video import VIDEO_EXTENSIONS, is_video_path

    items: list[Item] = []
    for raw in paths:
        p = Path(raw).expanduser()
        if not p.exists():
            items.append(Item(label=str(p), key=p.stem, error="no such file or folder"))
        elif p.is_dir():
            found = list_images(p, extensions=IMAGE_EXTENSIONS | VIDEO_EXTENSIONS)
            if not found:
                items.append(Item(label=str(p), key=p.name, error="folder holds no images or videos"))
            for q in found:
                items.extend(_video_items(q, max_frames) if is_video_path(q) else [Item(str(q), _stem_key(q), q)])
        elif is_video_path(p):
            items.extend(_video_items(p, max_frames))
        else:
            items.append(Item(str(p), _stem_key(p), p))
    return items


def _video_items(path: Path, max_frames: int) -> list[Item]:
    from zoo.data.video import iter_frames, video_info

    try:
        info = video_info(path)
        total = int(info.frame_count or 0)
        every = max(1, total // max_frames) if total else 1
        items = [Item(f"{path}#frame={i}", str(i), image=np.ascontiguousarray(rgb))
                 for i, rgb in iter_frames(path, every_n=every)][:max_frames]
    except DataError as exc:
        return [Item(label=str(path), key=path.stem, error=f"unreadable video ({exc})")]
    return items or [Item(label=str(path), key=path.stem, error="video has no frames")]


def cache_dir(options: dict) -> Path:
    from fzcore.paths import facezoo_home
    from zoo.judge.models import MODEL_ID

    tag = hashlib.sha256(json.dumps([MODEL_ID, options], sort_keys=True).encode()).hexdigest()[:12]
    return facezoo_home() / "judge" / tag


def _read(item: Item) -> tuple[np.ndarray | None, str, str]:
    """(rgb, content key, error) of an item."""
    from zoo.data.images import SkipReason, decode_image

    if item.error:
        return None, "", item.error
    if item.image is not None:
        img = item.image
        if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
            return None, "", f"not an RGB uint8 image ({img.dtype} {img.shape})"
        return img, hashlib.sha256(repr(img.shape).encode() + img.tobytes()).hexdigest(), ""
    try:
        data = item.path.read_bytes()
        img = decode_image(data, item.path)
    except SkipReason as exc:
        return None, "", f"unreadable image ({exc})"
    except OSError as exc:
        return None, "", f"unreadable file ({exc.strerror or exc})"
    return img, hashlib.sha256(data).hexdigest(), ""


def _work(job):
    """Worker: analyse a chunk of (index, item) -> [(index, content key, face dict)]."""
    chunk, options = job
    from zoo.judge.faces import analyse
    out, images, where = [], [], []
    for i, item in chunk:
        img, key, err = _read(item)
        if err:
            out.append((i, "", Face(found=False, reason=err).to_dict()))
        else:
            images.append(img)
            where.append((i, key))
    for (i, key), face in zip(where, analyse(images, **options)):
        out.append((i, key, face.to_dict()))
    return out


def judge_items(items: list[Item], *, select: str = "largest", aligned: bool = False, fallback_box=None,
                processes: int = 1, progress=None, use_cache: bool = True, stats: dict | None = None) -> list[Face]:
    """A `Face` per item (in order): from the content cache where present, else analysed (in processes).
    `stats`, when given, gets {"cached": hits, "computed": images analysed now}."""
    from zoo.io import atomic_write

    options = {"select": select, "aligned": aligned,
               "fallback_box": [int(v) for v in fallback_box] if fallback_box is not None else None}
    folder = cache_dir(options)
    faces: list[Face | None] = [None] * len(items)
    todo = []
    for i, item in enumerate(items):
        if use_cache and not item.error:
            key = _content_key(item)
            hit = folder / key[:2] / f"{key}.json" if key else None
            if hit is not None and hit.is_file():
                try:
                    faces[i] = Face.from_dict(json.loads(hit.read_text()))
                    continue
                except (ValueError, KeyError):
                    pass    # a damaged cache entry is recomputed
        todo.append((i, item))
    chunks = [todo[k:k + 16] for k in range(0, len(todo), 16)]
    jobs = [(c, options) for c in chunks]
    done = len(items) - len(todo)
    if stats is not None:
        stats.update(cached=done, computed=len(todo))

    def results():
        if processes > 1 and len(chunks) > 1:
            import multiprocessing as mp
            with mp.get_context("spawn").Pool(processes) as pool:
                yield from pool.imap_unordered(_work, jobs)
        else:
            yield from map(_work, jobs)

    for out in results():
        for i, key, d in out:
            faces[i] = Face.from_dict(d)
            if use_cache and key:
                path = folder / key[:2] / f"{key}.json"
                path.parent.mkdir(parents=True, exist_ok=True)
                with atomic_write(path, "w") as f:
                    json.dump(d, f)
        done += len(out)
        if progress:
            progress(done, len(items))
    return faces


def _content_key(item: Item) -> str:
    if item.image is not None:
        img = item.image
        return hashlib.sha256(repr(img.shape).encode() + img.tobytes()).hexdigest()
    try:
        return hashlib.sha256(item.path.read_bytes()).hexdigest()
    except OSError:
        return ""

