"""Deterministic training batches from a corpus, with held-out identities checked out of every batch.

`BatchSampler.batch(step)` is a pure function of (seed, step): `batch_size` identities drawn uniformly
from the training identities, one random aligned face of each, augmented into (warped input, target +
mask). `compact_batch(step)` is the same batch with its images in uint8 (what data workers hand over:
a quarter of the bytes), and `expand_batch` turns it into `batch(step)` exactly. `StreamSampler` serves
streaming (tar) corpora in order. `augment_faces` is the augmentation step on its own (the pretrainer's
evaluation uses it unaugmented). numpy and OpenCV only.
"""
from __future__ import annotations

import numpy as np

from zoo.data.corpora.faces import template_mask
from zoo.errors import DataError

__all__ = ["BatchSampler", "StreamSampler", "HeldOutIdentityError", "augment_faces", "expand_batch"]


class HeldOutIdentityError(DataError, AssertionError):
    """A held-out identity reached the training stream (a bug; never silently tolerated)."""


class BatchSampler:
    """Deterministic training batches: batch `step` is a pure function of (seed, step).

    Each batch draws `batch_size` identities uniformly from the training identities (so every identity
    is seen equally, whatever its image count) and one random face of each, augmented into a
    (warped input, target, mask) triple. Held-out identities are checked out of every batch.

    `batch(step)` -> (x float32 (B, S, S, 3), ids int32 (B,), y float32 (B, S, S, 4): RGB target + mask).
    `parallel`: whether any process may make any batch (`zoo.data.pool`); False for streaming corpora.
    """

    parallel = True

    def __init__(self, corpus, train_ids, held_ids, batch_size: int, size: int, *, seed: int = 0,
                 augment: bool = True, min_photos: int = 0, dropped: int = 0):
        self.corpus = corpus
        self.train_ids = np.asarray(train_ids, np.int64)
        self.held_ids = np.asarray(held_ids, np.int64)
        if np.intersect1d(self.train_ids, self.held_ids).size:
            raise HeldOutIdentityError("training and held-out identities overlap: "
                                       f"{np.intersect1d(self.train_ids, self.held_ids)[:5].tolist()}")
        if self.train_ids.size == 0:
            raise DataError(f"corpus {corpus.spec!r}: no training identities left.")
        self.batch_size = int(batch_size)
        self.size = int(size)
        self.seed = int(seed)
        self.augment = bool(augment)
        self.min_photos = int(min_photos or 0)   # identities with fewer photos were left out (`dropped`)
        self.dropped = int(dropped)
        self.drawn = 0
        if self.batch_size < 1:
            raise DataError(f"batch size must be >= 1. Received: {batch_size}")

    def check(self, ids) -> None:
        """Raise `HeldOutIdentityError` if any of `ids` is held out."""
        ids = np.asarray(ids)
        if self.held_ids.size and np.isin(ids, self.held_ids).any():
            bad = ids[np.isin(ids, self.held_ids)][:5].tolist()
            raise HeldOutIdentityError(f"held-out identities {bad} reached the training stream")

    def _faces(self, step: int, rng):
        ids = self.train_ids[rng.integers(0, self.train_ids.size, self.batch_size)]
        return ids, self.corpus.draw(ids, rng, self.size)

    def batch(self, step: int):
        return expand_batch(self.compact_batch(step))

    def compact_batch(self, step: int):
        """`batch(step)` with x and y in uint8 when augmented (`expand_batch` gives `batch(step)`)."""
        rng = np.random.default_rng([self.seed, int(step)])
        ids, faces = self._faces(int(step), rng)
        self.check(ids)
        self.drawn += len(ids)
        x, y = augment_faces(faces, rng, self.size, self.augment, compact=True)
        return x, ids.astype(np.int32), y

    def describe(self) -> dict:
        out = {"train_identities": int(self.train_ids.size), "held_out_identities": int(self.held_ids.size),
               "batch_size": self.batch_size, "size": self.size, "seed": self.seed}
        if self.min_photos:
            out.update(min_photos=self.min_photos, dropped_identities=self.dropped)
        return out


class StreamSampler(BatchSampler):
    """The sampler of streaming (tar) corpora: batches must be asked for in order (a resume skips)."""

    parallel = False

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._stream = None
        self._next = None

    def _faces(self, step, rng):
        if self._stream is None or step != self._next:
            self._stream = self.corpus.stream_batches(self.batch_size, self.size, self.train_ids, self.seed,
                                                      start_step=step)
        ids, faces = next(self._stream)
        self._next = step + 1
        return ids, faces


def augment_faces(faces: np.ndarray, rng: np.random.Generator, size: int, augment: bool = True, *,
                  compact: bool = False):
    """Aligned uint8 faces (B, S, S, 3) -> (warped x (B, S, S, 3), y = target + mask (B, S, S, 4)), float32
    in [0, 1]; with `compact` and `augment`, uint8 0..255 instead (the same values times 255)."""
    from zoo.data.augment import _to_uint8, augment_into

    mask = template_mask(size)
    n = len(faces)
    if not augment:
        x = np.empty((n, size, size, 3), np.float32)
        y = np.empty((n, size, size, 4), np.float32)
        for k in range(n):
            x[k] = y[k, ..., :3] = faces[k].astype(np.float32) / 255.0
            y[k, ..., 3:] = mask[..., None]
        return x, y
    mask = _to_uint8(mask)  # once per batch, as augment_into would read it per face
    x = np.empty((n, size, size, 3), np.uint8)
    y = np.empty((n, size, size, 4), np.uint8)
    for k in range(n):
        augment_into(faces[k], mask, rng, size, out_x=x[k], out_y=y[k])
    return (x, y) if compact else expand_batch((x, y))


def expand_batch(batch):
    """A batch with uint8 images (`compact_batch`, `augment_faces(compact=True)`) -> the same batch with
    every uint8 array scaled to float32 in [0, 1] (x 1/255, exactly as `augment_pair` scales); other
    arrays (identities, teacher targets, float images) pass through."""
    scale = np.float32(1 / 255)
    return tuple(np.multiply(a, scale, dtype=np.float32) if isinstance(a, np.ndarray) and a.dtype == np.uint8
                 else a for a in batch)
