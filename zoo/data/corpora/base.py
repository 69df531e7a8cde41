"""`Corpus`: identities and their aligned faces, the interface every pretraining corpus implements.

A corpus is a sorted list of identities (numerically when every id is an integer, else by name; an
identity's index is its position), a way to read aligned faces of one identity (`faces`) or one random
face each of many (`draw`), a held-out split (the last K identities), and `sampler(...)`, the
deterministic batch sampler of `zoo.data.sampler`. The kinds live beside it (`synthetic`, `files`,
`tar`); `zoo.data.corpus.open_corpus` opens one from its spec.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from zoo.data.sampler import BatchSampler
from zoo.errors import DataError

__all__ = ["Corpus", "SPEC_FORMS", "sort_ids"]

SPEC_FORMS = ("synthetic:N[:seed=S]", "folder:ROOT", "celeba:ROOT", "flat:ROOT", "utkface:ROOT", "tar:PATTERN",
              "lfw:ROOT[:split=devtrain|devtest|all][:people=N]", "ROOT")


def sort_ids(names) -> list[str]:
    names = list(dict.fromkeys(str(n) for n in names))
    if names and all(re.fullmatch(r"-?\d+", n) for n in names):
        return sorted(names, key=int)
    return sorted(names)


class Corpus:
    """Identities and their aligned faces.

    Attributes:
        identities: identity ids, sorted (see the module doc); an identity's index is its position.
        aligned: True when faces are aligned to facezoo's template (or can be, like synthetic).
        kind: "synthetic", "folder", "celeba", "flat" or "tar" (a name for people and cards: code asks
            the capabilities below, never the kind).
        face_select: which face of a photo is the corpus' face ("largest", or "centre" where photos are
            centred on their person, as LFW's are).
        shared_alignment: one alignment cache serves every run over this photo set ($FACEZOO_HOME), not
            one per run folder: the set is fixed and public.
        verification_root: the root of a verification protocol these photos come with (LFW View 1),
            scored after pretraining unless the user says otherwise; None when there is none.
    """

    kind = "corpus"
    aligned = True
    streaming = False
    face_select = "largest"
    shared_alignment = False
    verification_root = None
    source_root = None         # the photos' root as the spec named it (set by `open_corpus`)

    def __init__(self, identities, spec: str):
        self.identities = list(identities)
        self.spec = spec
        if not self.identities:
            raise DataError(f"corpus {spec!r} has no identities (no images found). Accepted specs: "
                            f"{', '.join(SPEC_FORMS)}.")

    def __len__(self) -> int:
        return len(self.identities)

    @property
    def num_identities(self) -> int:
        return len(self.identities)

    def image_count(self) -> int | None:
        return None

    def resolution(self) -> int | None:
        return None

    def summary(self) -> dict:
        """Facts for a release's `facezoo.json`: name, kind, identity and image counts, resolution and a
        content hash (`content_sha256`). Never a local path: the spec (`lfw:/home/me/lfw`) stays in the run
        folder, which is the publisher's own; a release says what the data was, not where it lay."""
        return {"name": self.name, "kind": self.kind, "identities": self.num_identities,
                "images": self.image_count(), "resolution": self.resolution(), "aligned": self.aligned,
                "content_sha256": self.content_sha256()}

    def content_lines(self):
        """What the corpus holds, one line each, free of where it lies (hashed by `content_sha256`); a
        kind with files lists them (`FileCorpus`), the base lists its identities."""
        return iter(self.identities)

    def content_sha256(self) -> str:
        """sha256 of `content_lines()`: two copies of the same photos in different folders hash alike."""
        import hashlib

        h = hashlib.sha256()
        for line in self.content_lines():
            h.update(str(line).encode("utf-8", "surrogateescape") + b"\n")
        return h.hexdigest()

    @property
    def name(self) -> str:
        return f"{self.kind}:{Path(str(self.spec).split(':', 1)[-1]).name or self.spec}"

    def split(self, holdout: int) -> tuple[np.ndarray, np.ndarray]:
        """(training identity indices, held-out indices): the last `holdout` identities are held out."""
        n, k = self.num_identities, int(holdout or 0)
        if k < 0 or k >= n:
            raise DataError(f"--holdout {k} must leave at least one training identity: corpus {self.spec!r} "
                            f"has {n} identities.")
        return np.arange(0, n - k, dtype=np.int64), np.arange(n - k, n, dtype=np.int64)

    def faces(self, identity: int, count: int, size: int) -> np.ndarray:
        """The first `count` aligned faces of identity index `identity`, uint8 (n <= count, size, size, 3)."""
        raise NotImplementedError

    def draw(self, ids: np.ndarray, rng: np.random.Generator, size: int) -> np.ndarray:
        """One random aligned face of each identity index in `ids`: uint8 (B, size, size, 3)."""
        raise NotImplementedError

    def photo_counts(self) -> np.ndarray | None:
        """Photos of each identity index (int64 (N,)), or None where they are unbounded (synthetic)."""
        return None

    def with_min_photos(self, train_ids, min_photos: int) -> np.ndarray:
        """The identity indices of `train_ids` with at least `min_photos` photos (all of them for 0 or 1,
        or where photos are unbounded); a `DataError` naming --min-photos when none is left."""
        train = np.asarray(train_ids, np.int64)
        k = int(min_photos or 0)
        counts = self.photo_counts()
        if k <= 1 or counts is None:
            return train
        kept = train[counts[train] >= k]
        if kept.size == 0:
            raise DataError(f"--min-photos {k} leaves no training identity: corpus {self.spec!r} has "
                            f"{train.size} training identities, the largest with {int(counts[train].max())} "
                            "photos. Lower --min-photos.")
        return kept

    def sampler(self, batch_size: int, size: int, *, holdout: int = 0, seed: int = 0, augment: bool = True,
                train_ids=None, min_photos: int = 0) -> BatchSampler:
        """The deterministic batch sampler over the training identities (`train_ids`, default all but the
        last `holdout`), keeping only those with at least `min_photos` photos; held-out ones as they are."""
        train, held = self.split(holdout)
        if train_ids is not None:
            train = np.asarray(train_ids, np.int64)
        kept = self.with_min_photos(train, min_photos)
        return BatchSampler(self, kept, held, batch_size, size, seed=seed, augment=augment,
                            min_photos=min_photos, dropped=train.size - kept.size)
