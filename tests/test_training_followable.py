"""Training a user can follow (issue 31): stage changes without a recompile, an ETA that counts the
changes ahead, labelled previews with the mask, and the loss plot on Ctrl-C. Real Keras, tiny models."""
import io
import os
import signal
import time

import numpy as np
import pytest

import zoo
from _support import SIZE, RandomPairs, _changed, _values


def _tiny_model(seed=0, encoder="mobilenet-face"):
    import keras
    keras.utils.set_random_seed(seed)
    enc = zoo.build_encoder(encoder, input_size=SIZE)
    return zoo.build_swap_model(enc, ["a", "b"], decoder_width=16, inter_channels=32, bottleneck=32)


def _config(**kw):
    from zoo.training import TrainConfig
    base = dict(steps=4, chunk=1, checkpoint_every=1000, preview_every=1000, tensorboard=False,
                learning_rate=1e-3, calibrate_batchnorm=False)
    return TrainConfig(**{**base, **kw})


# --- the stage switch ------------------------------------------------------------------------------


def test_switch_trains_like_recompiling_without_a_recompile(tmp_path):
    """Same model, data and schedule: the switch (one compile) ends where recompiling per stage ends, the
    training step is traced once (never again at a stage change), and the frozen part stays bit-identical
    while frozen."""
    from zoo.training import SwapTrainer

    finals = {}
    for mode in ("recompile", "switch"):
        # faceswap's conv encoder: TensorFlow traces its step in seconds, mobilenet-face's in about a minute
        # per stage on 2 cores (mobilenet-face, BatchNorm included, under the switch: tests/test_training.py)
        model = _tiny_model(encoder="fs-original")
        traces = []
        step_fn = model.train_step

        def counted(data, step_fn=step_fn, traces=traces):  # runs in Python only while TF traces the step
            traces.append(1)
            return step_fn(data)

        model.train_step = counted
        trainer = SwapTrainer(model, "frozen; top2@2; all@3", RandomPairs(), tmp_path / mode,
                              _config(stage_switch=mode))
        trainer.progress = False
        w0 = _values(model.encoder.weights)
        trainer.train(2, finalize=False)
        assert not _changed(w0, _values(model.encoder.weights), w0), f"{mode}: frozen encoder moved"
        traced = len(traces)
        trainer.train(4, finalize=False)
        assert trainer.switch_mode == mode and str(trainer.stage.trainable) == "all"
        if mode == "switch":
            assert len(traces) == traced, "the switch must not retrace the training step"
        else:
            assert len(traces) > traced
        finals[mode] = _values(model.weights)
    moved = _changed(w0, finals["switch"], w0)
    assert moved, "the encoder trained under the switch once unfrozen"
    assert finals["recompile"].keys() == finals["switch"].keys()
    for path, value in finals["recompile"].items():
        np.testing.assert_allclose(finals["switch"][path], value, rtol=1e-3, atol=1e-5, err_msg=path)


def test_auto_chooses_the_switch_on_short_runs_only():
    from zoo.schedule import FreezeSchedule
    from zoo.training.switch import RECOMPILE_STEPS, choose_switch

    staged = FreezeSchedule.parse("frozen; top2@100; all@200")
    assert choose_switch("auto", staged, 300) == "switch"
    assert choose_switch("auto", staged, 10 ** 6) == "switch"  # the frozen part ends at step 200 anyway
    late = FreezeSchedule.parse(f"frozen; all@{3 * RECOMPILE_STEPS}")
    assert choose_switch("auto", late, 10 ** 6) == "recompile"
    plateau = FreezeSchedule.parse("frozen; all@plateau")
    assert choose_switch("auto", plateau, 100) == "switch"
    assert choose_switch("auto", plateau, 50_000) == "recompile"
    assert choose_switch("auto", FreezeSchedule.parse("all"), 100) == "recompile"  # nothing to change
    assert choose_switch("recompile", staged, 300) == "recompile"


def test_bad_stage_switch_setting_is_refused():
    from zoo.errors import InputError
    with pytest.raises(InputError, match="stage_switch='sometimes'"):
        _config(stage_switch="sometimes")


# --- the ETA -----------------------------------------------------------------------------------------


class _Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_eta_counts_the_stage_changes_ahead_at_their_measured_cost():
    """Steps of 1 s, a first compile of 60 s and two changes ahead: the ETA adds 2 x 60 s until a change
    has been measured (10 s), then uses that."""
    from zoo.progress import Progress

    clock, step, pending = _Clock(), [0], [2]
    out = io.StringIO()
    progress = Progress(100, lambda: step[0], every=1, stream=out, pending_changes=lambda: pending[0],
                        clock=clock)

    def steps(n, first_extra=0.0):
        for k in range(n):
            clock.now += 1.0 + (first_extra if k == 0 else 0.0)
            step[0] += 1
            progress.on_train_batch_end(0, {"loss": 0.5})

    progress.on_train_begin()
    steps(11, first_extra=59.0)  # the compiling first step: 60 s
    last = out.getvalue().splitlines()[-1]
    # 89 steps left at 1 step/s, plus two changes at the first compile's 60 s
    assert "ETA 3m29s (with 2 stage changes ~1m00s each)" in last, last
    progress.on_train_end()

    pending[0] = 1
    clock.now += 4.0  # between the fits: the trainer's stage change
    progress.on_train_begin()
    steps(10, first_extra=5.0)  # the new stage's first step: 6 s, so the change cost 4 + 6 - 1 = 9 s
    assert progress.change_seconds == [pytest.approx(9.0)]
    last = out.getvalue().splitlines()[-1]
    assert "ETA 1m28s (with 1 stage change ~9s each)" in last, last  # 79 s + 9 s
    assert "switched" not in out.getvalue() and "recompiles" in out.getvalue()


