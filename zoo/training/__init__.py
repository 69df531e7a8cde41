"""The swap trainer: `model.fit` in chunks, with stages, checkpoints, previews and logs.

Training runs through Keras' own `fit()`, one call per stage, so every backend's compiled step is
used as is. The chunked loop (step counter, losses.csv, checkpoints, resume, TensorBoard, `callbacks=`)
is `zoo.loop.ChunkedLoop`, the pretrainer's too; `SwapTrainer` adds the stages: between them the
encoder's `trainable` flags change, the model is recompiled with a fresh optimizer, and the optimizer
state of variables that were already training is carried over (see `zoo.optim`); or, on short runs,
the model is compiled once and stages are switched by variables (`switch.py`). After each chunk a
stage ends at its step or when the plateau trigger fires, and previews are written.

`train_pair` builds a run (the encoder is loaded once; its spec and release travel on the model, see
`zoo.encoder_info`); `resume_pair` continues one from its folder alone, data stream included.

The package, by job (every name is importable from `zoo.training`):
    config.py     `TrainConfig` (frozen), `resolve_jit`
    trainer.py    `SwapTrainer` (a `zoo.loop.ChunkedLoop`): stages, previews, resume
    feed.py       `StepBatches` (the loop's step feed), `batch_at`, `batch_as_dicts`: the dataset from any step
    batchnorm.py  `recalibrate_batchnorm`: BatchNorm statistics brought up to date before a save
    encoders.py   `prepare_encoder`, `resize_encoder`: the run's encoder at the run's size
    pair.py       `train_pair`, `pair_dataset`, `resume_pair`: a run for one pair, built or resumed
    switch.py     `StageSwitch`, `choose_switch`: stage changes without a recompile (learning-rate scales and
                  BatchNorm mode flags as variables)
"""
from __future__ import annotations

from zoo.training.batchnorm import CALIBRATION_PIXELS, recalibrate_batchnorm
from zoo.training.config import TrainConfig, resolve_jit
from zoo.training.encoders import prepare_encoder, resize_encoder
from zoo.training.feed import StepBatches, batch_as_dicts, batch_at
from zoo.training.pair import pair_dataset, resume_pair, train_pair
from zoo.training.switch import StageSwitch, choose_switch
from zoo.training.trainer import SwapTrainer

__all__ = ["CALIBRATION_PIXELS", "StageSwitch", "StepBatches", "SwapTrainer", "TrainConfig", "batch_as_dicts",
           "batch_at", "choose_switch", "pair_dataset", "prepare_encoder", "recalibrate_batchnorm", "resize_encoder",
           "resolve_jit", "resume_pair", "train_pair"]
