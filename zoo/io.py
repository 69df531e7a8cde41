"""Atomic file writes and hashing, re-exported from the shared core (`fzcore.io`) for the library's
modules and users: `zoo.io.atomic_write is fzcore.io.atomic_write`."""
from fzcore.io import atomic_path, atomic_write, fsync_dir, sha256_file, write_json  # noqa: F401

__all__ = ["atomic_path", "atomic_write", "fsync_dir", "sha256_file", "write_json"]
