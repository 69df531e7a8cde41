"""`facezoo.json`: the release manifest, and the sha256 checks that run before Keras reads a byte.

The manifest holds the metadata the publisher passed (spec, input size, normalisation, alignment
template, corpus, metrics, parent, training) plus a `{"sha256", "size"}` entry for every other file
of the release. A pull trusts a folder only when every listed file is present with its hash, and no
file outside the list (except what a Hub adds on its own, `.gitattributes`) is there for Keras to read.
"""
from __future__ import annotations

import datetime as _dt
import json
import os
from pathlib import Path

from hub.constants import (FORMAT_VERSION, HOST_FILES, MANIFEST_FILE, MANIFEST_FORMAT,
                           METADATA_FILE)
from hub.base import check_tree
from hub.errors import IntegrityError, ref
from fzcore.io import sha256_file, write_json

# Keys the manifest owns; metadata cannot override them.
RESERVED = ("format", "format_version", "files", "created", "keras_version")


class _Label(str):
    """A folder's name in messages (`encoder folder /x`), used as is rather than as `repo@revision`."""


def _name(repo_id: str, revision: str | None) -> str:
    return str(repo_id) if isinstance(repo_id, _Label) else ref(repo_id, revision)


def file_entry(path) -> dict:
    return {"sha256": sha256_file(path), "size": os.path.getsize(path)}


def list_files(folder) -> list[str]:
    """Every regular file under `folder`, as sorted posix paths relative to it (temp files skipped)."""
    folder = Path(folder)
    out = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in files:
            if name.startswith(".") and name not in HOST_FILES:
                continue
            out.append((Path(root) / name).relative_to(folder).as_posix())
    return sorted(out)


def build_manifest(folder, metadata: dict | None = None) -> dict:
    """The manifest of a staged release folder: metadata + sha256/size of every file but itself."""
    folder = Path(folder)
    metadata = dict(metadata or {})
    for key in RESERVED:
        metadata.pop(key, None)
    keras_version = None
    meta_path = folder / METADATA_FILE
    if meta_path.is_file():
        keras_version = json.loads(meta_path.read_text()).get("keras_version")
    files = {name: file_entry(folder / name) for name in list_files(folder)
             if name != MANIFEST_FILE and name not in HOST_FILES}
    return {
        "format": MANIFEST_FORMAT,
        "format_version": FORMAT_VERSION,
        "keras_version": keras_version,
        "created": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
        **metadata,
        "files": files,
    }


def write_manifest(folder, manifest: dict) -> Path:
    path = Path(folder) / MANIFEST_FILE
    write_json(path, manifest)
    return path


def read_manifest(folder, repo_id: str = "?", revision: str | None = None, *, label: str | None = None) -> dict:
    """Parse `facezoo.json`; a missing or malformed one is an IntegrityError naming the release
    (or `label`, e.g. "encoder folder /x", for a folder that is not in a hub)."""
    if label is not None:
        repo_id, revision = _Label(label), None
    path = Path(folder) / MANIFEST_FILE
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise IntegrityError(f"{_name(repo_id, revision)} has no {MANIFEST_FILE}: it is not a facezoo "
                             "release (publish it with `facezoo publish`), nothing was loaded.") from None
    except (OSError, ValueError) as exc:
        raise IntegrityError(f"{_name(repo_id, revision)}: {MANIFEST_FILE} is unreadable ({exc}); "
                             "nothing was loaded.") from None
    if not isinstance(manifest, dict):
        raise IntegrityError(f"{_name(repo_id, revision)}: {MANIFEST_FILE} is not a JSON object; nothing was "
                             "loaded.")
    if manifest.get("format") != MANIFEST_FORMAT or not isinstance(manifest.get("files"), dict):
        raise IntegrityError(f"{_name(repo_id, revision)}: {MANIFEST_FILE} is not a facezoo manifest "
                             f"(format={manifest.get('format')!r}); nothing was loaded.")
    version = manifest.get("format_version", 0)
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise IntegrityError(f"{_name(repo_id, revision)} uses manifest format "
                             f"{manifest.get('format_version')}, newer than this facezoo understands "
                             f"({FORMAT_VERSION}): upgrade facezoo.")
    # Every name is checked like on write before anything is joined onto the folder: a manifest
    # must never make verification read (and echo the hash of) a file outside the release.
    check_tree(manifest["files"], _name(repo_id, revision), MANIFEST_FILE)
    return manifest


