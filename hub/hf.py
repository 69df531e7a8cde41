"""The Hugging Face backend: the Hub at `$HF_ENDPOINT` (`"hf"`) or any Hub-compatible http(s) endpoint.

Built on `huggingface_hub`: `create_repo(exist_ok=True)`, one `create_commit` per release (not
`upload_folder`, which may split a folder over several commits), `create_tag`, and `snapshot_download`
pinned to the commit the revision resolved to. It honours `HF_TOKEN`, `HF_HUB_OFFLINE` and the standard
HF cache (`HF_HOME`), so a warm cache loads with no network: offline, the revision is resolved through
the cache's refs. Every file is checked against `facezoo.json` after download, before returning.

Library errors are turned into facezoo errors that name the repository and revision; the token is never
part of a message.
"""
from __future__ import annotations

import contextlib
import logging
import os
import uuid
from pathlib import Path

from hub import _hooks
from hub.base import COMMIT_RE, Hub, Release, Snapshot, check_revision
from hub.constants import DEFAULT_REVISION, HOST_FILES, MANIFEST_FILE
from hub.errors import (HubError, IntegrityError, NotPublishedError, ReleaseExistsError,
                        RevisionNotFoundError, ref)
from hub.manifest import list_files, verify_folder

log = logging.getLogger(__name__)
_HF_HOSTS = ("huggingface.co", "hf.co")


