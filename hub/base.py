"""What every hub backend returns and offers: `Release`, `Snapshot` and the `Hub` interface.

Also the small shared helpers: where facezoo keeps its data, and what a valid repo id and revision are.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from fzcore.errors import InputError
from fzcore.paths import facezoo_home
from hub.constants import DEFAULT_REVISION, MANIFEST_FILE

# `\Z`, not `$`: `$` also matches before a trailing newline, so "v1\n" would pass as a name.
COMMIT_RE = re.compile(r"\A[0-9a-f]{40}\Z")
SHA256_RE = re.compile(r"\A[0-9a-f]{64}\Z")
# A name that could be read as a commit or a prefix of one (git abbreviates to 7+ hex, either case).
HEXLIKE_RE = re.compile(r"\A[0-9a-fA-F]{7,64}\Z")
_NAME_RE = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9._-]{0,95}\Z")
_REVISION_RE = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9._/-]{0,199}\Z")
# Bounds on a file path inside a repository (the Hub's own limits are of this order).
MAX_PATH_CHARS = 1024
MAX_PART_CHARS = 255


@dataclass(frozen=True)
class Release:
    """One published release.

    Attributes:
        repo_id: `namespace/name`.
        revision: the immutable 40-hex commit id holding the release.
        tag: the release tag, or None when only the branch moved.
        files: {file name: sha256} of every file in the commit.
        url_or_path: where to look at it (a web URL, or the local hub's repository folder).
    """

    repo_id: str
    revision: str
    tag: str | None
    files: dict = field(default_factory=dict)
    url_or_path: str = ""


@dataclass(frozen=True)
class Snapshot:
    """A pulled release: every file local and sha256-verified against its manifest.

    Attributes:
        repo_id: `namespace/name`.
        revision: the resolved immutable 40-hex commit id (never a tag or branch).
        path: local folder holding every file of the release (Keras dir layout + card + manifest).
        manifest: the parsed `facezoo.json`.
    """

    repo_id: str
    revision: str
    path: Path
    manifest: dict = field(default_factory=dict)

    def file(self, name: str) -> Path:
        return self.path / name

    @property
    def metadata(self) -> dict:
        """The manifest without its bookkeeping (`files`, format, versions)."""
        skip = {"files", "format", "format_version", "keras_version", "created", "facezoo_version"}
        return {k: v for k, v in self.manifest.items() if k not in skip}


class Hub:
    """A place releases are published to and pulled from. Backends: local, HF (and `facezoo hub serve`)."""

    #: short human description, e.g. "local hub at /path" or "hub at http://127.0.0.1:8000".
    description = "hub"

    def publish_folder(self, folder: Path, repo_id: str, *, tag: str | None = None,
                       message: str | None = None) -> Release:
        """Commit a staged, verified release folder as one atomic commit (and tag it)."""
        raise NotImplementedError

    def pull(self, repo_id: str, revision: str | None = None) -> Snapshot:
        """Resolve `revision` to a commit once, fetch every file pinned to it, verify, return."""
        raise NotImplementedError

    def resolve(self, repo_id: str, revision: str | None = None) -> str:
        """The commit id `revision` (tag, branch or commit; default main) points to."""
        raise NotImplementedError

    def list_releases(self, repo_id: str) -> list[tuple[str, str]]:
        """[(tag, commit id)] of the repository, sorted by tag."""
        raise NotImplementedError

    def describe(self) -> str:
        """One line naming this hub, for messages ("local hub at /path", "hub at http://...")."""
        return self.description

    def __repr__(self) -> str:
        return f"<{type(self).__name__}: {self.description}>"


def cache_dir() -> Path:
    """Where pulled releases of local hubs live: `$FACEZOO_HOME/cache/<ns>/<name>/<commit>/`."""
    return facezoo_home() / "cache"


def check_repo_id(repo_id: str) -> str:
    """Return `repo_id` if it is `namespace/name` made of safe characters, else raise ValueError."""
    parts = str(repo_id).split("/")
    if len(parts) != 2 or not all(_NAME_RE.match(p) and ".." not in p for p in parts):
        raise InputError(
            "A hub repository id is 'namespace/name' (letters, digits, '.', '_', '-'; e.g. "
            f"'facezoo/effnet-face-v2'). Received: repo_id={repo_id!r}")
    return repo_id


def check_revision(revision: str | None) -> str:
    """Return the revision (default "main") if it is a safe tag, branch or commit name."""
    revision = revision or DEFAULT_REVISION
    if not _REVISION_RE.match(revision) or ".." in revision:
        raise InputError("A revision is a tag, a branch or a 40-hex commit id (letters, digits, '.', '_', "
                         f"'-', '/'). Received: revision={revision!r}")
    return revision


def check_ref_name(name: str) -> str:
    """Return `name` if it may be created as a branch or tag, else raise ValueError.

    Branches and tags share one namespace, and a name that looks like a commit id (a hex string of 7 to 64
    characters, in either case: a full id, an abbreviation, a sha256) is never a ref: otherwise a ref
    could shadow a pinned `@<commit>` load (issue 29, R2). `refs/...` spellings are for reading, not for
    creating.
    """
    name = check_revision(name)
    if HEXLIKE_RE.match(name) or name.startswith("refs/"):
        raise InputError(f"{name!r} cannot be a branch or tag name: hex strings of 7-64 characters look like 40-hex "
                         "commit ids and 'refs/' is a prefix. Choose a name such as 'v2' or 'experiment-1'.")
    return name


def check_path(path: str) -> str:
    """Return `path` if it is a safe file path inside a repository, else raise ValueError.

    Safe: a non-empty relative posix path, no '', '.' or '..' segment, no backslash, no NUL or other
    control character, at most MAX_PATH_CHARS characters and MAX_PART_CHARS per segment. The same check
    runs on write and on every path read back (commit records, manifests, tree listings, server answers).
    """
    if not isinstance(path, str) or not path:
        raise InputError(f"Invalid file path in a repository: {path!r} (a non-empty string is needed).")
    parts = path.split("/")
    if (len(path) > MAX_PATH_CHARS or path.startswith("/") or "\\" in path
            or any(ord(c) < 32 or c == "\x7f" for c in path)
            or any(p in ("", ".", "..") or len(p) > MAX_PART_CHARS for p in parts)):
        shown = path if len(path) <= 80 else path[:60] + f"...({len(path)} chars)"
        raise InputError(f"Invalid file path in a repository: {shown!r} (relative posix paths only: no "
                         f"'..', no leading '/', no backslash or control characters, at most "
                         f"{MAX_PATH_CHARS} characters).")
    return path


def check_tree(files, where: str, source: str) -> dict:
    """Validate a file table {path: {"sha256", "size"}} read back from storage or a server.

    Every path must pass `check_path` and every entry must name a sha256 and a size; one bad entry
    refuses the whole table (IntegrityError naming `where`, e.g. `repo@revision`, and the `source`).
    """
    from hub.errors import IntegrityError
    if not isinstance(files, dict):
        raise IntegrityError(f"{where}: the file table in {source} is not a mapping; refusing the whole "
                             "release, nothing was written or loaded.")
    for path, entry in files.items():
        try:
            check_path(path)
        except ValueError as exc:
            raise IntegrityError(f"{where}: unsafe path in {source}: {exc} Refusing the whole release; "
                                 "nothing was written or loaded.") from None
        if (not isinstance(entry, dict) or not isinstance(entry.get("sha256"), str)
                or not SHA256_RE.match(entry["sha256"]) or not isinstance(entry.get("size"), int)
                or isinstance(entry.get("size"), bool) or entry["size"] < 0):
            raise IntegrityError(f"{where}: malformed entry for {path!r} in {source} (needs a sha256 and a "
                                 "size); refusing the whole release, nothing was written or loaded.")
    return files


def is_release_folder(path: Path) -> bool:
    return (Path(path) / MANIFEST_FILE).is_file()
