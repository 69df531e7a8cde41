"""The one chunked loop (`zoo.loop`) under both trainers: the caller's callbacks, the one checkpoint writer
and state reader. Tiny models, a few steps."""
import csv
import json

import numpy as np
import pytest

SIZE = 32


class RandomPairs:
    def __getitem__(self, i):
        rng = np.random.default_rng(i)
        x = tuple(rng.random((2, SIZE, SIZE, 3), dtype=np.float32) for _ in range(2))
        y = tuple(np.concatenate([a, np.ones(a.shape[:3] + (1,), np.float32)], -1) for a in x)
        return x, y


def _swap_trainer(run_dir, callbacks):
    import zoo
    from zoo.training import SwapTrainer, TrainConfig

    enc = zoo.build_encoder("mobilenet-face", input_size=SIZE)
    model = zoo.build_swap_model(enc, ["a", "b"], decoder_width=16, inter_channels=32, bottleneck=32)
    return SwapTrainer(model, "frozen", RandomPairs(), run_dir,
                       TrainConfig(steps=3, chunk=1, checkpoint_every=2, preview_every=100, tensorboard=False,
                                   calibrate_batchnorm=False), callbacks=callbacks)


def _pretrainer(run_dir, callbacks):
    import zoo
    from zoo.data.corpus import open_corpus
    from zoo.pretrain import PretrainConfig, Pretrainer, build_pretrain_model

    corpus = open_corpus("synthetic:12")
    config = PretrainConfig(steps=3, batch_size=2, size=SIZE, chunk=1, checkpoint_every=2, decoder_width=16,
                            bottleneck=32, inter_channels=32)
    encoder = zoo.build_encoder("mobilenet-face", input_size=SIZE)
    return Pretrainer.create(lambda: build_pretrain_model(encoder, 10, size=SIZE, decoder_width=16, bottleneck=32,
                                                          inter_channels=32),
                             corpus.sampler(2, SIZE, holdout=2), run_dir, config, callbacks=callbacks)


