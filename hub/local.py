"""The embedded local hub: a directory of content-addressed releases that works offline.

Layout (one folder per repository)::

    ROOT/models/<ns>/<name>/objects/<sha256>      file contents, named by their sha256
    ROOT/models/<ns>/<name>/commits/<id>.json     {"id", "parent", "message", "date", "files": {path: {sha256, size}}}
    ROOT/models/<ns>/<name>/refs.json             {"heads": {"main": id}, "tags": {"v1": id}}
    ROOT/models/<ns>/<name>/.lock                 serialises writers (processes and server threads)

A commit id is git-like: 40 hex of sha1 over the parent, the file table and the message, so equal content
gives equal ids. A publish writes the blobs, then the commit file, then replaces `refs.json` — each
atomically (temp file, fsync, rename). Moving the refs is the commit point, and because branch heads and
tags live in one file, the branch and the release tag move together: a publish killed at any moment leaves
no new revision and no tag (only unreferenced blobs, which are harmless).

A pull hard-links the commit's blobs into `$FACEZOO_HOME/cache/<ns>/<name>/<commit>/` (a copy where the
hub is on another filesystem or owned by another user), so a release is stored once per machine, and
hashes each file it placed (a tampered blob is caught), into a temp folder that is renamed into place only once complete and
verified; a pull killed mid-way leaves only a temp folder that nothing trusts. A warm pull re-hashes the
cached files (cheap next to loading them) so a file altered in the cache is never loaded.

Whoever can write the hub folder must not reach other machines through it: every commit record read back
passes the same path check as on write (`hub.base.check_tree`: relative, no '..', no NUL or backslash,
bounded length), and one bad entry refuses the whole release. Branches and tags share one namespace and a
40-hex name is never a ref, so `@<commit>` always means that commit. A blob is always replaced by new
bytes that hash to its name, so republishing repairs a blob corrupted on disk. A corrupt `refs.json` or
commit record is an error naming the repository and revision, never a raw JSONDecodeError.

Why one module of about 500 lines: `LocalHub` is the storage format and its invariants (the lock,
`refs.json` as the commit point, verified copies into the cache) in one class, read and checked as a
whole; `BlobWriter` is its only helper.
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path

from hub import _hooks
from hub.base import (COMMIT_RE, HEXLIKE_RE, SHA256_RE, Hub, Release, Snapshot, cache_dir, check_path,
                       check_ref_name, check_repo_id, check_revision, check_tree)
from hub.constants import DEFAULT_REVISION, HOST_FILES
from hub.errors import (HubError, IntegrityError, NotPublishedError, ReleaseExistsError,
                        RevisionNotFoundError, ref)
from hub.manifest import list_files, verify_folder
from fzcore.errors import InputError
from fzcore.io import fsync_dir, sha256_file, write_json

log = logging.getLogger(__name__)
_CHUNK = 1 << 20
LINK_CHECK_SECONDS = 1.0           # a repository found free of outward links is not re-checked for this long
STALE_TEMP_SECONDS = 3600          # a blob temp file untouched this long belongs to a killed upload


def commit_id(parent: str | None, files: dict, message: str) -> str:
    """Content-derived commit id: sha1 over parent, the sorted file table and the message."""
    payload = json.dumps({"parent": parent, "files": {k: files[k] for k in sorted(files)},
                          "message": message}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha1(payload.encode()).hexdigest()


__all__ = ["LocalHub", "commit_id", "check_path"]


class LocalHub(Hub):
    """A hub in a local directory (the default: `$FACEZOO_HOME/hub`). Also what `facezoo hub serve` serves."""

    def __init__(self, root):
        self.root = Path(root).expanduser().resolve()
        self._root_text = str(self.root)
        self._links_checked: dict[str, float] = {}
        self.description = f"local hub at {self.root}"

    # ---- repositories -------------------------------------------------------------------------
    def repo_dir(self, repo_id: str) -> Path:
        """The repository's folder; HubError if it, or its objects/commits/refs, really lie outside the root
        (a symlinked repository or `objects/` folder would be read and written through: issue 29)."""
        ns, name = check_repo_id(repo_id).split("/")
        models = os.path.join(self._root_text, "models")
        base = os.path.join(models, ns, name)
        islink = os.path.islink              # one lstat per level (strings: pathlib costs 10x here)
        now = time.monotonic()
        if now - self._links_checked.get(repo_id, -1e9) < LINK_CHECK_SECONDS:
            return self.root / "models" / ns / name      # checked a moment ago (a busy server asks often)
        if (islink(models) or islink(os.path.join(models, ns)) or islink(base) or islink(base + "/objects")
                or islink(base + "/commits") or islink(base + "/refs.json")):
            for path in (models, os.path.join(models, ns), base, base + "/objects", base + "/commits",
                         base + "/refs.json"):
                if islink(path) and not Path(os.path.realpath(path)).is_relative_to(self.root):
                    raise HubError(f"Repository {repo_id} on the {self.description}: {path} leads outside the "
                                   f"hub folder (to {os.path.realpath(path)}); refusing to read or write "
                                   "through it. Replace the link with the folder itself.")
        if len(self._links_checked) > 10000:
            self._links_checked.clear()
        self._links_checked[repo_id] = now
        return self.root / "models" / ns / name

    def sweep_stale_temp_files(self, repo_id: str | None = None, max_age: float = STALE_TEMP_SECONDS) -> int:
        """Remove `.blob.*.tmp` files untouched for `max_age` seconds (left by a killed upload), in one
        repository or all of them; a live upload writes its temp file often, so it is never swept.
        Returns how many were removed."""
        repos = [self.repo_dir(repo_id)] if repo_id else [p.parent for p in (self.root / "models").glob("*/*/objects")]
        removed, now = 0, time.time()
        for repo in repos:
            for tmp in (repo / "objects").glob(".blob.*.tmp"):
                with contextlib.suppress(OSError):
                    if now - tmp.stat().st_mtime > max_age:
                        tmp.unlink()
                        removed += 1
        return removed

    def repo_exists(self, repo_id: str) -> bool:
        return (self.repo_dir(repo_id) / "commits").is_dir()

    def create_repo(self, repo_id: str, exist_ok: bool = True) -> bool:
        """Create an empty repository; return False (or raise unless exist_ok) if it already exists."""
        repo = self.repo_dir(repo_id)
        if self.repo_exists(repo_id):
            if not exist_ok:
                raise ReleaseExistsError(f"Repository {repo_id} already exists on {self.description}.")
            return False
        for sub in ("objects", "commits"):
            (repo / sub).mkdir(parents=True, exist_ok=True)
        return True

    def list_repos(self) -> list[str]:
        models = self.root / "models"
        if not models.is_dir():
            return []
        return sorted(f"{ns.name}/{r.name}" for ns in models.iterdir() if ns.is_dir()
                      for r in ns.iterdir() if (r / "commits").is_dir())

    @contextlib.contextmanager
    def _lock(self, repo_id: str):
        from filelock import FileLock
        repo = self.repo_dir(repo_id)
        repo.mkdir(parents=True, exist_ok=True)
        with FileLock(str(repo / ".lock")):
            yield

    # ---- refs and commits ---------------------------------------------------------------------
    def refs(self, repo_id: str) -> dict:
        """{"heads": {branch: id}, "tags": {tag: id}} (empty for a new repository).

        A corrupt `refs.json` (bad JSON, wrong shapes, a ref that is not a 40-hex id) is a HubError
        naming the repository and the file, never a raw JSONDecodeError.
        """
        path = self.repo_dir(repo_id) / "refs.json"
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            data = {}
        except (OSError, ValueError) as exc:
            raise HubError(f"Repository {repo_id} on the {self.description}: {path} is unreadable "
                           f"({type(exc).__name__}); restore it from a backup.") from None
        out = {}
        for kind in ("heads", "tags"):
            table = data.get(kind, {}) if isinstance(data, dict) else None
            if not isinstance(table, dict) or not all(
                    isinstance(k, str) and (v is None and kind == "heads" or isinstance(v, str) and COMMIT_RE.match(v))
                    for k, v in table.items()):
                raise HubError(f"Repository {repo_id} on the {self.description}: {path} is corrupt ({kind!r} "
                               "must map names to 40-hex commit ids; a new branch of an empty repository to null); restore it from a backup.")
            out[kind] = dict(table)
        return out

    def read_commit(self, repo_id: str, commit: str) -> dict:
        """The commit record, its file table checked like on write (one unsafe path refuses it all)."""
        where = ref(repo_id, commit)
        if not isinstance(commit, str) or not COMMIT_RE.match(commit):
            raise RevisionNotFoundError(f"{where}: not a commit id (40 hex characters).")
        path = self.repo_dir(repo_id) / "commits" / f"{commit}.json"
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise RevisionNotFoundError(f"{where}: commit not found on {self.description}.") from None
        except (OSError, ValueError) as exc:
            raise IntegrityError(f"{where}: the commit record {path} is unreadable ({type(exc).__name__}); "
                                 "nothing was loaded.") from None
        if not isinstance(record, dict):
            raise IntegrityError(f"{where}: the commit record {path} is not a JSON object; nothing was loaded.")
        check_tree(record.get("files"), where, f"commit record {path}")
        return record

    def resolve(self, repo_id: str, revision: str | None = None) -> str:
        revision = check_revision(revision)
        if not self.repo_exists(repo_id):
            raise NotPublishedError(
                f"Repository {repo_id} is not on the {self.description} (asked for {ref(repo_id, revision)}). "
                "Publish it with `facezoo publish PATH REPO`, or choose another hub with --hub / $FACEZOO_HUB.")
        # A full commit id is a commit first: no ref can shadow a pinned `@<commit>` load.
        if COMMIT_RE.match(revision) and (self.repo_dir(repo_id) / "commits" / f"{revision}.json").is_file():
            return revision
        refs = self.refs(repo_id)
        if revision.startswith("refs/heads/"):
            found = refs["heads"].get(revision[len("refs/heads/"):])
        elif revision.startswith("refs/tags/"):
            found = refs["tags"].get(revision[len("refs/tags/"):])
        else:
            found = refs["heads"].get(revision) or refs["tags"].get(revision)
        if found and not HEXLIKE_RE.match(revision.rsplit("/", 1)[-1]):   # a hex-like ref (an older facezoo
            return found                                                    # let one be made) is never followed
        known = sorted(refs["tags"]) or ["(no releases yet)"]
        raise RevisionNotFoundError(
            f"{ref(repo_id, revision)}: no such tag, branch or commit on the {self.description}. "
            f"Releases: {', '.join(known)}; branches: {', '.join(sorted(refs['heads'])) or '(none)'}.")

    def list_releases(self, repo_id: str) -> list[tuple[str, str]]:
        if not self.repo_exists(repo_id):
            raise NotPublishedError(f"Repository {repo_id} is not on the {self.description}.")
        return sorted(self.refs(repo_id)["tags"].items())

    # ---- blobs --------------------------------------------------------------------------------
    def blob_path(self, repo_id: str, sha256: str) -> Path:
        if not isinstance(sha256, str) or not SHA256_RE.match(sha256):
            raise InputError(f"not a sha256: {sha256!r}")
        return self.repo_dir(repo_id) / "objects" / sha256

    def blob_is_intact(self, repo_id: str, sha256: str, size: int | None = None) -> bool:
        """True if the stored blob exists and its bytes hash to its name (a full read: the bit-flip check)."""
        path = self.blob_path(repo_id, sha256)
        try:
            if size is not None and path.stat().st_size != size:
                return False
            return sha256_file(path) == sha256
        except OSError:
            return False

    def open_blob_writer(self, repo_id: str) -> "BlobWriter":
        """A writer that streams bytes into a temp file of the repository and stores them by hash."""
        return BlobWriter(self.repo_dir(repo_id) / "objects")

    def put_blob(self, repo_id: str, chunks) -> dict:
        """Store the bytes of `chunks` (an iterable of bytes) as a blob; return {"sha256", "size"}.

        The new bytes always replace a stored blob of the same name (they hash to it, so they are the
        right content), which repairs a blob corrupted on disk instead of trusting its size.
        """
        writer = self.open_blob_writer(repo_id)
        try:
            for chunk in chunks:
                writer.write(chunk)
            return writer.finish()
        finally:
            writer.abort()

    def put_file(self, repo_id: str, path) -> dict:
        def chunks():
            with open(path, "rb") as f:
                while block := f.read(_CHUNK):
                    yield block
        return self.put_blob(repo_id, chunks())

    # ---- writes -------------------------------------------------------------------------------
    def commit(self, repo_id: str, files: dict, *, message: str, branch: str = DEFAULT_REVISION,
               deletions=(), replace: bool = False, parent: str | None = None,
               tag: str | None = None) -> str:
        """Make one commit on `branch` from stored blobs and move the branch (and `tag`) atomically.

        Args:
            files: {path: {"sha256", "size"}} of blobs already stored with `put_blob`.
            deletions: paths (or folder prefixes ending in "/") to drop from the parent's tree.
            replace: start from an empty tree (a release is exactly its files) instead of the parent's.
            parent: if given, the commit fails unless the branch head is still this commit.
            tag: a release tag to create on the new commit in the same atomic step.

        Returns:
            The commit id. An unchanged tree makes no new commit (the head is returned, and tagged).
        """
        check_repo_id(repo_id)
        branch = check_ref_name(branch)
        if tag is not None:
            check_ref_name(tag)
        for path in files:
            check_path(path)
        with self._lock(repo_id):
            if not self.repo_exists(repo_id):
                raise NotPublishedError(f"Repository {repo_id} does not exist on the {self.description}; "
                                        "create it first.")
            self.sweep_stale_temp_files(repo_id)
            refs = self.refs(repo_id)
            if branch in refs["tags"]:
                raise HubError(f"{ref(repo_id, branch)} is a tag, not a branch: commits go on branches "
                               "(branches and tags share one namespace).")
            head = refs["heads"].get(branch)
            if parent is not None and parent != head:
                raise HubError(f"{ref(repo_id, branch)} moved to {head} while committing on top of {parent}; "
                               "retry.")
            if tag is not None and tag in refs["tags"]:
                raise ReleaseExistsError(f"{ref(repo_id, tag)} already exists (commit {refs['tags'][tag]}); "
                                         "releases are immutable: publish under a new tag.")
            if tag is not None and tag in refs["heads"]:
                raise ReleaseExistsError(f"{ref(repo_id, tag)} is already a branch; branches and tags share "
                                         "one namespace: publish under a new tag.")
            old_tree = self.read_commit(repo_id, head)["files"] if head else {}
            tree = {} if replace else dict(old_tree)
            for path in deletions:
                path = str(path)
                tree = {p: v for p, v in tree.items()
                        if p != path.rstrip("/") and not p.startswith(path.rstrip("/") + "/")}
            tree.update({p: {"sha256": v["sha256"], "size": int(v["size"])} for p, v in files.items()})
            for path, entry in tree.items():
                if not self.blob_path(repo_id, entry["sha256"]).is_file():
                    raise IntegrityError(f"{ref(repo_id, branch)}: blob for {path} was never uploaded.")
            if head and tree == old_tree:
                new = head
            else:
                new = commit_id(head, tree, message)
                record = {"id": new, "parent": head, "message": message,
                          "date": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
                          "files": tree}
                commit_path = self.repo_dir(repo_id) / "commits" / f"{new}.json"
                if not commit_path.is_file():
                    write_json(commit_path, record)
            _hooks.pause("publish")
            refs["heads"][branch] = new
            if tag is not None:
                refs["tags"][tag] = new
            write_json(self.repo_dir(repo_id) / "refs.json", refs)   # the commit point
        return new

    def create_tag(self, repo_id: str, tag: str, revision: str | None = None, exist_ok: bool = False) -> str:
        """Tag the commit `revision` resolves to; an existing tag is an error unless it is the same commit."""
        tag = check_ref_name(tag)
        with self._lock(repo_id):
            target = self.resolve(repo_id, revision)
            refs = self.refs(repo_id)
            if tag in refs["heads"]:
                raise ReleaseExistsError(f"{ref(repo_id, tag)} is already a branch; branches and tags share "
                                         "one namespace: choose another tag.")
            if tag in refs["tags"]:
                if refs["tags"][tag] == target or exist_ok:
                    return refs["tags"][tag]
                raise ReleaseExistsError(f"{ref(repo_id, tag)} already exists (commit {refs['tags'][tag]}); "
                                         "releases are immutable: publish under a new tag.")
            refs["tags"][tag] = target
            write_json(self.repo_dir(repo_id) / "refs.json", refs)
        return target

    def create_branch(self, repo_id: str, branch: str, revision: str | None = None) -> str | None:
        """Create `branch` at `revision` (default: main's head; none in an empty repository)."""
        branch = check_ref_name(branch)
        with self._lock(repo_id):
            refs = self.refs(repo_id)
            if branch in refs["heads"] or branch in refs["tags"]:
                raise ReleaseExistsError(f"{ref(repo_id, branch)} already exists.")
            start = refs["heads"].get(DEFAULT_REVISION) if revision is None else self.resolve(repo_id, revision)
            refs["heads"][branch] = start
            write_json(self.repo_dir(repo_id) / "refs.json", refs)
        return start

    def delete_branch(self, repo_id: str, branch: str) -> None:
        """Delete a branch other than main (its commits stay reachable by id and by tags)."""
        if branch == DEFAULT_REVISION:
            raise InputError(f"{ref(repo_id, branch)}: the main branch cannot be deleted.")
        with self._lock(repo_id):
            refs = self.refs(repo_id)
            if branch not in refs["heads"]:
                raise RevisionNotFoundError(f"{ref(repo_id, branch)}: no such branch.")
            del refs["heads"][branch]
            write_json(self.repo_dir(repo_id) / "refs.json", refs)

    def publish_folder(self, folder, repo_id: str, *, tag: str | None = None,
                       message: str | None = None) -> Release:
        folder = Path(folder)
        self.create_repo(repo_id, exist_ok=True)
        if tag is not None:
            check_ref_name(tag)
            refs = self.refs(repo_id)
            if tag in refs["tags"] or tag in refs["heads"]:
                raise ReleaseExistsError(f"{ref(repo_id, tag)} already exists; releases are immutable: "
                                         "publish under a new tag.")
        files = {name: self.put_file(repo_id, folder / name) for name in list_files(folder)}
        message = message or (f"Release {tag}" if tag else "Publish with facezoo")
        new = self.commit(repo_id, files, message=message, replace=True, tag=tag)
        return Release(repo_id=repo_id, revision=new, tag=tag,
                       files={k: v["sha256"] for k, v in files.items()},
                       url_or_path=str(self.repo_dir(repo_id)))

    # ---- reads --------------------------------------------------------------------------------
    def pull(self, repo_id: str, revision: str | None = None) -> Snapshot:
        revision = check_revision(revision)
        commit = self.resolve(repo_id, revision)
        files = self.read_commit(repo_id, commit)["files"]
        ns, name = repo_id.split("/")
        parent = cache_dir() / ns / name
        final = parent / commit
        if final.is_dir():
            try:
                return Snapshot(repo_id, commit, final, verify_folder(final, repo_id, revision, known=files))
            except IntegrityError as exc:
                log.warning("Cached copy of %s failed verification (%s); fetching it again.",
                            ref(repo_id, revision), exc)
        from filelock import FileLock
        (parent / ".locks").mkdir(parents=True, exist_ok=True)
        with FileLock(str(parent / ".locks" / f"{commit}.lock")):
            if final.is_dir():
                try:
                    return Snapshot(repo_id, commit, final, verify_folder(final, repo_id, revision, known=files))
                except IntegrityError:
                    shutil.rmtree(final)
            for stale in parent.glob(f".tmp-{commit}-*"):      # left by a killed pull; we hold the lock
                shutil.rmtree(stale, ignore_errors=True)
            tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{commit}-", dir=parent))
            try:
                for i, (path, entry) in enumerate(sorted(files.items())):
                    if path in HOST_FILES:
                        continue
                    self._copy_verified(repo_id, revision, path, entry, tmp / path)
                    if i == 0:
                        _hooks.pause("pull")
                manifest = verify_folder(tmp, repo_id, revision, known=files)
                fsync_dir(tmp)
                os.rename(tmp, final)
                fsync_dir(parent)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
        return Snapshot(repo_id, commit, final, manifest)

    def _copy_verified(self, repo_id, revision, path, entry, dest: Path) -> None:
        """Put one blob at `dest`: a hard link to the hub's verified blob when the hub allows it (one copy
        of a release per machine; issue 31), else a copy. Either way the bytes at `dest` are hashed here
        (through the link: the very inode the cache will hold) and a mismatch raises IntegrityError.

        A linked blob is made read-only, since the cache and the hub now share it; the hub never writes a
        blob in place (`BlobWriter` renames new bytes over it), and a warm pull re-hashes what it returns.
        """
        check_path(path)                    # read_commit checked the table; never write outside `dest`'s root
        src = self.blob_path(repo_id, entry["sha256"])
        dest.parent.mkdir(parents=True, exist_ok=True)
        h = hashlib.sha256()
        try:
            try:
                if src.is_symlink():
                    raise OSError("a blob that is a link is never linked to")
                os.link(src, dest)
                linked = True
            except FileNotFoundError:
                raise
            except OSError:                 # another filesystem, or a hub owned by another user: copy
                linked = False
            if linked:
                with open(dest, "rb") as fin:
                    while block := fin.read(_CHUNK):
                        h.update(block)
                with contextlib.suppress(OSError):
                    os.chmod(dest, 0o444)
            else:
                with open(src, "rb") as fin, open(dest, "wb") as fout:
                    while block := fin.read(_CHUNK):
                        h.update(block)
                        fout.write(block)
                    fout.flush()
                    os.fsync(fout.fileno())
        except FileNotFoundError:
            raise IntegrityError(f"{ref(repo_id, revision)}: the hub lost the content of {path}; "
                                 "nothing was loaded. Publish the release again.") from None
        if h.hexdigest() != entry["sha256"]:
            raise IntegrityError(f"{ref(repo_id, revision)}: sha256 mismatch for {path} on the "
                                 f"{self.description}: the stored file was altered or corrupted; "
                                 "nothing was loaded.")

    def tree(self, repo_id: str, commit: str) -> dict:
        """{path: {"sha256", "size"}} of one commit."""
        return self.read_commit(repo_id, commit)["files"]


class BlobWriter:
    """Streams one blob into a temp file beside the objects, hashing as it goes.

    `finish()` checks the size and sha256 the caller expects (if any) and renames the file to its hash
    (always replacing: see `LocalHub.put_blob`); `abort()` removes the temp file and is a no-op after
    `finish()`. Nothing is ever held whole in memory.
    """

    def __init__(self, objects: Path):
        objects.mkdir(parents=True, exist_ok=True)
        self.objects = objects
        self._hash, self.size = hashlib.sha256(), 0
        fd, self._tmp = tempfile.mkstemp(prefix=".blob.", suffix=".tmp", dir=objects)
        self._file = os.fdopen(fd, "wb")

    def write(self, chunk: bytes) -> None:
        self._hash.update(chunk)
        self.size += len(chunk)
        self._file.write(chunk)

    def finish(self, sha256: str | None = None, size: int | None = None) -> dict:
        """Store the blob under its sha256; raise IntegrityError if it is not the expected content."""
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        digest = self._hash.hexdigest()
        if size is not None and self.size != size:
            raise IntegrityError(f"upload of {str(sha256)[:12]}…: got {self.size} bytes, expected {size}; "
                                 "nothing was stored.")
        if sha256 is not None and digest != sha256:
            raise IntegrityError(f"upload of {sha256[:12]}…: the bytes hash to {digest[:12]}…; nothing was "
                                 "stored.")
        os.replace(self._tmp, self.objects / digest)
        self._tmp = None
        fsync_dir(self.objects)
        return {"sha256": digest, "size": self.size}

    def abort(self) -> None:
        if not self._file.closed:
            self._file.close()
        if self._tmp is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._tmp)
            self._tmp = None
