"""What every hub backend returns and offers: `Release`, `Snapshot` and the `Hub` interface.

Also the small shared helpers: where facezoo keeps its data, and what a valid repo id and revision are.
"""
from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from hub.constants import DEFAULT_REVISION, ENV_HOME, MANIFEST_FILE
from zoo.errors import InputError

COMMIT_RE = re.compile(r"^[0-9a-f]{40}$")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")
_REVISION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,199}$")


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


def facezoo_home() -> Path:
    """`$FACEZOO_HOME`, else the platform's user data folder (e.g. ~/.local/share/facezoo)."""
    value = os.environ.get(ENV_HOME)
    if value:
        return Path(value).expanduser()
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "facezoo"


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


def is_release_folder(path: Path) -> bool:
    return (Path(path) / MANIFEST_FILE).is_file()