def _truthy(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


STAGING_PREFIX = "facezoo-staging-"


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
                                        f"(while trying to {action}).") from None
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
        except (httpx2.ConnectError, httpx2.TimeoutException, httpx2.NetworkError) as exc:
            raise HubError(f"{where}: cannot reach the {self.description} ({type(exc).__name__}) while "
                           f"trying to {action}. Is the server up and the URL right?") from None
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
        except OSError as exc:
            if "offline" in str(exc).lower() or "connect" in str(exc).lower():
                raise HubError(f"{where}: cannot reach the {self.description} and no cached copy "
                               f"({type(exc).__name__}).") from None
            raise

    # ---- writes -------------------------------------------------------------------------------
    def publish_folder(self, folder, repo_id: str, *, tag: str | None = None,
                       message: str | None = None) -> Release:
        from huggingface_hub import CommitOperationAdd, CommitOperationDelete
        from zoo.io import sha256_file

        folder = Path(folder)
        api = self._api()
        with self._errors(repo_id, tag, "publish"):
            api.create_repo(repo_id, exist_ok=True, repo_type="model")
            if tag is not None:
                refs = api.list_repo_refs(repo_id)
                if any(t.name == tag for t in refs.tags):
                    raise ReleaseExistsError(f"{ref(repo_id, tag)} already exists; releases are immutable: "
                                             "publish under a new tag.")
            names = list_files(folder)
            existing = set(api.list_repo_files(repo_id, revision=DEFAULT_REVISION))
            ops = [CommitOperationDelete(path_in_repo=p) for p in sorted(existing - set(names) - HOST_FILES)]
            ops += [CommitOperationAdd(path_in_repo=n, path_or_fileobj=str(folder / n)) for n in names]
            message = message or (f"Release {tag}" if tag else "Publish with facezoo")
            # The release is committed on a private staging branch and tagged there first; only then
            # does main move. A publish killed before the tag leaves main and the tags untouched (the
            # next publish removes the stale staging branch).
            for branch in api.list_repo_refs(repo_id).branches:
                if branch.name.startswith(STAGING_PREFIX):
                    api.delete_branch(repo_id, branch=branch.name)
            staging = f"{STAGING_PREFIX}{uuid.uuid4().hex[:12]}"
            api.create_branch(repo_id, branch=staging, exist_ok=False)
            commit = api.create_commit(repo_id, operations=ops, commit_message=message, revision=staging).oid
        _hooks.pause("publish-staged")
        if tag is not None:
            with self._errors(repo_id, tag, "tag the release"):
                api.create_tag(repo_id, tag=tag, revision=commit, tag_message=message)
        with self._errors(repo_id, tag, "move main to the release"):
            ops = [op for op in ops if not isinstance(op, CommitOperationAdd)] + [
                CommitOperationAdd(path_in_repo=n, path_or_fileobj=str(folder / n)) for n in names]
            api.create_commit(repo_id, operations=ops, commit_message=message, revision=DEFAULT_REVISION)
            api.delete_branch(repo_id, branch=staging)
        return Release(repo_id=repo_id, revision=commit, tag=tag,
                       files={n: sha256_file(folder / n) for n in names},
                       url_or_path=f"{self.endpoint}/{repo_id}/tree/{commit}")

    # ---- reads --------------------------------------------------------------------------------
    def _cache_root(self) -> Path:
        if os.environ.get("HF_HUB_CACHE"):
            return Path(os.environ["HF_HUB_CACHE"])
        if os.environ.get("HF_HOME"):
            return Path(os.environ["HF_HOME"]) / "hub"
        from huggingface_hub import constants
        return Path(constants.HF_HUB_CACHE)

    def _ref_path(self, repo_id: str, revision: str) -> Path:
        return self._cache_root() / f"models--{repo_id.replace('/', '--')}" / "refs" / revision

    def resolve(self, repo_id: str, revision: str | None = None) -> str:
        revision = check_revision(revision)
        if COMMIT_RE.match(revision):
            return revision
        if self.offline():
            try:
                commit = self._ref_path(repo_id, revision).read_text().strip()
            except OSError:
                commit = ""
            if not COMMIT_RE.match(commit):
                raise HubError(f"{ref(repo_id, revision)}: offline mode is on (HF_HUB_OFFLINE) and the HF cache "
                               "has never resolved this revision; connect and pull once.")
            return commit
        with self._errors(repo_id, revision, "resolve the revision"):
            info = self._api().model_info(repo_id, revision=revision)
        if not info.sha:
            raise RevisionNotFoundError(f"{ref(repo_id, revision)}: the {self.description} has no commit there.")
        return info.sha

    def pull(self, repo_id: str, revision: str | None = None) -> Snapshot:
        from filelock import FileLock
        from huggingface_hub import snapshot_download
        from zoo.io import atomic_write

        revision = check_revision(revision)
        commit = self.resolve(repo_id, revision)          # once; everything below is pinned to it
        lock_dir = self._cache_root() / ".locks" / f"models--{repo_id.replace('/', '--')}"
        lock_dir.mkdir(parents=True, exist_ok=True)
        with FileLock(str(lock_dir / f"facezoo-{commit}.lock")):
            with self._errors(repo_id, revision, "download the release"):
                folder = Path(snapshot_download(
                    repo_id, revision=commit, endpoint=self.endpoint, token=self._token_value() or None,
                    cache_dir=str(self._cache_root()),
                    local_files_only=self.offline(), library_name="facezoo"))
            try:
                manifest = verify_folder(folder, repo_id, revision)
            except IntegrityError:
                self._evict(folder)
                raise
        if revision != commit and not self.offline():
            path = self._ref_path(repo_id, revision)   # so HF_HUB_OFFLINE can resolve it later
            with contextlib.suppress(OSError):
                with atomic_write(path, "w") as f:
                    f.write(commit)
        return Snapshot(repo_id, commit, folder, manifest)

    @staticmethod
    def _evict(folder: Path) -> None:
        """Drop a snapshot that failed verification (links and blobs) so a retry downloads it afresh."""
        for name in list_files(folder):
            path = folder / name
            with contextlib.suppress(OSError):
                target = path.resolve()
                path.unlink()
                if target != path and target.is_file():
                    target.unlink()

    def list_releases(self, repo_id: str) -> list[tuple[str, str]]:
        with self._errors(repo_id, None, "list releases"):
            refs = self._api().list_repo_refs(repo_id)
        return sorted((t.name, t.target_commit) for t in refs.tags)


__all__ = ["HfHub", "MANIFEST_FILE"]
