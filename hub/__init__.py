"""facezoo's hub: publish encoders as verified releases and pull them back, on any of three backends.

- the embedded local hub (a directory; the default `$FACEZOO_HOME/hub`, works offline),
- the Hugging Face Hub (`"hf"`, at `$HF_ENDPOINT`) or any Hub-compatible http(s) endpoint, through
  `huggingface_hub`,
- `facezoo hub serve`, an HTTP server speaking that API over a local hub directory.

A release is one atomic commit in the Keras `hf://` layout (`config.json`, `metadata.json`,
`model.weights.h5`, `README.md`) plus `facezoo.json` (metadata and a sha256 per file); releases are tags.
A pull resolves the revision to a commit id once, fetches every file pinned to it and checks every sha256
before returning. `import hub` is cheap: no Keras, TensorFlow or huggingface_hub until used.

Examples:
    >>> import hub, keras, zoo
    >>> model = zoo.build_encoder("mobilenet-face", input_size=64)
    >>> release = hub.publish(model, "team/my-encoder", tag="v1", metadata={"notes": "first try"})
    >>> snap = hub.pull("team/my-encoder", "v1")          # snap.revision: the 40-hex commit id
    >>> encoder = keras.saving.load_model(snap.path)      # every file already sha256-verified
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from fzcore.formats import INFO_ATTR
from hub.base import Hub, Release, Snapshot, check_repo_id, check_revision, facezoo_home
from hub.constants import CARD_FILE, ENV_HUB, HF_ALIASES, MANIFEST_FILE
from hub.errors import (HubError, IntegrityError, NotPublishedError, ReleaseExistsError,
                        RevisionNotFoundError)

__all__ = ["Hub", "Release", "Snapshot", "HubError", "IntegrityError", "NotPublishedError",
           "RevisionNotFoundError", "ReleaseExistsError", "get_hub", "publish", "pull", "list_releases",
           "default_hub_dir"]


def default_hub_dir() -> Path:
    """The embedded local hub: `$FACEZOO_HOME/hub`."""
    return facezoo_home() / "hub"


def get_hub(hub=None) -> Hub:
    """The hub to use.

    Args:
        hub: a `Hub`; a local hub directory; `"hf"` (the Hugging Face Hub at `$HF_ENDPOINT`); or the
            http(s) URL of a Hub-compatible endpoint such as `facezoo hub serve`. None: `$FACEZOO_HUB`,
            else the embedded local hub at `$FACEZOO_HOME/hub`.
    """
    if isinstance(hub, Hub):
        return hub
    value = hub if hub not in (None, "") else os.environ.get(ENV_HUB) or None
    if value is None:
        from hub.local import LocalHub
        return LocalHub(default_hub_dir())
    value = str(value).strip()
    if value.lower() in HF_ALIASES:
        from hub.hf import HfHub
        return HfHub(None)
    if value.lower().startswith(("http://", "https://")):
        from hub.hf import HfHub
        return HfHub(value)
    if value.startswith("file://"):
        value = value[len("file://"):]
    from hub.local import LocalHub
    return LocalHub(value)


def _secrets(hub: Hub) -> list[str]:
    values = [os.environ.get(k) for k in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")]
    values.append(getattr(hub, "_token_value", lambda: None)())
    return [v for v in values if v and len(v) >= 8]


def _carried_facts(model) -> dict:
    """The facezoo.json entries a model vouches for itself: the object at its `fzcore.formats.INFO_ATTR`
    (a `zoo.EncoderInfo`) answers `release_facts(model)`; {} for any other model or a path."""
    facts = getattr(getattr(model, INFO_ATTR, None), "release_facts", None)
    return dict(facts(model)) if callable(facts) else {}


def publish(model_or_dir, repo_id: str, *, card=None, tag: str | None = None, hub=None,
            metadata: dict | None = None, message: str | None = None) -> Release:
    """Publish an encoder as one atomic, verified release (and tag it).

    Args:
        model_or_dir: a `keras.Model` (a facezoo encoder adds the facts it carries: spec, normalization,
            alignment), a `.keras` file, or a Keras directory (`config.json`, `metadata.json`,
            `model.weights.h5`). A facezoo run folder goes through `zoo.publishing.publish_encoder`.
        repo_id: `namespace/name`.
        card: None (render `hub/templates/card.md` from `metadata`), markdown text, or a
            `huggingface_hub.ModelCard`.
        tag: the release tag (e.g. "v1"); an existing tag is refused (releases are immutable).
        hub: see `get_hub`.
        metadata: merged into `facezoo.json`: "spec", "input_size", "normalization",
            "alignment_template", "corpus", "metrics", "parent", "training", ...
        message: the commit message.

    Returns:
        The `Release` (commit id, tag, {file: sha256}).

    The release is built and checked in a temp folder first; the hub sees one commit or nothing.
    """
    from hub.cards import card_text
    from hub.manifest import build_manifest, write_manifest
    from hub.staging import stage_release

    check_repo_id(repo_id)
    if tag is not None:
        check_revision(tag)
    backend = get_hub(hub)
    with tempfile.TemporaryDirectory(prefix="facezoo-release-") as tmp:
        folder = Path(tmp)
        base_meta = stage_release(model_or_dir, folder)
        meta = {**base_meta, **_carried_facts(model_or_dir), **(metadata or {})}
        meta.setdefault("parent", None)
        (folder / CARD_FILE).write_text(card_text(card, repo_id, meta), encoding="utf-8")
        manifest = build_manifest(folder, meta)
        write_manifest(folder, manifest)
        secrets = _secrets(backend)
        for path in folder.rglob("*"):
            if path.is_file() and path.suffix in (".json", ".md"):
                text = path.read_text(encoding="utf-8", errors="replace")
                if any(s in text for s in secrets):
                    raise HubError(f"Refusing to publish {repo_id}: {path.name} contains an access token "
                                   "(check the metadata and card you passed).")
        return backend.publish_folder(folder, repo_id, tag=tag, message=message)


def pull(repo_id: str, revision: str | None = None, *, hub=None) -> Snapshot:
    """Fetch a release and verify every file against `facezoo.json` before returning.

    Args:
        repo_id: `namespace/name`.
        revision: a tag, a branch or a commit id; default "main". Resolved to a commit id once; every
            file is fetched pinned to that commit.
        hub: see `get_hub`.

    Returns:
        A `Snapshot` (commit id, local folder, manifest).

    Raises:
        NotPublishedError / RevisionNotFoundError: no such repository / revision.
        IntegrityError: a file differs from its manifest entry (nothing was loaded).
        HubError: the hub is unreachable, refused the token, or we are offline with a cold cache.
    """
    check_repo_id(repo_id)
    return get_hub(hub).pull(repo_id, check_revision(revision))


def list_releases(repo_id: str, hub=None) -> list[tuple[str, str]]:
    """[(tag, commit id)] of a repository, sorted by tag."""
    check_repo_id(repo_id)
    return get_hub(hub).list_releases(repo_id)
