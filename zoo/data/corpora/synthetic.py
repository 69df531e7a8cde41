"""`synthetic:N[:seed=S]`: the procedural generator as a corpus, streamed, never written to disk.

Faces are rendered on demand and aligned with the generator's ground-truth landmarks (no detector).
Training draws use image indices >= 1024; `faces` (evaluation) uses 0..1023, so the two never meet.
"""
from __future__ import annotations

import numpy as np

from zoo.data.corpora.base import Corpus
from zoo.data.corpora.faces import aligned_landmarks

__all__ = ["SyntheticCorpus"]


class SyntheticCorpus(Corpus):
    """`synthetic:N`: the procedural generator, streamed, aligned with its ground-truth landmarks."""

    kind = "synthetic"

    def __init__(self, num_identities: int, seed: int = 0, spec: str | None = None):
        from zoo.data.synthetic import identity_name
        self.num = int(num_identities)
        self.seed = int(seed)
        self._gens = {}
        self._names = identity_name
        super().__init__(_LazyNames(self.num, identity_name), spec or f"synthetic:{self.num}")

    @property
    def name(self) -> str:
        return f"facezoo-synthetic-{self.num}"

    def _gen(self, size: int):
        render = max(64, int(size))
        if render not in self._gens:
            from zoo.data.synthetic import SyntheticFaces
            self._gens[render] = SyntheticFaces(self.num, size=render, seed=self.seed)
        return self._gens[render]

    def _render_aligned(self, ids, indices, size: int) -> np.ndarray:
        import cv2

        from zoo.data.align import estimate_similarity
        images, truths = self._gen(size).batch(np.asarray(ids), np.asarray(indices))
        dst = aligned_landmarks(size)
        out = np.empty((len(images), size, size, 3), np.uint8)
        for k, (image, pts) in enumerate(zip(images, truths["landmarks"])):
            matrix = estimate_similarity(pts, dst)
            out[k] = cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_AREA,
                                    borderMode=cv2.BORDER_REFLECT_101)
        return out

    def faces(self, identity, count, size):
        return self._render_aligned(np.full(count, identity), np.arange(count), size)

    def draw(self, ids, rng, size):
        # Training images come from indices >= 1024; evaluation uses 0..1023 (`faces`).
        return self._render_aligned(ids, rng.integers(1024, 2 ** 31 - 1, len(ids)), size)

    def image_count(self):
        return None  # unbounded

    def resolution(self):
        return None

    def summary(self):
        return {**super().summary(), "images": "unbounded (rendered on the fly)", "seed": self.seed}

    def content_lines(self):
        """The generator's identity count and seed say every face it renders."""
        yield f"synthetic\t{self.num}\t{self.seed}"


class _LazyNames:
    """A read-only list of `fn(i)` for i < n, without building n strings up front."""

    def __init__(self, n, fn):
        self.n, self.fn = n, fn

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self.fn(j) for j in range(*i.indices(self.n))]
        if i < 0:
            i += self.n
        if not 0 <= i < self.n:
            raise IndexError(i)
        return self.fn(i)

    def __iter__(self):
        return (self.fn(i) for i in range(self.n))
