"""Atomic file writes and hashing, in the shared core under zoo and hub: nothing is ever half-written
under its final name."""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from pathlib import Path


def _default_mode() -> int:
    """The mode a plainly created file would get (0o666 less the umask); mkstemp uses 0o600."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


@contextlib.contextmanager
def _replaced_on_success(path: Path, prefix: str, suffix: str):
    """A new empty temp file beside `path`: renamed over `path` (with a plain file's mode, the folder
    fsynced) when the block succeeds, deleted when it fails. The block must fsync what it wrote."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, _default_mode())
        os.replace(tmp, path)
        fsync_dir(path.parent)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def atomic_write(path, mode: str = "wb"):
    """Open a temp file beside `path`; on success fsync and rename it over `path`, else delete it."""
    path = Path(path)
    with _replaced_on_success(path, f".{path.name}.", ".tmp") as tmp, open(tmp, mode) as f:
        yield f
        f.flush()
        os.fsync(f.fileno())


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temp path beside `path` for a writer that wants a file name (Keras, OpenCV, ffmpeg).

    The temp name keeps the final suffix so writers that check extensions accept it.
    """
    path = Path(path)
    with _replaced_on_success(path, f".{path.stem}.", f".tmp{path.suffix}") as tmp:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())


def fsync_dir(path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_json(path, data, indent: int = 2) -> None:
    with atomic_write(path, "w") as f:
        json.dump(data, f, indent=indent, sort_keys=False)
        f.write("\n")


def sha256_file(path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()
