"""Global encoder pretraining: one shared encoder, thousands of identities, then an honest evaluation.

Two identity heads sit on the shared encoder + bottleneck ("inter"):

- "bank": one decoder per identity (faceswap's layout), every decoder run for every sample and the
  sample's own output selected. Cost per step grows with the number of identities: tens at most.
- "conditioned": one shared decoder modulated by a learned per-identity code (an embedding row, mapped
  by shared Dense layers to FiLM scale/shift at several decoder scales). Only the batch's rows are
  gathered, so compute per step does not grow with the identity count; the memory per identity is one
  embedding row plus its optimizer slots (`memory_per_identity`).

Both take inputs {"face": (B, S, S, 3) float32 [0, 1], "identity": (B, 1) int32} and output (B, S, S, 4):
RGB + mask, trained with `zoo.losses.FaceLoss` by `Pretrainer` (on `zoo.loop.ChunkedLoop`, the swap
trainer's loop: Keras `fit` in chunks, atomic checkpoints, exact resume, `callbacks=`). `--distribute data-parallel` uses `keras.distribution.DataParallel` on JAX
and `tf.distribute.MirroredStrategy` on TensorFlow (`distribution_scope`); across processes, see
`zoo.distribute`.

At the end, `evaluate_encoder` scores the frozen encoder on held-out identities: a transfer score
(fresh decoder per identity, masked SSIM on that identity's unseen images) and a linear identity probe
on pooled features.

Beside reconstruction, two optional objectives teach the encoder identity through heads that are not
released: `--teacher dlib` distils a teacher's embedding (`zoo.distil`), `--identity-loss arcface` names
each face's training identity with an additive angular margin (`zoo.pretrain.identity`).

The package, by job (every name is importable from `zoo.pretrain`):
    config.py        `PretrainConfig` (frozen) and the run folder's file names
    model.py         the pretraining model: heads (`zoo.layers.CodeFiLM`), `build_pretrain_model`, `find_encoder`,
                     `memory_per_identity`
    identity.py      the identity objective (`--identity-loss arcface`, `zoo.layers.ArcMargin`):
                     `parse_identity_loss`, `identity_card`, `IDENTITY_DIM`
    distribution.py  `distribution_scope`, `setup_virtual_devices`: data parallelism on JAX / TensorFlow
    trainer.py       `Pretrainer` (a `zoo.loop.ChunkedLoop`: compile, resume, data parallelism on top),
                     `read_state` (`zoo.runs.read_state`, the one reader for runs of either kind)
    evaluation.py    `evaluate_encoder` (transfer SSIM on held-out identities), `ridge_probe`
    release.py       `save_encoder`, `run_encoder_info` (the release metadata: `zoo.publishing.encoder_metadata`)
    job.py           `pretrain`, `resume_pretrain`: the whole job behind `facezoo pretrain` (corpus, model,
                     training, evaluation, release, RUN/pretrain.json), `open_pretrain_corpus`

Examples:
    >>> corpus = open_corpus("synthetic:10000")
    >>> model = build_pretrain_model(zoo.build_encoder("mobilenet-face", input_size=64), 10000)
    >>> trainer = Pretrainer(model, corpus.sampler(16, 64, holdout=100), "runs/pre", PretrainConfig())
    >>> trainer.train(1000)
    >>> evaluate_encoder(model.get_layer("mobilenet_face"), corpus, held_ids, 64, eval_steps=200)
    >>> result = pretrain(PretrainConfig(steps=1000), run_dir="runs/pre2", corpus_spec="synthetic:10000")
    >>> result = resume_pretrain("runs/pre2", steps=2000)       # the same run, continued
"""
from __future__ import annotations

from zoo.pretrain.config import (ALIGNED_CACHE, CHECKPOINTS, ENCODER, LOSSES, MODEL, OPTIMIZER, RESULT, STATE,
                                 PretrainConfig)
from zoo.pretrain.distribution import distribution_scope, setup_virtual_devices
from zoo.pretrain.evaluation import evaluate_encoder, ridge_probe
from zoo.pretrain.identity import IDENTITY_DIM, identity_card, parse_identity_loss
from zoo.pretrain.job import open_pretrain_corpus, pretrain, resume_pretrain
from zoo.pretrain.model import (HEADS, MAX_BANK, build_conditioned_decoder, build_pretrain_model, find_encoder,
                                memory_per_identity)
from zoo.pretrain.release import run_encoder_info, save_encoder
from zoo.pretrain.trainer import Pretrainer, read_state

__all__ = ["ALIGNED_CACHE", "CHECKPOINTS", "ENCODER", "HEADS", "IDENTITY_DIM", "LOSSES", "MAX_BANK", "MODEL", "OPTIMIZER", "RESULT",
           "STATE", "PretrainConfig", "Pretrainer", "build_conditioned_decoder", "build_pretrain_model",
           "distribution_scope", "evaluate_encoder", "find_encoder", "identity_card", "memory_per_identity", "open_pretrain_corpus",
           "parse_identity_loss", "pretrain", "read_state", "run_encoder_info", "resume_pretrain", "ridge_probe", "save_encoder",
           "setup_virtual_devices"]
