"""Swap training with staged unfreezing: real Keras training, tiny models, TF and JAX backends."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import zoo
from zoo.errors import ScheduleError
from zoo.schedule import FreezeSchedule, Plateau

from _support import SIZE, RandomPairs, _changed, _values, face_folders

REPO = Path(__file__).resolve().parents[1]
@pytest.mark.parametrize("switch", ["recompile", "switch"])
def test_staged_unfreezing(tmp_path, switch):
    """frozen -> top2 -> all: encoder bit-identical while frozen, then only the top blocks move,
    frozen BatchNorm statistics never move, and optimizer state survives each stage change, both
    when every change recompiles and under the stage switch (one compile, zoo.training.switch)."""
    import keras

    from zoo.blocks import encoder_blocks
    from zoo.training import SwapTrainer, TrainConfig

    if switch == "switch" and keras.backend.backend() == "jax":  # JAX keeps the switch's values compiled in
        from zoo.errors import InputError
        from zoo.training import choose_switch
        with pytest.raises(InputError, match="does not work on JAX"):
            choose_switch("switch", FreezeSchedule.parse("frozen; top2@3; all@6"), 8)
        assert choose_switch("auto", FreezeSchedule.parse("frozen; top2@3; all@6"), 8) == "recompile"
        return
    enc = zoo.build_encoder("mobilenet-face", input_size=SIZE)
    model = zoo.build_swap_model(enc, ["a", "b"], decoder_width=16, inter_channels=32, bottleneck=32)
    blocks = encoder_blocks(enc)
    top_paths = {w.path for _, layers in blocks[-2:] for layer in layers for w in layer.weights}
    low_paths = {w.path for _, layers in blocks[:-2] for layer in layers for w in layer.weights}
    bn_low = {w.path for _, layers in blocks[:-2] for layer in layers for w in layer.non_trainable_weights
              if "moving" in w.path}
    assert top_paths and low_paths and bn_low
    dec_paths = {w.path for w in model.decoders["a"].weights}

    trainer = SwapTrainer(model, "frozen; top2@3; all@6", RandomPairs(), tmp_path / "run",
                          TrainConfig(steps=3, chunk=1, checkpoint_every=100, preview_every=100,
                                      tensorboard=False, learning_rate=1e-3, calibrate_batchnorm=False,
                                      stage_switch=switch))
    w0 = _values(enc.weights)
    d0 = _values(model.decoders["a"].weights)
    trainer.train(3)
    w1 = _values(enc.weights)
    assert not _changed(w0, w1, w0), "a frozen encoder must stay bit-identical"
    assert _changed(d0, _values(model.decoders["a"].weights), dec_paths), "decoders must train"

    trainer.train(6)
    w2 = _values(enc.weights)
    assert [(h["trainable"], h["step"]) for h in trainer.history][:2] == [("none", 0), ("top2", 3)]
    moved = _changed(w1, w2, w1)
    assert moved & top_paths, "after unfreezing, the top blocks must train (recompile missing?)"
    assert not (moved & low_paths), f"lower blocks moved: {sorted(moved & low_paths)[:5]}"
    assert not (moved & bn_low), "frozen BatchNorm statistics moved"
    iterations = int(np.asarray(model.optimizer.iterations))
    assert iterations == 6, "the iteration count is carried across the recompile"

    trainer.train(8)
    w3 = _values(enc.weights)
    assert str(trainer.stage.trainable) == "all"
    assert _changed(w2, w3, w2) & low_paths, "'all' trains the lower blocks too"
    state = json.loads((tmp_path / "run" / "state.json").read_text())
    assert state["step"] == 8
    assert [h["trainable"] for h in state["stage_history"]] == ["none", "top2", "all"]
    assert [h["step"] for h in state["stage_history"]] == [0, 3, 6]
    assert (tmp_path / "run" / "loss.png").exists()
    assert list((tmp_path / "run" / "previews").glob("*.png"))


def test_optimizer_moments_carried_over(tmp_path):
    """Slots of variables that were already training are copied into the fresh optimizer."""
    import keras

    from zoo.training import SwapTrainer, TrainConfig

    enc = zoo.build_encoder("mobilenet-face", input_size=SIZE)
    model = zoo.build_swap_model(enc, ["a", "b"], decoder_width=16, inter_channels=32, bottleneck=32)
    trainer = SwapTrainer(model, "frozen; all@50", RandomPairs(), tmp_path / "run",
                          TrainConfig(steps=2, chunk=1, tensorboard=False, stage_switch="recompile"))
    trainer.train(2)
    from zoo.optim import optimizer_state
    before = optimizer_state(model, model.optimizer)
    trainer._enter_stage(1, "test")
    trainer._compile_for_stage()
    after = optimizer_state(model, model.optimizer)
    shared = [k for k in before if k != "iterations"]
    assert shared and all(np.array_equal(before[k], after[k]) for k in shared)
    assert len(after) > len(before), "new encoder slots were added"
    assert int(keras.ops.convert_to_numpy(model.optimizer.iterations)) == 2


def test_plateau_trigger_fires_on_plateau_not_before():
    p = Plateau(window=20, threshold=0.01)
    falling = list(np.linspace(1.0, 0.2, 200))
    assert not any(p.fired(falling[:n]) for n in range(1, 201)), "steadily improving: never fires"
    flat = falling + [0.2] * 60
    fired_at = next(n for n in range(1, len(flat) + 1) if p.fired(flat[:n]))
    assert 200 < fired_at <= 240, fired_at
    assert not p.fired([1.0] * 39), "needs two full windows first"


@pytest.mark.parametrize("text,needle", [
    ("frozen; top2@500; all@400", "overlaps"),
    ("frozen; topx@plateau", "Unknown stage"),
    ("frozen; all", "needs a start"),
    ("frozen; all@plateau(window=1)", "window"),
    ("frozen; all@plateau(speed=3)", "Unknown plateau option"),
])
def test_bad_schedule_strings(text, needle):
    with pytest.raises(ScheduleError, match=needle):
        FreezeSchedule.parse(text)


def test_schedule_round_trip_and_toml(tmp_path):
    s = FreezeSchedule.parse("frozen; top3@2000:lr=0.1; all@plateau(window=30,threshold=0.02):lr=0.5")
    assert FreezeSchedule.parse(s.to_string()) == s
    toml = tmp_path / "s.toml"
    toml.write_text('[[stage]]\ntrainable = "none"\n[[stage]]\ntrainable = "top3"\nstart = 2000\nlr = 0.1\n'
                    '[[stage]]\ntrainable = "all"\nstart = "plateau"\nwindow = 30\nthreshold = 0.02\nlr = 0.5\n')
    assert FreezeSchedule.from_toml(toml) == s


def test_schedule_validated_against_encoder_before_training(tmp_path):
    from zoo.training import SwapTrainer

    enc = zoo.build_encoder("mobilenet-face", input_size=SIZE)
    model = zoo.build_swap_model(enc, ["a", "b"], decoder_width=16, inter_channels=32, bottleneck=32)
    with pytest.raises(ScheduleError, match="has 11 blocks"):
        SwapTrainer(model, "frozen; top40@10", RandomPairs(), tmp_path / "r1")
    with pytest.raises(ScheduleError, match="matches no layer"):
        SwapTrainer(model, "frozen; pattern:nothing_*@10", RandomPairs(), tmp_path / "r2")
    assert not (tmp_path / "r1" / "state.json").exists()


def test_cli_kill_then_resume(tmp_path):
    """kill -9 mid-training, then --resume: continues from the last checkpoint's step, loads cleanly."""
    folders = face_folders(tmp_path / "faces")
    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "recipes.train_swap", "--encoder", "mobilenet-face", "--encoder-weights",
           "none", "--a", str(folders["a"]), "--b", str(folders["b"]), "--run", str(run), "--size", "32",
           "--batch-size", "2", "--decoder-width", "16", "--schedule", "frozen; all@4", "--log-every", "1",
           "--checkpoint-every", "2", "--preview-every", "100", "--steps", "400"]
    # Driven by events, not a deadline: every line the run prints (one per step, --log-every 1) is the
    # moment to look at state.json; the run's own end (EOF) before a step-6 checkpoint is the failure.
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    printed = []
    try:
        for line in proc.stdout:
            printed.append(line.decode(errors="replace"))
            state = run / "state.json"
            if state.exists() and json.loads(state.read_text())["step"] >= 6:
                break
        else:
            pytest.fail("the run ended before a checkpoint at step 6:\n" + "".join(printed)[-3000:])
    finally:
        proc.kill()
        proc.wait()
    saved = json.loads((run / "state.json").read_text())
    model = zoo.load_run(run)  # the checkpoint state.json names is complete
    assert model.identities == ["a", "b"]
    target = saved["step"] + 2
    out = subprocess.run(cmd[:cmd.index("--steps")] + ["--steps", str(target), "--resume"], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=1800)   # a hang guard, not a speed test
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
    final = json.loads((run / "state.json").read_text())
    assert final["step"] == target
    assert final["stage_history"][:len(saved["stage_history"])] == saved["stage_history"]
    assert not list((run / "checkpoints").glob(".step-*")), "no half-written checkpoint remains"


