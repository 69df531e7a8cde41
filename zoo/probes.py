"""Linear identity probes: closed-form ridge regression from a face, or its features, to one-hot identities.

One solver serves every probe in facezoo. `IdentityProbe` reads images as downsampled, standardised
pixels: the time-to-quality evidence's swap probe (`zoo.bench.scoring`). `FeatureProbe` reads feature
vectors as they are: pretraining's probe on pooled encoder features (`zoo.pretrain.ridge_probe`) and the
real-swap benchmark's. `IdentityProbe`'s source is on the evidence's hashed evaluation path
(`zoo.bench.evidence.evaluation_path`): editing it marks the committed results stale until they are rerun.
"""
from __future__ import annotations

import numpy as np

from zoo.errors import InputError

__all__ = ["FeatureProbe", "IdentityProbe"]


class IdentityProbe:
    """A two-class (or K-class) ridge classifier on downsampled, standardised pixels.

    Fitted on renders no arm trains on; `predict` returns class indices, `accuracy` the share right.
    """

    def __init__(self, l2: float = 10.0, pool: int = 2):
        self.l2 = float(l2)
        self.pool = int(pool)

    def _features(self, images) -> np.ndarray:
        x = np.asarray(images, np.float64)
        if x.max() > 1.5:
            x = x / 255.0
        n, h, w, c = x.shape
        p = self.pool
        if p > 1 and h % p == 0 and w % p == 0:
            x = x.reshape(n, h // p, p, w // p, p, c).mean(axis=(2, 4))
        return x.reshape(n, -1)

    def fit(self, images, labels) -> "IdentityProbe":
        a = self._features(images)
        self.mean, self.std = a.mean(0), a.std(0) + 1e-3
        a = (a - self.mean) / self.std
        labels = np.asarray(labels)
        self.classes = np.unique(labels)
        onehot = (labels[:, None] == self.classes[None]).astype(np.float64)
        self.offset = onehot.mean(0)
        onehot = onehot - self.offset
        n, d = a.shape
        if d <= n:
            self.w = np.linalg.solve(a.T @ a + self.l2 * np.eye(d), a.T @ onehot)
        else:  # dual form: fewer samples than features
            self.w = a.T @ np.linalg.solve(a @ a.T + self.l2 * np.eye(n), onehot)
        return self

    def predict(self, images) -> np.ndarray:
        b = (self._features(images) - self.mean) / self.std
        return self.classes[np.argmax(b @ self.w + self.offset, axis=1)]

    def accuracy(self, images, labels) -> float:
        return float(np.mean(self.predict(images) == np.asarray(labels)))


class FeatureProbe(IdentityProbe):
    """The same ridge probe on feature vectors (N, D), taken as they are: no pixel scaling, no pooling."""

    def __init__(self, l2: float = 1.0):
        super().__init__(l2=l2, pool=1)

    def _features(self, features) -> np.ndarray:
        x = np.asarray(features, np.float64)
        if x.ndim != 2:
            raise InputError(f"FeatureProbe takes feature vectors of shape (N, D). Received shape {x.shape}.")
        return x
