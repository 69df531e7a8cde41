"""Errors of the hub package. Every message names the repository and revision involved.

`IntegrityError` (a sha256 mismatch) and `NotPublishedError` (no such repository) come from the shared
core (`fzcore.errors`, which `zoo.errors` re-exports), so `zoo.load_encoder` callers catch one family of
exceptions and the hub imports nothing of `zoo`.
"""
from __future__ import annotations

from fzcore.errors import FacezooError, IntegrityError, NotPublishedError

__all__ = ["FacezooError", "HubError", "IntegrityError", "NotPublishedError", "RevisionNotFoundError",
           "ReleaseExistsError"]


class HubError(FacezooError):
    """The hub could not be reached or refused us: server down, offline with a cold cache, bad token."""


class RevisionNotFoundError(NotPublishedError):
    """The repository exists but has no such tag, branch or commit."""


class ReleaseExistsError(FacezooError):
    """A tag is already taken: releases are immutable, publish under a new tag."""


def ref(repo_id: str, revision: str | None) -> str:
    """`repo@revision`, the way messages name a release."""
    return f"{repo_id}@{revision or 'main'}"
