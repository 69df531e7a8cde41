"""One file of a pinned release into the HF cache, trusting nothing a server says (used by `hub.hf`).

Why not `huggingface_hub.hf_hub_download`: it names the blob after the server's ETag and writes there, so a
hostile or man-in-the-middle endpoint answering `ETag: "/abs/site-packages/x.pth"` or `"../../x"` made it
write the release's bytes at that path (issue 29, C5a/b). Here the HEAD answer (through the library's own
`get_hf_file_metadata`) is checked before any byte is written: the ETag must be lowercase sha256 hex (an
LFS file) or git-sha1 hex (a regular git file), and the answer must be for the very commit asked for. The
body is streamed into a temp file inside this cache's own `blobs/` folder, hashed, compared with the ETag
(sha256 of the bytes, or git's blob sha1), and only then renamed to `blobs/<etag>` and linked from
`snapshots/<commit>/<path>`. That is the standard HF cache layout, so `huggingface_hub` reads it offline
(`local_files_only`) as its own.

`inside_blobs` and `evict` are the other half: a snapshot entry counts, and is ever deleted through, only
when it resolves inside the cache's own `blobs/` folder; a link planted to point elsewhere (C2, C5c) is
removed as a link and its target is never touched.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

from hub.base import COMMIT_RE, SHA256_RE
from hub.errors import IntegrityError

_BLOCK = 1 << 20


def check_etag(etag, where: str, name: str) -> str:
    """`etag` if it is sha256 or git-sha1 lowercase hex, else IntegrityError (nothing written yet)."""
    if isinstance(etag, str) and (SHA256_RE.match(etag) or COMMIT_RE.match(etag)):
        return etag
    shown = repr(etag)[:80]
    raise IntegrityError(f"{where}: the server answered ETag {shown} for {name}, which is neither a sha256 nor "
                         "a git blob id; refusing the whole release, nothing was written.")


def _digest(path: Path, etag: str) -> str:
    """The id `etag` claims for `path`'s bytes: sha256 (64 hex) or git's blob sha1 (40 hex)."""
    if len(etag) == 64:
        h = hashlib.sha256()
    else:
        h = hashlib.sha1()
        h.update(b"blob %d\0" % path.stat().st_size)
    with open(path, "rb") as f:
        while block := f.read(_BLOCK):
            h.update(block)
    return h.hexdigest()


def inside_blobs(path: Path, repo_cache: Path) -> bool:
    """True if `path` resolves (following every link) to a regular file inside `repo_cache/blobs/`."""
    try:
        target = Path(os.path.realpath(path))
        blobs = Path(os.path.realpath(repo_cache / "blobs"))
        return target.is_relative_to(blobs) and target != blobs and target.is_file()
    except OSError:
        return False


def landed_inside(path: Path, repo_cache: Path) -> bool:
    """True if `path` resolves (following every link) to a regular file inside `repo_cache`."""
    try:
        target = Path(os.path.realpath(path))
        return target.is_relative_to(Path(os.path.realpath(repo_cache))) and target.is_file()
    except OSError:
        return False


def fetch_file(repo_cache: Path, *, endpoint: str, repo_id: str, commit: str, name: str, token: str | None,
               where: str) -> Path:
    """Download `name` of `commit` into `repo_cache` (the HF cache's `models--ns--name` folder).

    Returns the snapshot path. Raises IntegrityError for a malformed ETag, an answer for another commit, or
    bytes that do not hash to the ETag; then nothing is left but a removed temp file.
    """
    from huggingface_hub import get_hf_file_metadata, hf_hub_url
    from huggingface_hub.file_download import http_get
    from huggingface_hub.utils import build_hf_headers

    url = hf_hub_url(repo_id, name, revision=commit, endpoint=endpoint)
    meta = get_hf_file_metadata(url, token=token, endpoint=endpoint, library_name="facezoo")
    etag = check_etag(meta.etag, where, name)
    if meta.commit_hash != commit:
        raise IntegrityError(f"{where}: the server answered for commit {str(meta.commit_hash)[:60]!r} when "
                             f"asked for {name} of {commit}; nothing was written.")
    if not isinstance(meta.size, int) or meta.size < 0:
        raise IntegrityError(f"{where}: the server gave no size for {name}; refusing it, nothing was written.")
    blobs = repo_cache / "blobs"
    blobs.mkdir(parents=True, exist_ok=True)
    blob = blobs / etag
    if not blob.is_file() or blob.is_symlink():
        headers = build_hf_headers(token=token, library_name="facezoo")
        location = meta.location or url
        if urlsplit(location).netloc != urlsplit(url).netloc:
            headers.pop("authorization", None)        # a signed CDN URL: the token stays with the hub
        fd, tmp = tempfile.mkstemp(prefix=f".{etag[:16]}.", suffix=".incomplete", dir=blobs)
        try:
            with os.fdopen(fd, "wb") as f:
                # no fsync (as huggingface_hub): a blob cut by a crash fails its hash at the next verification
                try:
                    http_get(location, f, headers=headers, expected_size=meta.size, displayed_filename=name)
                except OSError as exc:
                    if "Consistency check failed" not in str(exc):
                        raise
                    raise IntegrityError(f"{where}: {name} from the server is not the {meta.size} bytes it "
                                         "announced; nothing was kept.") from None
            got = _digest(Path(tmp), etag)
            if got != etag:
                raise IntegrityError(f"{where}: {name} from the server hashes to {got[:12]}…, not its ETag "
                                     f"{etag[:12]}…; nothing was kept.")
            os.replace(tmp, blob)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
    pointer = repo_cache / "snapshots" / commit / name
    pointer.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        pointer.unlink()
    try:
        os.symlink(os.path.relpath(blob, pointer.parent), pointer)
    except OSError:                                   # no symlinks here (Windows without developer mode)
        os.link(blob, pointer)
    return pointer


def evict(folder: Path, repo_cache: Path) -> None:
    """Drop a snapshot that failed verification so a retry downloads it afresh.

    Every entry under `folder` is removed as what it is (a link is unlinked, never followed); a blob is
    deleted only when a link resolves inside `repo_cache/blobs/`. Nothing outside the cache is touched,
    whatever a hostile server or another user of a shared cache planted there.
    """
    folder = Path(folder)
    if folder.is_symlink() or not folder.is_dir():
        with contextlib.suppress(OSError):
            folder.unlink()
        return
    for root, dirs, files in os.walk(folder, topdown=True, followlinks=False):
        for name in [*files, *(d for d in dirs if os.path.islink(os.path.join(root, d)))]:
            path = Path(root) / name
            with contextlib.suppress(OSError):
                if path.is_symlink() and inside_blobs(path, repo_cache):
                    os.unlink(os.path.realpath(path))
                os.unlink(path)
