"""A new user's first hour (issue 19): Ctrl-C, progress, reruns, publishing a run, what gets printed."""
import io
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from _support import face_folders  # noqa: E402  (the same synthetic face folders)

REPO = Path(__file__).resolve().parents[1]



def _train_cmd(folders, run, steps=400, extra=()):
    # faceswap's conv encoder: TensorFlow traces its step in seconds (mobilenet-face: about a minute on 2 cores)
    return [sys.executable, "-m", "recipes.train_swap", "--encoder", "fs-original", "--encoder-weights",
            "none", "--a", str(folders["a"]), "--b", str(folders["b"]), "--run", str(run), "--size", "32",
            "--batch-size", "2", "--decoder-width", "16", "--schedule", "frozen; all@4", "--log-every", "2",
            "--checkpoint-every", "1000", "--preview-every", "1000", "--steps", str(steps), *extra]


def _env():
    return {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}


def _start_and_wait_for_compile(cmd):
    """Start a training subprocess and return it once it says the first step compiles."""
    proc = subprocess.Popen(cmd, cwd=REPO, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    seen = []
    for line in proc.stdout:  # bounded: the process ends (EOF) if it never gets there
        seen.append(line)
        if "first step compiles" in line:
            return proc, seen
    proc.wait()
    pytest.fail("training never reached its first step:\n" + "".join(seen)[-3000:])


# --- Ctrl-C ------------------------------------------------------------------------------------------


def test_ctrl_c_during_first_step_saves_and_resumes(tmp_path):
    """SIGINT while the first step compiles: stop after that step, save, exit 130 with the resume
    command; then --resume continues from the saved step (issue 19, Broken 2)."""
    folders = face_folders(tmp_path / "faces", images=8)
    run = tmp_path / "run"
    proc, seen = _start_and_wait_for_compile(_train_cmd(folders, run))
    proc.send_signal(signal.SIGINT)
    rest, _ = proc.communicate(timeout=600)
    out = "".join(seen) + rest
    assert proc.returncode == 130, out[-3000:]
    assert "Traceback" not in out and "SystemError" not in out, out[-3000:]
    assert "Ctrl-C: stopping after the current step" in out
    assert f"Resume with: facezoo train --run {run} --resume --steps 400" in out
    assert f"run folder: {run}" in out and " on disk" in out, "the disk summary is printed on Ctrl-C too"
    assert (run / "loss.png").is_file(), "Ctrl-C writes the loss plot too"
    saved = json.loads((run / "state.json").read_text())
    assert 1 <= saved["step"] < 400, "stopped at a step boundary, long before the end"
    import zoo
    assert zoo.load_run(run).identities == ["a", "b"]

    target = saved["step"] + 2
    cmd = _train_cmd(folders, run, steps=target, extra=["--resume", "--quiet"])
    done = subprocess.run(cmd, cwd=REPO, env=_env(), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert json.loads((run / "state.json").read_text())["step"] == target
    assert "first step compiles" not in done.stdout, "--quiet prints no progress"


@pytest.mark.slow
def test_second_ctrl_c_exits_at_once_without_corrupting(tmp_path):
    """Two SIGINTs during the first compile: exit 130 at once; whatever is in the run folder is whole."""
    folders = face_folders(tmp_path / "faces", images=4)
    run = tmp_path / "run"
    proc, seen = _start_and_wait_for_compile(_train_cmd(folders, run))
    proc.send_signal(signal.SIGINT)
    for line in proc.stdout:  # two signals sent back to back would merge into one: wait for the first
        seen.append(line)
        if "Ctrl-C: stopping" in line:
            break
    # The first step compiles for many seconds, so the process is still in it when the second comes.
    proc.send_signal(signal.SIGINT)
    rest, _ = proc.communicate(timeout=600)
    out = "".join(seen) + rest
    assert proc.returncode == 130, out[-3000:]
    assert "second Ctrl-C: exiting now" in out, out[-3000:]
    assert "Resume with" not in out, "the second Ctrl-C does not wait for the step to end"
    assert "Traceback" not in out, out[-3000:]
    if (run / "state.json").exists():  # a checkpoint that made it is complete
        import zoo
        zoo.load_run(run)
    assert not list(run.glob("checkpoints/step-*/*.tmp"))


@pytest.mark.slow
def test_ctrl_c_during_pretraining_saves_and_says_how_to_resume(tmp_path):
    """The same for `facezoo pretrain`: Ctrl-C while the first step compiles -> checkpoint, exit 130."""
    run = tmp_path / "pre"
    cmd = [sys.executable, "-m", "recipes.cli", "pretrain", "--corpus", "synthetic:12", "--size", "32",
           "--batch-size", "4", "--chunk", "2", "--decoder-width", "16", "--holdout", "2", "--eval-steps", "0",
           "--run", str(run), "--steps", "400"]
    proc, seen = _start_and_wait_for_compile(cmd)
    proc.send_signal(signal.SIGINT)
    rest, _ = proc.communicate(timeout=600)
    out = "".join(seen) + rest
    assert proc.returncode == 130, out[-3000:]
    assert "Traceback" not in out
    assert f"Resume with: facezoo pretrain --run {run} --resume --steps 400" in out
    assert 1 <= json.loads((run / "state.json").read_text())["step"] < 400


# --- noise -------------------------------------------------------------------------------------------------


def test_tensorflow_import_is_quiet_but_real_errors_pass(tmp_path):
    """The absl/oneDNN/CUDA start-up lines (printed from C++, twice, whatever TF_CPP_MIN_LOG_LEVEL says)
    are filtered; anything else written to stderr meanwhile still reaches the user (issue 19, Missing 8)."""
    code = ("import os, sys\n"
            "import zoo\n"
            "zoo.build_encoder  # the first lazy attribute loads Keras, and TensorFlow quietly\n"
            "assert 'tensorflow' in sys.modules\n"
            "from zoo.tfquiet import filtered_stderr\n"
            "with filtered_stderr():\n"
            "    os.write(2, b'E0000 00:00:1.2 7 meta_optimizer.cc:967] remapper failed: INVALID_ARGUMENT: x\\n')\n"
            "    os.write(2, b'E0000 00:00:1.2 7 some_kernel.cc:1] a real error\\n')\n"
            "print('imported')\n")
    env = {k: v for k, v in _env().items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0 and out.stdout.strip() == "imported", out.stderr
    assert out.stderr.strip() == "E0000 00:00:1.2 7 some_kernel.cc:1] a real error", out.stderr
    raw = subprocess.run([sys.executable, "-c", "import tensorflow"], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=600)
    if raw.stderr.strip():  # the unfiltered import is noisy here: the test above is not vacuous
        assert any(p.search(line) for line in raw.stderr.splitlines() for p in __import__("zoo.tfquiet").tfquiet.HARMLESS)


# --- progress ------------------------------------------------------------------------------------------


class _Tty(io.StringIO):
    def isatty(self):
        return True


def _drive(progress, steps, step_box, logs):
    progress.on_train_begin()
    for _ in range(steps):
        step_box[0] += 1
        progress.on_train_batch_end(0, logs)
    progress.on_train_end()


def test_progress_plain_lines_when_not_a_terminal():
    """Not a TTY (CI logs): one plain line every `every` steps, with step/total, the loss per identity,
    steps/s and ETA, after a line saying the first step compiles (issue 19, Missing 6)."""
    from zoo.progress import Progress

    out = io.StringIO()
    step = [0]
    progress = Progress(20, lambda: step[0], identities=["a", "b"], every=5, stream=out)
    _drive(progress, 20, step, {"loss": 0.5, "a_loss": 0.25, "b_loss": 0.75})
    lines = out.getvalue().splitlines()
    assert "\r" not in out.getvalue()
    assert "step 1/20: the first step compiles" in lines[0]
    body = [line for line in lines if "loss" in line]
    assert [line.split()[2] for line in body] == ["5/20", "10/20", "15/20", "20/20"]
    assert "loss 0.5000 (a 0.2500, b 0.7500)" in body[0]
    assert "steps/s" in body[1] and "ETA" in body[1]


def test_progress_bar_on_a_terminal_and_quiet():
    from zoo.progress import Progress

    tty = _Tty()
    step = [0]
    _drive(Progress(8, lambda: step[0], identities=["a"], every=5, stream=tty), 8, step,
           {"loss": 0.5, "a_loss": 0.5})
    text = tty.getvalue()
    assert text.count("\r") == 8, "the bar is redrawn in place at every step"
    assert "|########################| step 8/8" in text and text.endswith("\n")

    quiet = io.StringIO()
    step = [0]
    _drive(Progress(8, lambda: step[0], stream=quiet, quiet=True), 8, step, {"loss": 0.5})
    assert quiet.getvalue() == ""


# --- a first-hour world: what the quickstart leaves behind, tiny ------------------------------------------
#
# The README and the docstrings' `Examples:` are written for a user who ran the quickstart: the local hub
# holds facezoo/effnet-face-v2 (tagged v1) and ./facezoo-quickstart/pair is a trained run. Here the same
# names hold a tiny stand-in (mobilenet-face at 32 px, one training step), so the examples run as written
# in seconds instead of after a 10-minute quickstart.

WORLD_SIZE = 32


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    import cv2

    import hub
    import zoo
    from zoo.data.synthetic import SyntheticFaces
    from zoo.training import TrainConfig, train_pair

    root = tmp_path_factory.mktemp("first-hour")
    cwd, hub_dir = root / "cwd", root / "hub"
    faces = SyntheticFaces(2, size=64, seed=5)
    folders = {}
    for ident, name in enumerate("ab"):
        folder = cwd / "facezoo-quickstart" / "faces" / name
        folder.mkdir(parents=True)
        for i in range(4):
            rgb, _ = faces.render(ident, i)
            small = cv2.resize(rgb, (WORLD_SIZE, WORLD_SIZE), interpolation=cv2.INTER_AREA)
            cv2.imwrite(str(folder / f"{i:03d}.png"), cv2.cvtColor(small, cv2.COLOR_RGB2BGR))
        folders[name] = f"facezoo-quickstart/faces/{name}"  # relative, as the quickstart records them
    encoder = zoo.build_encoder("mobilenet-face", input_size=WORLD_SIZE)
    hub.publish(encoder, "facezoo/effnet-face-v2", tag="v1", hub=str(hub_dir))
    encoder.save(cwd / "encoder.keras")
    (cwd / "schedule.toml").write_text('[[stage]]\ntrainable = "frozen"\n\n[[stage]]\ntrainable = "all"\n'
                                       'start = 100\n')
    old = os.getcwd()
    os.chdir(cwd)
    try:
        trainer = train_pair(encoder=encoder, folders=folders, run_dir="facezoo-quickstart/pair", schedule="frozen",
                             size=WORLD_SIZE, batch_size=2, decoder_width=16, build_only=True,
                             config=TrainConfig(steps=1, chunk=1, checkpoint_every=1000, preview_every=1000,
                                                tensorboard=False, calibrate_batchnorm=False))
        trainer.progress = False
        trainer.train()
    finally:
        os.chdir(old)
    return {"cwd": cwd, "hub": hub_dir}


@pytest.fixture
def in_world(world, tmp_path, monkeypatch):
    """The world's folder as cwd and a private copy of its hub as the default hub."""
    import shutil
    hub_copy = tmp_path / "hub"
    shutil.copytree(world["hub"], hub_copy)
    monkeypatch.setenv("FACEZOO_HUB", str(hub_copy))
    monkeypatch.setenv("FACEZOO_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(world["cwd"])
    return {**world, "hub": hub_copy}


def readme_python_blocks() -> list[str]:
    import re
    text = (REPO / "README.md").read_text(encoding="utf-8")
    return re.findall(r"^```python\n(.*?)^```", text, flags=re.S | re.M)


def test_readme_python_blocks_run_as_written(in_world):
    """Every ```python block of the README runs, in order, as a user would paste it after the quickstart
    (issue 19, Broken 3)."""
    blocks = readme_python_blocks()
    assert len(blocks) >= 2, "the README shows the Python API and loading a trained run"
    for k, code in enumerate(blocks):
        namespace = {"__name__": f"readme_block_{k}"}
        exec(compile(code, f"README.md python block {k + 1}", "exec"), namespace)  # noqa: S102
        if "fake_b" in namespace:
            fake = namespace["fake_b"]
            assert fake.shape == (4, WORLD_SIZE, WORLD_SIZE, 3) and 0 <= fake.min() and fake.max() <= 1
        if "snap" in namespace:
            assert namespace["snap"].revision == namespace["release"].revision


DOCUMENTED = ["zoo", "hub", "zoo.loading.load_encoder", "zoo.runs.load_run", "zoo.swap.build_swap_model",
              "zoo.builder.build_encoder", "zoo.schedule.FreezeSchedule"]


def _documented_object(dotted: str):
    import importlib
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attr in parts[cut:]:
            obj = getattr(obj, attr)
        return obj
    raise ImportError(dotted)


@pytest.mark.parametrize("dotted", DOCUMENTED)
def test_docstring_examples_run(dotted, in_world):
    """The `Examples:` of the public API's docstrings run (and print what they show, where they show it)."""
    import doctest

    import keras
    import numpy as np

    import hub
    import zoo

    class Checker(doctest.OutputChecker):  # an example line without shown output may return anything
        def check_output(self, want, got, optionflags):
            return True if not want.strip() else super().check_output(want, got, optionflags)

    obj = _documented_object(dotted)
    finder = doctest.DocTestFinder(recurse=False)
    tests = [t for t in finder.find(obj, dotted, globs={"zoo": zoo, "hub": hub, "np": np, "keras": keras,
                                                        **getattr(__import__("inspect").getmodule(obj), "__dict__", {})})
             if t.examples]
    assert tests, f"{dotted} has no Examples"
    runner = doctest.DocTestRunner(checker=Checker(), optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for t in tests:
        runner.run(t)
    assert runner.tries == sum(len(t.examples) for t in tests)
    assert runner.failures == 0, f"{runner.failures} example(s) of {dotted} failed (see the captured output)"


def _cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "recipes.cli", *args], cwd=cwd or REPO, env=_env(),
                          capture_output=True, text=True, timeout=600)


def test_encoders_show_agrees_with_the_hub(in_world):
    """Right after a release, `encoders show` names its main commit and tag (issue 19, Broken 4)."""
    import hub
    main = hub.get_hub().resolve("facezoo/effnet-face-v2")
    out = _cli("encoders", "show", "effnet-face-v2")
    assert out.returncode == 0, out.stderr
    assert f"main             commit {main}" in out.stdout
    assert f"tag v1           commit {main}" in out.stdout
    assert "revision         None" not in out.stdout and "not yet published" not in out.stdout
    data = json.loads(_cli("encoders", "show", "effnet-face-v2", "--json").stdout)
    assert data["hub"]["main"] == main and data["hub"]["releases"] == [["v1", main]]
    other = _cli("encoders", "show", "resnet-face")
    assert other.returncode == 0 and "not published on local hub" in other.stdout
    typo = _cli("encoders", "show", "effnet-face-v2", "--hub", str(in_world["hub"]) + "-typo")
    assert typo.returncode == 2 and "No hub folder at" in typo.stderr


def test_publish_a_run_folder_publishes_its_encoder(in_world):
    """`facezoo publish RUN` takes the swap run's encoder out and publishes it alone; the release loads
    with `load_encoder` by tag and computes what the run's encoder computes (issue 19, Broken 5)."""
    import numpy as np

    import zoo
    run = in_world["cwd"] / "facezoo-quickstart" / "pair"
    out = _cli("publish", str(run), "me/my-encoder", "--tag", "v1")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "published me/my-encoder@v1" in out.stdout
    encoder = zoo.load_encoder("me/my-encoder@v1")
    swap = zoo.load_run(run)
    x = np.random.default_rng(0).random((2, WORLD_SIZE, WORLD_SIZE, 3), dtype=np.float32)
    np.testing.assert_allclose(encoder.predict(x, verbose=0), swap.encoder.predict(x, verbose=0), atol=1e-5)
    assert encoder.count_params() == swap.encoder.count_params()

    pulled = _cli("pull", "me/my-encoder@v1")
    assert pulled.returncode == 0 and "me/my-encoder@v1 -> commit" in pulled.stdout
    import hub
    card = (hub.pull("me/my-encoder", "v1").path / "README.md").read_text()
    assert f"Input size:** {WORLD_SIZE} px" in card, "the card reads the input size from the model"


def test_pull_by_catalogue_name_and_clear_hub_errors(in_world, tmp_path):
    import hub
    main = hub.get_hub().resolve("facezoo/effnet-face-v2")
    out = _cli("pull", "effnet-face-v2@v1")
    assert out.returncode == 0, out.stderr
    assert "catalogue entry for facezoo/effnet-face-v2" in out.stdout and main in out.stdout
    typo = _cli("pull", "effnet-face-v3")
    assert typo.returncode == 2 and "Did you mean 'effnet-face-v2'" in typo.stderr
    nowhere = _cli("pull", "facezoo/effnet-face-v2", "--hub", str(tmp_path / "no-such-hub"))
    assert nowhere.returncode == 2 and "No hub folder at" in nowhere.stderr and "Traceback" not in nowhere.stderr


def test_extract_warns_that_several_inputs_make_one_identity(tmp_path):
    import cv2
    import numpy as np
    for name in ("alice", "bob"):  # a photo each (no face in it: the note comes before detection)
        (tmp_path / name).mkdir()
        cv2.imwrite(str(tmp_path / name / "photo.png"), np.full((80, 80, 3), 128, np.uint8))
    out = _cli("extract", str(tmp_path / "alice"), str(tmp_path / "bob"), "-o", str(tmp_path / "faces"),
               "--no-progress")
    assert out.returncode == 2, out.stderr  # no face in either photo: a failure that says why (issue 31)
    assert "no face found in any of 2 frames" in out.stderr
    assert "treats as ONE identity" in out.stdout and "facezoo extract INPUT -o faces/NAME" in out.stdout


def test_train_says_a_photo_is_not_a_face_folder(tmp_path):
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(b"not really a jpeg")
    out = _cli("train", "--a", str(photo), "--b", str(tmp_path), "--run", str(tmp_path / "run"))
    assert out.returncode == 2
    assert "is a file; training takes a folder of aligned faces" in out.stderr
    assert f"facezoo extract {photo} -o faces/a" in out.stderr


def test_publish_refuses_a_swap_model_file(in_world):
    """RUN/model.keras is the whole swap model: refused at publish time with the command that works."""
    run = in_world["cwd"] / "facezoo-quickstart" / "pair"
    out = _cli("publish", str(run / "model.keras"), "me/wrong", "--tag", "v1")
    assert out.returncode == 2, out.stdout + out.stderr
    assert "whole face-swap model" in out.stderr and "Publish the run folder instead" in out.stderr
    assert "Traceback" not in out.stderr and len(out.stderr) < 1000
    import hub
    from zoo.errors import NotPublishedError
    with pytest.raises(NotPublishedError):
        hub.list_releases("me/wrong")


# --- the quickstart, twice ------------------------------------------------------------------------------

@pytest.mark.slow
def test_quickstart_is_safe_to_rerun(tmp_path):
    """A second quickstart into the same --out resumes every phase and does not republish; a third with
    other settings says what to do instead of crashing (issue 19, Broken 1)."""
    env = {**_env(), "FACEZOO_HOME": str(tmp_path / "home")}
    cmd = [sys.executable, "-m", "recipes.cli", "quickstart", "--out", str(tmp_path / "qs"), "--encoder",
           "mobilenet-face", "--repo", "facezoo/effnet-face-v2", "--identities", "2", "--images", "4",
           "--pretrain-steps", "2", "--steps", "2", "--schedule", "all", "--batch-size", "2"]
    first = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=1500)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    assert "released facezoo/effnet-face-v2@v1" in first.stdout
    assert "disk used" in first.stdout and "A smoke run" in first.stdout and "--size 128 --steps 50000" in first.stdout
    second = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=1500)
    out = second.stdout + second.stderr
    assert second.returncode == 0, out[-4000:]
    assert "Traceback" not in out
    assert out.count("resuming") == 2 and "not published again" in out
    assert "first step compiles" not in out, "nothing left to train"
    import hub
    assert [t for t, _ in hub.list_releases("facezoo/effnet-face-v2", hub=str(tmp_path / "home" / "hub"))] == ["v1"]
    html = (tmp_path / "qs" / "report.html").read_text()
    assert "What this run is" in html and "the committed benchmark (not this run)" in html

    other = cmd[:cmd.index("--identities")] + ["--identities", "3", "--images", "4", "--pretrain-steps", "2",
                                                "--steps", "2", "--schedule", "all", "--batch-size", "2"]
    third = subprocess.run(other, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=1500)
    assert third.returncode == 2, third.stdout[-2000:] + third.stderr[-2000:]
    assert "Pass another --out" in third.stderr and "Traceback" not in third.stderr
