"""The Hugging Face backend: the Hub at `$HF_ENDPOINT` (`"hf"`) or any Hub-compatible http(s) endpoint.

Built on `huggingface_hub`: `create_repo(exist_ok=True)`, one `create_commit` per release (not
`upload_folder`, which may split a folder over several commits), `create_tag`, and `snapshot_download`
pinned to the commit the revision resolved to. It honours `HF_TOKEN`, `HF_HUB_OFFLINE` and the standard
HF cache (`HF_HOME`), so a warm cache loads with no network: offline, the revision is resolved through
the cache's refs. Every file is checked against `facezoo.json` after download, before returning.

Every path a server sends back (the file listing of a release, the files on main) passes the same check
as on write before anything is fetched or deleted; one bad path refuses the whole release. Files are
fetched by `hub.hf_download`, which checks each ETag and commit before writing a byte and hashes the
bytes against the ETag; a snapshot entry counts only if it resolves inside this endpoint's cache, and an
eviction never follows a link out of the cache's `blobs/` (issue 29). The cache is
keyed by endpoint (`$HF_HUB_CACHE/endpoints/<host>-<hash>/` for any endpoint but the public Hub), so two
hubs holding the same repo id never share refs, even offline.

A publish commits on its own staging branch, tags there, then moves main, and deletes only its own
staging branch (plus staging branches of killed publishes older than `STALE_STAGING_SECONDS`); its error
says exactly which of those steps happened.

Library errors are turned into facezoo errors that name the repository and revision; the token is never
part of a message.
"""
from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import time
import uuid
from pathlib import Path

from hub import _hooks
from hub.base import COMMIT_RE, Hub, Release, Snapshot, check_path, check_revision
from hub.constants import DEFAULT_REVISION, HOST_FILES, MANIFEST_FILE
from hub.errors import (HubError, IntegrityError, NotPublishedError, ReleaseExistsError,
                        RevisionNotFoundError, ref)
from hub.hf_download import evict, fetch_file, landed_inside
from hub.manifest import list_files, verify_folder

log = logging.getLogger(__name__)
_HF_HOSTS = ("huggingface.co", "hf.co")


