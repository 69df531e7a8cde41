"""How a swap run's dataset feeds `fit()`: batch `step` of the run, as dicts keyed by identity, from any
global step on (so a resumed run sees the batches it would have seen).
"""
from __future__ import annotations

import keras
import numpy as np

__all__ = ["StepBatches", "batch_as_dicts", "batch_at"]


class StepBatches(keras.utils.PyDataset):
    """Infinite view of a dataset starting at a global step, as dicts keyed by identity."""

    def __init__(self, dataset, identities, offset: int, workers: int = 1,
                 use_multiprocessing: bool = False, max_queue_size: int = 10):
        super().__init__(workers=workers, use_multiprocessing=use_multiprocessing,
                         max_queue_size=max_queue_size)
        self.dataset = dataset
        self.identities = list(identities)
        self.offset = int(offset)

    @property
    def num_batches(self):
        return None

    def __getitem__(self, index):
        return batch_as_dicts(batch_at(self.dataset, self.offset + index), self.identities)


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
