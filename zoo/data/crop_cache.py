"""Each corpus photo decoded once: its square crop at the training size in one memory-mapped uint8 array.

`with_crop_cache(corpus, size)` returns the file corpus reading its faces from
`$FACEZOO_HOME/crops/<key>-<size>/` (`crops.npy`, (N, size, size, 3) uint8, and `index.json`: the files,
in the corpus' order, and the unreadable ones with their reasons), building it on first use. So an epoch
reads arrays instead of decoding JPEGs (the aligned cache of `zoo.data.aligned_cache` holds 128+ px
JPEG crops: each draw decoded and resized one again), every run over the same files at the same size
shares the array (the key hashes each file's path, size and mtime: a changed file makes a new cache),
and the pool's forked workers (`zoo.data.pool`) share its pages through the OS page cache.

A face from the cache is bit for bit the one `FileCorpus` reads (`to_square(read_image(path), size)`,
the same code, run once), so a run gives the same batches with or without it. The array is written to a
temporary name and renamed, then `index.json` (written atomically) marks the cache complete: a killed
build leaves no cache that looks whole. The build decodes in `zoo.data.pool` workers.
"""
from __future__ import annotations

import copy
import hashlib
import json
import logging
import os
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

__all__ = ["CropCache", "crop_cache_dir", "build_crop_cache", "with_crop_cache", "INDEX", "ARRAY"]

INDEX = "index.json"
ARRAY = "crops.npy"
_CHUNK = 64  # photos per build task


def crop_cache_dir(paths, size: int) -> Path:
    """`$FACEZOO_HOME/crops/<hash of the files' paths, sizes and mtimes>-<size>`."""
    from fzcore.paths import facezoo_home

    h = hashlib.sha256()
    for p in paths:
        st = os.stat(p)
        h.update(f"{Path(p).resolve()}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return facezoo_home() / "crops" / f"{h.hexdigest()[:16]}-{int(size)}"


class CropCache:
    """A built cache: `face(path)` -> the (size, size, 3) uint8 crop (a read-only view of the memory
    map), or None when the file was unreadable (`bad[path]` says why)."""

    def __init__(self, folder):
        self.folder = Path(folder)
        index = json.loads((self.folder / INDEX).read_text())
        self.size = int(index["size"])
        self.rows = {p: k for k, p in enumerate(index["paths"])}
        self.bad = dict(index.get("bad", {}))
        self.array = np.load(self.folder / ARRAY, mmap_mode="r")
        if self.array.shape != (len(self.rows), self.size, self.size, 3):
            from zoo.errors import DataError
            raise DataError(f"crop cache {self.folder}: {ARRAY} has shape {self.array.shape}, its index "
                            f"{len(self.rows)} faces of {self.size} px; delete the folder to rebuild it")

    def __contains__(self, path) -> bool:
        return str(path) in self.rows

    def face(self, path):
        path = str(path)
        return None if path in self.bad else self.array[self.rows[path]]


def _decode(paths, size):
    from zoo.data.corpora.faces import to_square
    from zoo.data.images import SkipReason, read_image

    def make(chunk):
        part = paths[chunk * _CHUNK:(chunk + 1) * _CHUNK]
        out = np.zeros((len(part), size, size, 3), np.uint8)
        bad = {}
        for k, p in enumerate(part):
            try:
                out[k] = to_square(read_image(p), size)
            except SkipReason as exc:
                bad[str(p)] = exc.reason
        return out, bad

    return make


def build_crop_cache(paths, size: int, folder=None, *, workers=None) -> CropCache:
    """Decode `paths` once into `folder` (default `crop_cache_dir`); an existing complete cache is reused."""
    from zoo.data.pool import BatchPool
    from zoo.io import write_json

    paths = [str(p) for p in paths]
    folder = Path(folder) if folder is not None else crop_cache_dir(paths, size)
    if (folder / INDEX).exists():
        return CropCache(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{ARRAY}.{os.getpid()}.tmp.npy"
    array = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(len(paths), size, size, 3))
    bad: dict[str, str] = {}
    chunks = -(-len(paths) // _CHUNK)
    with BatchPool(_decode(paths, size), workers if chunks > 1 else 0) as pool:
        for chunk in range(chunks):
            faces, skipped = pool.get(chunk)
            array[chunk * _CHUNK:chunk * _CHUNK + len(faces)] = faces
            bad.update(skipped)
    array.flush()
    del array
    os.replace(tmp, folder / ARRAY)
    write_json(folder / INDEX, {"size": int(size), "paths": paths, "bad": bad})
    log.info("crop cache %s: %d faces of %d px (%d unreadable)", folder, len(paths), size, len(bad))
    return CropCache(folder)


def with_crop_cache(corpus, size: int, folder=None, *, workers=None):
    """The file corpus reading its `size` px faces from a crop cache (built once); other corpora as they are."""
    from zoo.data.corpora.files import FileCorpus

    if not isinstance(corpus, FileCorpus):
        return corpus
    paths = [str(p) for files in corpus.files for p in files]
    if not paths:
        return corpus
    cache = build_crop_cache(paths, size, folder, workers=workers)
    out = copy.copy(corpus)
    out.crops = cache
    out._cache = {}
    return out