@pytest.mark.parametrize("kind", ["swap", "pretrain"])
def test_callbacks_run_and_checkpoints_go_through_the_one_writer(kind, tmp_path, monkeypatch):
    """A callback passed with `callbacks=` sees every step and chunk; checkpoints of either kind of run go
    through `zoo.runs.write_checkpoint_dir`, and `zoo.runs.read_state` reads the run back."""
    import keras

    from zoo import runs
    from zoo.loop import ChunkedLoop

    class Recorder(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.batches, self.epochs = 0, []

        def on_train_batch_end(self, batch, logs=None):
            self.batches += 1

        def on_epoch_end(self, epoch, logs=None):
            self.epochs.append(float(logs["loss"]))

    written = []
    real_writer = runs.write_checkpoint_dir

    def writer(run_dir, step, model, state, *, keep=1):
        written.append((str(run_dir), step))
        return real_writer(run_dir, step, model, state, keep=keep)

    monkeypatch.setattr(runs, "write_checkpoint_dir", writer)
    recorder = Recorder()
    run = tmp_path / "run"
    trainer = (_swap_trainer if kind == "swap" else _pretrainer)(run, [recorder])
    assert isinstance(trainer, ChunkedLoop) and trainer.callbacks == [recorder]
    trainer.train(3)

    assert recorder.batches == 3 and len(recorder.epochs) == 3 and all(np.isfinite(recorder.epochs))
    assert written == [(str(run), 2), (str(run), 3)]          # periodic (every 2 steps) and closing
    state = runs.read_state(run)
    assert state["step"] == 3 and state["checkpoint"] == "checkpoints/step-00000003"
    assert state["config"]["steps"] == 3 and state["config"]["checkpoint_every"] == 2
    assert json.loads((run / state["checkpoint"] / runs.STATE).read_text())["step"] == 3
    assert {p.name for p in (run / runs.CHECKPOINTS).iterdir()} == {"step-00000003"}   # keep_checkpoints=1
    with open(run / runs.LOSSES, newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0][:2] == ["step", "loss"] and rows[0][-1] == "time"
    assert [int(r[0]) for r in rows[1:]] == [1, 2, 3]
    assert [float(r[1]) for r in rows[1:]] == pytest.approx(recorder.epochs, abs=1e-6)


def test_one_state_reader_for_both_kinds(tmp_path):
    """`zoo.pretrain.read_state` and `zoo.runs.read_state` read a run's state.json alike, and a folder
    without a run says so by name, for either kind."""
    from zoo import pretrain, runs
    from zoo.errors import FacezooError, MissingFileError

    for reader in (pretrain.read_state, runs.read_state):
        with pytest.raises(MissingFileError, match="nothing to resume") as info:
            reader(tmp_path)
        assert isinstance(info.value, FacezooError) and str(tmp_path) in str(info.value)
    state = {"step": 3, "checkpoint": "checkpoints/step-00000003", "meta": {"corpus_spec": "synthetic:4"}}
    (tmp_path / runs.STATE).write_text(json.dumps(state))
    assert pretrain.read_state(tmp_path) == runs.read_state(tmp_path) == state
    assert runs.checkpoint_dir(tmp_path) == tmp_path / "checkpoints" / "step-00000003"


def test_loop_config_is_the_base_of_both_configs():
    """The loop's knobs are one dataclass; each trainer keeps its own defaults and field names."""
    import dataclasses

    from zoo.loop import LoopConfig
    from zoo.pretrain import PretrainConfig
    from zoo.training import TrainConfig

    loop_fields = {f.name for f in dataclasses.fields(LoopConfig)}
    assert loop_fields <= {f.name for f in dataclasses.fields(TrainConfig)}
    assert loop_fields <= {f.name for f in dataclasses.fields(PretrainConfig)}
    assert (TrainConfig().checkpoint_every, PretrainConfig().checkpoint_every) == (200, 100)
    assert (TrainConfig().tensorboard, PretrainConfig().tensorboard) == (True, False)
    saved = {"config": {**PretrainConfig(chunk=5).to_dict(), "from_a_newer_version": 1}}
    assert PretrainConfig.from_state(saved, steps=7) == PretrainConfig(chunk=5, steps=7)
    assert TrainConfig.from_state({"config": {"chunk": 3}}) == TrainConfig(chunk=3)


@pytest.mark.parametrize("kind", ["swap", "pretrain"])
def test_both_trainers_compile_through_the_one_compile_step(kind, tmp_path, monkeypatch):
    """Pretraining and swap training compile through `zoo.compiling.compile_for_training` alone, and the
    optimizer and loss follow the config's values (clipping on for swaps, off for pretraining as the
    releases were trained; the loss's reconstruction term is the config's)."""
    import dataclasses

    from zoo import compiling
    from zoo.optim import ScaledAdamW

    calls = []
    real = compiling.compile_for_training

    def counted(model, config, **kwargs):
        calls.append(config)
        return real(model, config, **kwargs)

    monkeypatch.setattr(compiling, "compile_for_training", counted)
    trainer = (_swap_trainer if kind == "swap" else _pretrainer)(tmp_path / "run", callbacks=None)
    if kind == "swap":
        trainer._compile_for_stage()
    assert len(calls) == 1
    optimizer = trainer.model.optimizer
    assert isinstance(optimizer, ScaledAdamW)
    assert optimizer.clipnorm == (1.0 if kind == "swap" else None)
    loss = trainer.model.loss["a"] if kind == "swap" else trainer.model.loss
    assert loss.recon == "mae"
    # another value in the config reaches the compiled model through the same step
    changed = dataclasses.replace(trainer.config, recon="mse", clipnorm=0.5)
    real(trainer.model, changed, loss=compiling.face_loss(changed, SIZE))
    assert trainer.model.optimizer.clipnorm == 0.5 and trainer.model.loss.recon == "mse"