def _truthy(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


STAGING_PREFIX = "facezoo-staging-"
# A staging branch this old belongs to a publish that died: any later publish may remove it.
STALE_STAGING_SECONDS = 3600
_STAGING_RE = re.compile(rf"\A{STAGING_PREFIX}(\d{{10,12}})-[0-9a-f]{{12}}\Z")


def _checked_paths(paths, where: str, source: str) -> list[str]:
    """Every path of a server's answer, checked like on write; one bad path refuses the whole release."""
    out = []
    for path in paths:
        try:
            out.append(check_path(path))
        except ValueError as exc:
            raise IntegrityError(f"{where}: unsafe path in {source}: {exc} Refusing the whole release; "
                                 "nothing was written or loaded.") from None
    return out


def _caused_by(exc: BaseException, types) -> BaseException | None:
    """The first exception of `types` in `exc`'s cause/context chain (huggingface_hub wraps some)."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, types):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


class HfHub(Hub):
    """A Hub speaking the Hugging Face API (the real Hub, a mirror, or `facezoo hub serve`)."""

    def __init__(self, endpoint: str | None = None, token: str | None = None):
        from huggingface_hub import constants
        self.endpoint = (endpoint or os.environ.get("HF_ENDPOINT") or constants.ENDPOINT).rstrip("/")
        self._token = token
        self.description = f"hub at {self.endpoint}"
        if not any(h in self.endpoint for h in _HF_HOSTS):
            # A facezoo/self-hosted endpoint takes regular uploads only: never try Xet storage.
            os.environ.setdefault("HF_HUB_DISABLE_XET", "1")
            constants.HF_HUB_DISABLE_XET = True

    def _token_value(self) -> str | None:
        return self._token or os.environ.get("HF_TOKEN") or os.environ.get("HUGGING_FACE_HUB_TOKEN")

    def _api(self):
        from huggingface_hub import HfApi
        return HfApi(endpoint=self.endpoint, token=self._token_value() or None,
                     library_name="facezoo", library_version="0.1")

    @staticmethod
    def offline() -> bool:
        return _truthy("HF_HUB_OFFLINE")

    def _known_refs(self, repo_id: str) -> str:
        """' Releases: v1, v2; branches: main.' for a message (like the local hub's), or '' if unknown."""
        try:
            refs = self._api().list_repo_refs(repo_id)
        except Exception:      # only a hint for a message: the error being reported is the one that counts
            return ""
        tags = sorted(t.name for t in refs.tags) or ["(no releases yet)"]
        heads = sorted(b.name for b in refs.branches if not b.name.startswith(STAGING_PREFIX)) or ["(none)"]
        return f" Releases: {', '.join(tags)}; branches: {', '.join(heads)}."

    @contextlib.contextmanager
    def _errors(self, repo_id: str, revision: str | None, action: str):
        """Translate huggingface_hub / httpx errors into facezoo errors naming repo@revision."""
        from huggingface_hub import errors as hf_errors
        import httpx2
        where = ref(repo_id, revision)
        try:
            yield
        except (NotPublishedError, IntegrityError, HubError, ReleaseExistsError):
            raise
        except hf_errors.RevisionNotFoundError:
            raise RevisionNotFoundError(f"{where}: no such tag, branch or commit on the {self.description} "
                                        f"(while trying to {action}).{self._known_refs(repo_id)}") from None
        except hf_errors.RepositoryNotFoundError as exc:
            status = getattr(getattr(exc, "response", None), "status_code", None)
            if status in (401, 403):
                raise HubError(f"{where}: the {self.description} refused access (HTTP {status}) while trying "
                               f"to {action}; set HF_TOKEN to a valid token.") from None
            raise NotPublishedError(f"Repository {repo_id} is not on the {self.description} (asked for "
                                    f"{where}). Publish it with `facezoo publish PATH {repo_id}`, or choose "
                                    "another hub with --hub / $FACEZOO_HUB.") from None
        except hf_errors.RemoteEntryNotFoundError:
            raise IntegrityError(f"{where}: a file of the release is missing on the {self.description}; "
                                 "nothing was loaded.") from None
        except (hf_errors.LocalEntryNotFoundError, hf_errors.OfflineModeIsEnabled):
            why = "offline mode is on (HF_HUB_OFFLINE)" if self.offline() else \
                f"the {self.description} cannot be reached"
            raise HubError(f"{where}: {why} and the HF cache has no complete copy of it; connect (or "
                           "unset HF_HUB_OFFLINE) and pull once.") from None
        except httpx2.TransportError as exc:          # refused, reset, timed out, cut mid-answer
            raise HubError(f"{where}: lost the connection to the {self.description} ({type(exc).__name__}) "
                           f"while trying to {action}. Is the server up and the URL right? Nothing after "
                           "that step was done.") from None
        except hf_errors.HfHubHTTPError as exc:
            status = getattr(getattr(exc, "response", None), "status_code", None)
            if status in (401, 403):
                raise HubError(f"{where}: the {self.description} refused the request (HTTP {status}) while "
                               f"trying to {action}; set HF_TOKEN to a token with access.") from None
            if status == 409 and action.startswith("tag"):
                raise ReleaseExistsError(f"{where} already exists; releases are immutable: publish under "
                                         "a new tag.") from None
            raise HubError(f"{where}: the {self.description} answered HTTP {status} while trying to "
                           f"{action}.") from None
        except Exception as exc:
            # huggingface_hub wraps some failures (an LFS upload cut by a server death is a RuntimeError
            # around the transport error): report the cause, as a HubError, never a raw library error.
            cause = _caused_by(exc, (httpx2.TransportError, hf_errors.HfHubHTTPError))
            if cause is not None:
                status = getattr(getattr(cause, "response", None), "status_code", None)
                what = f"HTTP {status}" if status else type(cause).__name__
                raise HubError(f"{where}: the {self.description} failed ({what}) while trying to {action}; "
                               "nothing after that step was done.") from None
            if isinstance(exc, ValueError) and "LFS batch API" in str(exc):   # per-object refusals
                raise HubError(f"{where}: the {self.description} refused an upload while trying to {action}: "
                               f"{' '.join(str(exc).split())[:300]}") from None
            if isinstance(exc, OSError) and ("offline" in str(exc).lower() or "connect" in str(exc).lower()):
                raise HubError(f"{where}: cannot reach the {self.description} and no cached copy "
                               f"({type(exc).__name__}).") from None
            raise

    # ---- writes -------------------------------------------------------------------------------
    def publish_folder(self, folder, repo_id: str, *, tag: str | None = None,
                       message: str | None = None) -> Release:
        from huggingface_hub import CommitOperationAdd, CommitOperationDelete
        from fzcore.io import sha256_file

        folder = Path(folder)
        api = self._api()
        names = list_files(folder)
        message = message or (f"Release {tag}" if tag else "Publish with facezoo")
        where = ref(repo_id, tag)
        with self._errors(repo_id, tag, "prepare the publish"):
            api.create_repo(repo_id, exist_ok=True, repo_type="model")
            refs = api.list_repo_refs(repo_id)
            if tag is not None and any(r.name == tag for r in [*refs.tags, *refs.branches]):
                raise ReleaseExistsError(f"{where} already exists; releases are immutable: publish under "
                                         "a new tag.")
            self._drop_stale_staging(api, repo_id, [b.name for b in refs.branches])
            existing = set(_checked_paths(api.list_repo_files(repo_id, revision=DEFAULT_REVISION), where,
                                          f"the file listing of main on the {self.description}"))
            # The release is committed on this publish's own staging branch and tagged there first;
            # only then does main move. A publish killed before the tag leaves main and the tags untouched.
            staging = f"{STAGING_PREFIX}{int(time.time())}-{uuid.uuid4().hex[:12]}"
            api.create_branch(repo_id, branch=staging, exist_ok=False)
        deletions = [CommitOperationDelete(path_in_repo=p) for p in sorted(existing - set(names) - HOST_FILES)]

        def additions():
            return [CommitOperationAdd(path_in_repo=n, path_or_fileobj=str(folder / n)) for n in names]

        try:
            with self._errors(repo_id, tag, "commit the release on its staging branch"):
                commit = api.create_commit(repo_id, operations=deletions + additions(), commit_message=message,
                                           revision=staging).oid
            _hooks.pause("publish-staged")
            if tag is not None:
                try:
                    with self._errors(repo_id, tag, "tag the release"):
                        api.create_tag(repo_id, tag=tag, revision=commit, tag_message=message)
                except ReleaseExistsError:
                    raise ReleaseExistsError(
                        f"{where} was created by another publish while this one ran; this release (commit "
                        f"{commit}) was not tagged and main was not moved. Publish under a new tag.") from None
            try:
                with self._errors(repo_id, tag, "move main to the release"):
                    api.create_commit(repo_id, operations=deletions + additions(), commit_message=message,
                                      revision=DEFAULT_REVISION)
            except HubError as exc:
                if tag is None:
                    raise
                raise HubError(f"{where} was created (commit {commit}) and can be pulled by its tag, but "
                               f"main was not moved: {exc}") from None
        finally:
            self._delete_branch_quietly(api, repo_id, staging)
        return Release(repo_id=repo_id, revision=commit, tag=tag,
                       files={n: sha256_file(folder / n) for n in names},
                       url_or_path=f"{self.endpoint}/{repo_id}/tree/{commit}")

    def _drop_stale_staging(self, api, repo_id: str, branches) -> None:
        """Delete staging branches of publishes that died over STALE_STAGING_SECONDS ago (never live ones)."""
        now = time.time()
        for name in branches:
            m = _STAGING_RE.match(name)
            if m and now - int(m[1]) > STALE_STAGING_SECONDS:
                self._delete_branch_quietly(api, repo_id, name)

    def _delete_branch_quietly(self, api, repo_id: str, branch: str) -> None:
        """Best-effort cleanup: a branch already gone (another publish removed a stale one) is fine."""
        try:
            api.delete_branch(repo_id, branch=branch)
        except Exception as exc:  # cleanup must never turn a finished publish into a reported failure
            log.warning("%s: could not delete staging branch %s (%s); it is removed once stale.",
                        repo_id, branch, type(exc).__name__)

    # ---- reads --------------------------------------------------------------------------------
    def _cache_root(self) -> Path:
        """The HF cache for this endpoint: the standard one for the public Hub, a keyed subfolder otherwise.

        Two hubs may hold the same repo id; sharing `refs/` would let an offline pull from one return the
        other's files.
        """
        from huggingface_hub import constants
        if os.environ.get("HF_HUB_CACHE"):
            base = Path(os.environ["HF_HUB_CACHE"])
        elif os.environ.get("HF_HOME"):
            base = Path(os.environ["HF_HOME"]) / "hub"
        else:
            base = Path(constants.HF_HUB_CACHE)
        if self.endpoint == constants._HF_DEFAULT_ENDPOINT.rstrip("/"):
            return base
        host = re.sub(r"[^A-Za-z0-9.-]+", "-", self.endpoint.split("://", 1)[-1])[:60].strip("-")
        return base / "endpoints" / f"{host}-{hashlib.sha256(self.endpoint.encode()).hexdigest()[:12]}"

    def _ref_path(self, repo_id: str, revision: str) -> Path:
        return self._cache_root() / f"models--{repo_id.replace('/', '--')}" / "refs" / revision

    def resolve(self, repo_id: str, revision: str | None = None) -> str:
        revision = check_revision(revision)
        if COMMIT_RE.match(revision):
            return revision
        if self.offline():
            return self._resolve_offline(repo_id, revision)
        return self._listing(repo_id, revision)[0]

    def _resolve_offline(self, repo_id: str, revision: str) -> str:
        commit = revision if COMMIT_RE.match(revision) else self._cached_ref(repo_id, revision)
        if commit is None:
            raise HubError(f"{ref(repo_id, revision)}: offline mode is on (HF_HUB_OFFLINE) and the HF cache "
                           "has never resolved this revision; connect and pull once.")
        return commit

    def _listing(self, repo_id: str, revision: str) -> tuple[str, list[str]]:
        """(commit id, checked file paths) of `revision`, from one repo-info answer of the server."""
        where = ref(repo_id, revision)
        with self._errors(repo_id, revision, "resolve the revision"):
            info = self._api().model_info(repo_id, revision=revision)
        if not isinstance(info.sha, str) or not COMMIT_RE.match(info.sha):
            raise RevisionNotFoundError(f"{where}: the {self.description} has no commit there.")
        if revision != info.sha and COMMIT_RE.match(revision):
            raise IntegrityError(f"{where}: the {self.description} answered for commit {info.sha}; "
                                 "nothing was loaded.")
        names = [s.rfilename for s in (info.siblings or [])]
        return info.sha, _checked_paths(names, where, f"the file listing from the {self.description}")

    def pull(self, repo_id: str, revision: str | None = None) -> Snapshot:
        from concurrent.futures import ThreadPoolExecutor

        revision = check_revision(revision)
        if self.offline():
            return self._pull_pinned(repo_id, revision, self._resolve_offline(repo_id, revision), None)
        # Resolved once; every file is pinned to the commit, and only paths that passed the check are
        # fetched (the listing is not asked for a second time). Meanwhile a warm cache is re-hashed
        # (hashlib releases the GIL); that result counts only if the server names the same commit and
        # the cached snapshot holds every file it lists.
        guess = revision if COMMIT_RE.match(revision) else self._cached_ref(repo_id, revision)
        with ThreadPoolExecutor(1) as pool:
            early = pool.submit(self._verified_or_none, repo_id, revision, guess) if guess else None
            commit, names = self._listing(repo_id, revision)
            manifest = early.result() if early is not None and guess == commit else None
        folder = self._snapshot_dir(repo_id, commit)
        repo_cache = self._repo_cache(repo_id)
        if manifest is None or not all(landed_inside(folder / name, repo_cache) for name in names):
            return self._pull_pinned(repo_id, revision, commit, names)
        return Snapshot(repo_id, commit, folder, manifest)

    def _snapshot_dir(self, repo_id: str, commit: str) -> Path:
        return self._cache_root() / f"models--{repo_id.replace('/', '--')}" / "snapshots" / commit

    def _cached_ref(self, repo_id: str, revision: str) -> str | None:
        try:
            commit = self._ref_path(repo_id, revision).read_text().strip()
        except OSError:
            return None
        return commit if COMMIT_RE.match(commit) else None

    def _verified_record(self, repo_id: str, commit: str) -> Path:
        """Where the stat signatures of a snapshot's verified files are kept (`verify_folder(record=)`)."""
        return self._cache_root() / ".facezoo-verified" / f"models--{repo_id.replace('/', '--')}" / f"{commit}.json"

    def _verified_or_none(self, repo_id: str, revision: str, commit: str) -> dict | None:
        """The manifest of the cached snapshot of `commit` if every file verifies, else None."""
        folder = self._snapshot_dir(repo_id, commit)
        if not folder.is_dir():
            return None
        try:
            return verify_folder(folder, repo_id, revision, record=self._verified_record(repo_id, commit))
        except (IntegrityError, OSError):
            return None

    def _repo_cache(self, repo_id: str) -> Path:
        return self._cache_root() / f"models--{repo_id.replace('/', '--')}"

    def _pull_pinned(self, repo_id: str, revision: str, commit: str, names: list[str] | None) -> Snapshot:
        """Fetch the checked `names` of `commit` (None: offline, the cache only), verify, record the ref."""
        from filelock import FileLock
        from huggingface_hub import snapshot_download
        from fzcore.io import atomic_write

        where = ref(repo_id, revision)
        repo_cache = self._repo_cache(repo_id)
        lock_dir = self._cache_root() / ".locks" / f"models--{repo_id.replace('/', '--')}"
        lock_dir.mkdir(parents=True, exist_ok=True)
        with FileLock(str(lock_dir / f"facezoo-{commit}.lock")):
            with self._errors(repo_id, revision, "download the release"):
                folder = self._snapshot_dir(repo_id, commit)
                if names is None:
                    folder = Path(snapshot_download(repo_id=repo_id, revision=commit, endpoint=self.endpoint,
                                                    cache_dir=str(self._cache_root()), local_files_only=True,
                                                    library_name="facezoo"))
                else:
                    # A snapshot entry counts only if it resolves inside this cache (a link planted in a shared
                    # cache is dropped as a link, its target untouched); the rest is fetched, in parallel.
                    missing = [n for n in names if not landed_inside(folder / n, repo_cache)]
                    for name in missing:
                        if (folder / name).is_symlink():
                            (folder / name).unlink()
                    if missing:
                        from concurrent.futures import ThreadPoolExecutor
                        token = self._token_value() or None
                        with ThreadPoolExecutor(min(8, len(missing))) as pool:
                            list(pool.map(lambda name: fetch_file(
                                repo_cache, endpoint=self.endpoint, repo_id=repo_id, commit=commit, name=name,
                                token=token, where=where), missing))
            outside = [n for n in list_files(folder) if not landed_inside(folder / n, repo_cache)]
            if outside:
                evict(folder, repo_cache)
                raise IntegrityError(f"{where}: {outside[0]} of the cached release resolves outside the cache "
                                     f"{repo_cache}; refusing it, nothing was loaded. Pull again.")
            try:
                manifest = verify_folder(folder, repo_id, revision, record=self._verified_record(repo_id, commit))
            except IntegrityError:
                evict(folder, repo_cache)
                raise
        if revision != commit and names is not None:
            path = self._ref_path(repo_id, revision)   # so HF_HUB_OFFLINE can resolve it later
            with contextlib.suppress(OSError):
                if not path.is_file() or path.read_text().strip() != commit:
                    with atomic_write(path, "w") as f:
                        f.write(commit)
        return Snapshot(repo_id, commit, folder, manifest)

    def list_releases(self, repo_id: str) -> list[tuple[str, str]]:
        with self._errors(repo_id, None, "list releases"):
            refs = self._api().list_repo_refs(repo_id)
        return sorted((t.name, t.target_commit) for t in refs.tags)


__all__ = ["HfHub", "MANIFEST_FILE"]
