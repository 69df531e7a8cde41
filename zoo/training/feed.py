"""How a swap run's dataset feeds `fit()`: batch `step` of the run, as dicts keyed by identity, from any
global step on (so a resumed run sees the batches it would have seen). `StepBatches` is the loop's
step-indexed feed (`zoo.loop`) over such a dataset; `pooled_feed` is the trainer's, over a
`zoo.data.pool.BatchPool` of `batch_at` (batches made ahead by worker processes).
"""
from __future__ import annotations

import numpy as np

from zoo.loop import step_feed_class

__all__ = ["StepBatches", "batch_as_dicts", "batch_at", "pooled_feed"]


def pooled_feed(pool, identities, offset: int):
    """The run's batches from global step `offset` on, made by `pool` (a `BatchPool` over `batch_at`)."""
    identities = list(identities)
    return step_feed_class()(lambda step: batch_as_dicts(pool.get(step), identities), offset)


class StepBatches(step_feed_class()):
    """Infinite view of a dataset starting at a global step, as dicts keyed by identity."""

    def __init__(self, dataset, identities, offset: int, workers: int = 1,
                 use_multiprocessing: bool = False, max_queue_size: int = 10):
        self.dataset = dataset
        self.identities = list(identities)
        super().__init__(self._batch, offset, workers=workers, use_multiprocessing=use_multiprocessing,
                         max_queue_size=max_queue_size)

    def _batch(self, step: int):
        return batch_as_dicts(batch_at(self.dataset, step), self.identities)


def batch_at(dataset, step: int):
    """Batch number `step` of a run: epoch-aware datasets (`.epoch`, `len()`) are walked epoch by
    epoch, so a resumed run sees the same batches it would have seen without the interruption."""
    if hasattr(dataset, "epoch") and hasattr(dataset, "__len__"):
        import copy

        epoch, index = divmod(int(step), len(dataset))
        if dataset.epoch != epoch:
            view = copy.copy(dataset)  # shares the image cache; thread-safe per epoch
            view.epoch = epoch
            return view[index]
        return dataset[index]
    return dataset[step]


def batch_as_dicts(batch, identities):
    """(inputs per identity, targets+mask per identity) -> ({id: x}, {id: y})."""
    x, y = batch[0], batch[1]
    if isinstance(x, dict):
        return x, y
    return ({k: np.asarray(v) for k, v in zip(identities, x)},
            {k: np.asarray(v) for k, v in zip(identities, y)})