def test_cli_bad_schedule_fails_before_step_zero(tmp_path):
    folders = face_folders(tmp_path / "faces", images=2)
    out = subprocess.run(
        [sys.executable, "-m", "recipes.cli", "train", "--encoder", "mobilenet-face", "--encoder-weights", "none",
         "--a", str(folders["a"]), "--b", str(folders["b"]), "--run", str(tmp_path / "run"), "--size", "32",
         "--schedule", "frozen; top99@plateau"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 2
    assert "top 99 blocks" in out.stderr and "Traceback" not in out.stderr
    assert not (tmp_path / "run" / "state.json").exists()


@pytest.mark.jax
def test_staged_unfreezing_on_jax():
    """The same staged-unfreezing test, on the JAX backend."""
    pytest.importorskip("jax", reason="the JAX backend is not installed")
    env = {**os.environ, "KERAS_BACKEND": "jax"}
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          f"{__file__}::test_staged_unfreezing"], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout[-4000:]


def test_batchnorm_recalibration_matches_training_mode():
    """After recalibration, inference uses the statistics training sees (a lagging moving average
    once made every trained arm of the time-to-quality benchmark score far below the frozen one)."""
    import keras

    from zoo.training import recalibrate_batchnorm

    enc = zoo.build_encoder("mobilenet-face", input_size=SIZE)  # no dropout: training output is deterministic
    x = np.random.default_rng(0).random((8, SIZE, SIZE, 3), dtype=np.float32)
    train_out = keras.ops.convert_to_numpy(enc(x, training=True))
    before = keras.ops.convert_to_numpy(enc(x, training=False))
    assert not np.allclose(before, train_out, atol=1e-2)
    assert recalibrate_batchnorm(enc, [x]) > 10
    after = keras.ops.convert_to_numpy(enc(x, training=False))
    np.testing.assert_allclose(after, train_out, atol=2e-2, rtol=2e-2)
    enc.trainable = False
    assert recalibrate_batchnorm(enc, [x]) == 0, "frozen BatchNorm layers are never touched"


def test_resume_rebuilds_the_data_stream_from_the_run_folder(tmp_path, capsys):
    """Bug: `facezoo train --resume` rebuilt the data from the command line's --batch-size/--seed (defaults
    8 and 0) instead of the run's, so the resumed run silently saw other batches."""
    from recipes.cli import main
    from zoo.training import TrainConfig, resume_pair, train_pair

    folders = face_folders(tmp_path / "faces", images=4)
    run = tmp_path / "run"
    train_pair(encoder="mobilenet-face", pretrained=False, folders=folders, run_dir=run, schedule="frozen",
               size=SIZE, batch_size=3, seed=5, decoder_width=16,
               config=TrainConfig(steps=1, chunk=1, checkpoint_every=1, preview_every=100, tensorboard=False,
                                  calibrate_batchnorm=False))
    code = main(["train", "--run", str(run), "--resume", "--steps", "3", "--batch-size", "8"])
    err = capsys.readouterr().err
    assert code == 2 and "batch_size=3" in err and "--batch-size 8" in err and "Traceback" not in err
    assert main(["train", "--run", str(run), "--resume", "--steps", "3", "--seed", "0"]) == 2
    assert "seed=5" in capsys.readouterr().err
    trainer = resume_pair(run, steps=3)  # resumed training itself: test_cli_kill_then_resume
    assert (trainer.dataset.batch_size, trainer.dataset.seed, trainer.dataset.size) == (3, 5, SIZE)
    assert (trainer.step, trainer.config.steps) == (1, 3)


def test_truncate_losses_drops_steps_past_the_checkpoint(tmp_path):
    """A run killed after its last checkpoint logged steps its resume trains again: they go, once."""
    from zoo.runs import LOSSES, truncate_losses

    (tmp_path / LOSSES).write_text("step,loss,time\r\n10,0.5,1\r\n20,0.4,2\r\n30,0.3,3\r\n")
    truncate_losses(tmp_path, 20)
    assert (tmp_path / LOSSES).read_text().splitlines() == ["step,loss,time", "10,0.5,1", "20,0.4,2"]
    truncate_losses(tmp_path / "absent", 5)  # no file: nothing to do


def test_run_spec_is_saved_whole_and_resume_reads_it_back(tmp_path):
    """`train_pair` records the run's facts once in a `RunSpec` inside state.json (the resolved encoder, the
    face folders and stream, the size, the canonical schedule, the whole config); `resume_pair` rebuilds
    the run from that spec alone: with the older `meta` keys removed from every state.json it still
    resumes with the same data stream and schedule."""
    from zoo import runs
    from zoo.runspec import FaceFolders, RunSpec
    from zoo.training import TrainConfig, resume_pair, train_pair

    folders = face_folders(tmp_path / "faces", images=4)
    run = tmp_path / "run"
    config = TrainConfig(steps=1, chunk=1, checkpoint_every=1, preview_every=100, tensorboard=False,
                         calibrate_batchnorm=False, ssim_weight=0.25)
    train_pair(encoder="mobilenet-face", pretrained=False, folders=folders, run_dir=run,
               schedule="frozen; top1@2:lr=0.5", size=SIZE, batch_size=3, seed=5, decoder_width=16, config=config)
    spec = RunSpec.load(run)
    assert spec.kind == "swap" and spec.size == SIZE and spec.pretrained is False
    assert spec.encoder_ref == "mobilenet-face" and spec.encoder["spec"]["name"] == "mobilenet-face"
    assert spec.data == FaceFolders(folders, 3, 5)
    assert spec.schedule == "frozen@0; top1@2:lr=0.5"
    assert spec.config.ssim_weight == 0.25 and spec.model == {"decoder_width": 16, "inter": "dense"}
    assert RunSpec.from_dict(spec.to_dict()) == spec
    for path in [run / runs.STATE, *run.glob(f"{runs.CHECKPOINTS}/*/{runs.STATE}")]:
        state = json.loads(path.read_text())
        state.pop("meta")
        path.write_text(json.dumps(state))
    trainer = resume_pair(run, steps=3)
    assert (trainer.dataset.batch_size, trainer.dataset.seed, trainer.dataset.size) == (3, 5, SIZE)
    assert trainer.schedule.to_string() == spec.schedule and trainer.config.ssim_weight == 0.25
    trainer.train()
    assert RunSpec.load(run).config.steps == 3 and RunSpec.load(run).data == spec.data