def verify_folder(folder, repo_id: str = "?", revision: str | None = None,
                  known: dict | None = None, *, label: str | None = None, record=None) -> dict:
    """Check every file of a release folder against its manifest; return the manifest.

    The one verifier: the hub's pulls and `zoo.load_encoder` of a local folder both call it.

    With `record` (a JSON file outside the folder; the HF cache keeps one per snapshot), a file whose
    sha256 matched before is not hashed again while it is provably the same file: same inode, size,
    modification time and *change time*. The kernel moves a file's change time on every write, rename
    onto it or `utime` call, and no unprivileged process can set it back, so an edited, replaced or
    re-timestamped file is hashed in full again (git's index trusts the same signature). This keeps a
    warm pull at the cost of a few `stat` calls instead of re-reading every byte. Who can write the
    record can also write the cache's blobs, so the record adds no way around the check.

    Args:
        folder: the release folder.
        known: optional {path: {"sha256", "size"}} from a trusted source (the local hub's commit);
            when given, `facezoo.json` itself must match it too.
        label: how messages name the folder when it is not a hub release (default `repo@revision`).

    Raises:
        IntegrityError: a file is missing, extra, or differs from its recorded sha256/size.
    """
    folder = Path(folder)
    if label is not None:
        repo_id, revision = _Label(label), None
    if known is not None:
        _check(folder, MANIFEST_FILE, known.get(MANIFEST_FILE), repo_id, revision)
    manifest = read_manifest(folder, repo_id, revision)
    expected = manifest["files"]
    present = set(list_files(folder)) - {MANIFEST_FILE} - HOST_FILES
    extra = sorted(present - set(expected))
    if extra:
        raise IntegrityError(f"{_name(repo_id, revision)}: files not listed in {MANIFEST_FILE}: "
                             f"{', '.join(extra)}; nothing was loaded.")
    trusted = _read_record(record)
    seen = {}
    for name, entry in expected.items():
        if known is not None and known.get(name, {}).get("sha256") != entry.get("sha256"):
            raise IntegrityError(f"{_name(repo_id, revision)}: {name} in {MANIFEST_FILE} disagrees with the "
                                 "hub's commit; nothing was loaded.")
        # stat before hashing: a write between the two leaves a stamp that no longer matches next time
        signature = _signature(folder / name)
        stamp = None if signature is None else [*signature, entry.get("sha256")]
        if stamp is None or trusted.get(name) != stamp:
            _check(folder, name, entry, repo_id, revision)
        if stamp is not None:
            seen[name] = stamp
    if record is not None and seen != trusted:
        _write_record(record, seen)
    return manifest


def _signature(path: Path) -> list | None:
    """[inode, size, mtime_ns, ctime_ns] of the file a path leads to (links followed), None if unreadable."""
    try:
        st = path.stat()
    except OSError:
        return None
    return [st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]


def _read_record(record) -> dict:
    if record is None:
        return {}
    try:
        data = json.loads(Path(record).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_record(record, seen: dict) -> None:
    """Best effort: a record that cannot be written only costs the next pull a full re-hash."""
    try:
        Path(record).parent.mkdir(parents=True, exist_ok=True)
        write_json(record, seen)
    except OSError:
        pass


def _check(folder: Path, name: str, entry: dict | None, repo_id: str, revision: str | None) -> None:
    path = folder / name
    if entry is None:
        raise IntegrityError(f"{_name(repo_id, revision)}: no recorded sha256 for {name}; nothing was loaded.")
    if not path.is_file():
        raise IntegrityError(f"{_name(repo_id, revision)}: {name} is missing; nothing was loaded. "
                             "Pull again to repair the cache.")
    size = path.stat().st_size
    if "size" in entry and size != entry["size"]:
        raise IntegrityError(f"{_name(repo_id, revision)}: {name} has {size} bytes, the manifest says "
                             f"{entry['size']}; nothing was loaded.")
    digest = sha256_file(path)
    if digest != entry.get("sha256"):
        raise IntegrityError(f"{_name(repo_id, revision)}: sha256 mismatch for {name} (got {digest[:12]}…, "
                             f"expected {str(entry.get('sha256'))[:12]}…): the file was altered or corrupted; "
                             "nothing was loaded.")