def test_trainer_tells_the_progress_line_what_changes_are_ahead(tmp_path):
    from zoo.training import SwapTrainer

    trainer = SwapTrainer(_tiny_model(), "frozen; top2@50; all@plateau", RandomPairs(), tmp_path / "run",
                          _config(steps=40, stage_switch="switch"))
    trainer.target_steps = 40
    assert trainer.pending_changes() == 1, "top2@50 lies past the end; the plateau may fire"
    trainer.target_steps = 100
    assert trainer.pending_changes() == 2
    options = trainer.progress_options()
    assert options["change_cost"] == 0.0 and options["recompiles"] is False


# --- previews ----------------------------------------------------------------------------------------


def test_preview_is_labelled_upscaled_and_shows_the_masks():
    from zoo.preview import PREVIEW_TILE, preview_columns, preview_grid

    model = _tiny_model()
    rng = np.random.default_rng(0)
    faces = {k: rng.random((3, SIZE, SIZE, 3), dtype=np.float32) for k in ("a", "b")}
    columns = preview_columns(model, faces)
    assert [label for label, _ in columns] == ["A", "A rebuilt", "A->B", "A->B mask",
                                               "B", "B rebuilt", "B->A", "B->A mask"]
    mask = model.decode(faces["a"], "b")[..., 3]
    np.testing.assert_allclose(columns[3][1][..., 0], mask, atol=1e-6)

    grid = preview_grid(model, faces)
    tile = -(-PREVIEW_TILE // SIZE) * SIZE
    assert tile >= PREVIEW_TILE and grid.dtype == np.uint8
    header = grid.shape[0] - 3 * tile
    assert header > 0 and grid.shape[1] == 8 * tile
    for c in range(8):  # every column has a label: dark text on the white header
        assert (grid[:header, c * tile:(c + 1) * tile] < 128).any(), f"column {c} has no label"
    # faces are scaled by whole pixels: the first face's top-left pixel fills a factor x factor block
    factor = tile // SIZE
    block = grid[header:header + factor, :factor]
    assert (block == block[0, 0]).all()
    expected = (np.clip(faces["a"][0, 0, 0], 0, 1) * 255 + 0.5).astype(np.uint8)
    np.testing.assert_array_equal(block[0, 0], expected)


# --- Ctrl-C ------------------------------------------------------------------------------------------


def test_ctrl_c_writes_the_loss_plot(tmp_path):
    """A Ctrl-C press recorded at step 2 (what zoo.interrupt's watcher thread does on SIGINT): the run
    saves, raises, and loss.png is there. The real signal is sent to a subprocess in
    tests/test_first_hour.py: sending it to this process would end a pytest-xdist worker's session."""
    import keras

    from zoo.interrupt import TrainingInterrupted
    from zoo.training import SwapTrainer

    class CtrlC(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if trainer.step == 2 and not trainer.stop_request.requested:
                trainer.stop_request._press()

    run = tmp_path / "run"
    trainer = SwapTrainer(_tiny_model(), "frozen", RandomPairs(), run, _config(steps=50), callbacks=[CtrlC()])
    trainer.progress = False
    with pytest.raises(TrainingInterrupted):
        trainer.train(50)
    assert 2 <= trainer.step < 50
    assert (run / "state.json").exists() and (run / "loss.png").exists()


# --- when a frozen start pays: the README and the quickstart quote the committed results ------------


def test_frozen_start_advice_quotes_the_committed_results():
    """The numbers in README's "When a frozen start pays" and in the quickstart's closing text are the
    committed real-pair results' (a rerun that changes them fails here until the text is updated)."""
    from pathlib import Path

    from recipes.quickstart import FROZEN_START
    from zoo.bench.stats import summarize
    from zoo.bench.ttq_report import load_records

    root = Path(__file__).resolve().parents[1]
    s = summarize(load_records(root / "benchmarks" / "results" / "time_to_quality_real.json"))
    readme = (root / "README.md").read_text()
    section = readme[readme.index("## When a frozen start pays"):]
    section = " ".join(section[:section.index("\n## ", 5)].split())
    quick = " ".join(FROZEN_START)

    def steps(arm):
        return f"{s[arm]['steps_to_threshold']['mean']:.0f}"

    def ssim(arm):
        return f"{s[arm]['final_ssim']['mean']:.3f}"

    def swap_b(arm):
        return f"{100 * s[arm]['final_swap_b']['mean']:.0f}%"

    for text in (section, quick):
        assert f"in {steps('frozen')} steps" in text and f"{steps('scratch')}" in text
        assert steps("staged-plateau") == steps("frozen")
        assert f"{swap_b('frozen')} of" in text and swap_b("scratch") in text and swap_b("staged-plateau") in text
        assert f"{ssim('staged-plateau')} against scratch's {ssim('scratch')}" in text
    for arm, label in (("staged-plateau", "staged-plateau"), ("frozen", "frozen"), ("scratch", "scratch")):
        assert f"{s[arm]['seconds_to_threshold']['mean']:.0f} s" in section, arm
    assert f"0.566 frozen against {ssim('scratch')} scratch" in section and ssim("frozen") == "0.566"
    design = (root.parent / "shared" / "DESIGN.md")
    if design.exists():  # the synthetic long-run figures are DESIGN.md's "Evidence"
        evidence = " ".join(design.read_text().split())
        assert "at 3,000 steps scratch 0.666, frozen 0.656, staged-plateau 0.670" in evidence
