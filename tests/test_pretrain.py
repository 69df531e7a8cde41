"""Global encoder pretraining: scalable heads, resume, data parallelism, held-out evaluation, publish."""
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from _support import load_benchmark, tiny_encoder

ROOT = Path(__file__).resolve().parent.parent


def test_ridge_probe_separates_classes():
    from zoo.pretrain import ridge_probe
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(5, 40)) * 3
    y_tr, y_te = np.repeat(np.arange(5), 6), np.repeat(np.arange(5), 3)
    x_tr = centres[y_tr] + rng.normal(size=(30, 40))
    x_te = centres[y_te] + rng.normal(size=(15, 40))
    assert ridge_probe(x_tr, y_tr, x_te, y_te) == 1.0
    assert ridge_probe(rng.normal(size=(30, 40)), y_tr, rng.normal(size=(15, 40)), y_te) < 0.6


def test_one_ridge_solver_behind_the_feature_and_image_probes():
    """The pretraining probe (features) and the evidence's swap probe (images) are one solver: on the same
    numbers, as pixels in [0, 1] unpooled or as feature vectors, they fit the same weights."""
    from zoo.errors import InputError
    from zoo.probes import FeatureProbe, IdentityProbe

    rng = np.random.default_rng(1)
    images = rng.uniform(0, 1, size=(24, 4, 4, 3))
    labels = np.repeat(["a", "b", "c"], 8)
    by_image = IdentityProbe(l2=2.0, pool=1).fit(images, labels)
    by_feature = FeatureProbe(l2=2.0).fit(images.reshape(24, -1), labels)
    np.testing.assert_allclose(by_feature.w, by_image.w)
    test = rng.uniform(0, 1, size=(9, 4, 4, 3))
    assert list(by_feature.predict(test.reshape(9, -1))) == list(by_image.predict(test))
    with pytest.raises(InputError, match="shape"):
        FeatureProbe().fit(images, labels)


def test_10000_identity_conditioned_model_trains_and_resumes(tmp_path):
    """10,000 identities: the model builds, memory per identity is small, steps run, a checkpoint resumes."""
    import zoo
    from zoo.data.corpus import open_corpus
    from zoo.pretrain import (PretrainConfig, Pretrainer, build_pretrain_model, find_encoder,
                              memory_per_identity)

    corpus = open_corpus("synthetic:10000")
    config = PretrainConfig(steps=2, batch_size=4, size=32, chunk=1, checkpoint_every=1, decoder_width=32,
                            bottleneck=64, inter_channels=64)
    encoder = zoo.build_encoder("mobilenet-face", input_size=32)
    trainer = Pretrainer.create(
        lambda: build_pretrain_model(encoder, 10000, size=32, decoder_width=32, bottleneck=64, inter_channels=64),
        corpus.sampler(4, 32, holdout=10), tmp_path / "run", config)
    mem = memory_per_identity(trainer.model, trainer.model.optimizer)
    assert mem["identities"] == 10000 and mem["params_per_identity"] == 64
    assert mem["optimizer_slots"] == 2 and mem["total_bytes"] == 64 * 4 * 3
    state = trainer.train(2)
    assert state["step"] == 2 and len(state["losses"]) == 2 and np.isfinite(state["losses"][-1][1])
    assert find_encoder(trainer.model).name == encoder.name
    assert (tmp_path / "run" / "checkpoints" / "step-00000002" / "model.keras").exists()
    resumed = Pretrainer.resume(tmp_path / "run", corpus.sampler(4, 32, holdout=10))
    assert resumed.step == 2
    for a, b in zip(trainer.model.weights, resumed.model.weights):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert int(np.asarray(resumed.model.optimizer.iterations)) == 2
    assert resumed.train(3)["step"] == 3


def test_bank_head_selects_each_identity():
    import zoo
    from zoo.pretrain import MAX_BANK, build_pretrain_model, memory_per_identity

    encoder = tiny_encoder(32)
    model = build_pretrain_model(encoder, 3, heads="bank", size=32, decoder_width=16, inter="conv",
                                 inter_channels=16)
    x = np.random.default_rng(0).random((3, 32, 32, 3)).astype("float32")
    out = np.asarray(model({"face": x, "identity": np.array([[0], [1], [2]], "int32")}))
    dec1 = model.get_layer("decoder_1")
    z = model.get_layer("inter")(encoder(x))
    np.testing.assert_allclose(out[1], np.asarray(dec1(z))[1], atol=1e-5)
    assert memory_per_identity(model)["params_per_identity"] == dec1.count_params()
    with pytest.raises(ValueError, match="conditioned"):
        build_pretrain_model(encoder, MAX_BANK + 1, heads="bank", size=32)
    del zoo


def test_pretrain_cli_publishes_with_evaluation(tmp_path):
    """`facezoo pretrain --publish`: a loadable release whose card and facezoo.json carry the evaluation."""
    import hub
    import zoo
    from recipes import cli

    hub_dir = str(tmp_path / "hub")
    run = tmp_path / "run"
    code = cli.main(["pretrain", "--corpus", "synthetic:40", "--encoder", "mobilenet-face", "--size", "32",
                     "--steps", "2", "--batch-size", "4", "--chunk", "1", "--decoder-width", "16",
                     "--holdout", "3", "--eval-steps", "2", "--eval-images", "3", "--run", str(run),
                     "--publish", "team/pretrained", "--tag", "v1", "--hub", hub_dir])
    assert code == 0
    result = json.loads((run / "pretrain.json").read_text())
    metrics = result["metrics"]
    assert metrics["heldout_identities"] == 3 and 0 < metrics["transfer_ssim"] <= 1
    assert 0 <= metrics["probe_accuracy"] <= 1 and metrics["probe_chance"] == pytest.approx(1 / 3, abs=1e-4)
    assert (run / "encoder.keras").exists() and result["step"] == 2
    snap = hub.pull("team/pretrained", "v1", hub=hub_dir)
    manifest = json.loads((Path(snap.path) / "facezoo.json").read_text())
    assert manifest["metrics"]["transfer_ssim"] == metrics["transfer_ssim"]
    assert manifest["corpus"]["identities"] == 40 and manifest["training"]["steps"] == 2
    assert manifest["input_size"] == 32 and manifest["parent"] is None
    card = (Path(snap.path) / "README.md").read_text()
    assert "transfer_ssim" in card and "probe_accuracy" in card
    encoder = zoo.load_encoder("team/pretrained@v1", hub=hub_dir)
    assert encoder.output_shape[1:] == (1, 1, 576)
    # Resuming a finished run to more steps continues at the same step.
    code = cli.main(["pretrain", "--run", str(run), "--resume", "--steps", "3", "--eval-steps", "0"])
    assert code == 0 and json.loads((run / "pretrain.json").read_text())["step"] == 3



def test_releases_record_the_corpus_not_its_path_and_parent_runs_keep_the_spec(tmp_path):
    """Bugs: facezoo.json held the publisher's absolute corpus path (corpus.spec), and a `--parent`
    release lost its spec (the release read meta["encoder"], None for parent runs)."""
    import shutil

    import hub
    from zoo.data.corpus import open_corpus
    from zoo.data.synthetic import SyntheticFaces, write_corpus
    from zoo.pretrain import PretrainConfig, pretrain

    faces = tmp_path / "faces"
    write_corpus(faces, SyntheticFaces(6, size=32, seed=0), images_per_identity=3)
    shutil.copytree(faces, tmp_path / "copy")
    summary = open_corpus(f"folder:{faces}", aligned=True).summary()
    assert summary["content_sha256"] == open_corpus(f"folder:{tmp_path / 'copy'}", aligned=True).summary()[
        "content_sha256"] and (summary["identities"], summary["images"]) == (6, 18)
    hub_dir = str(tmp_path / "hub")
    config = PretrainConfig(steps=1, batch_size=4, size=32, chunk=1, decoder_width=16)
    quiet = dict(aligned=True, holdout=0, eval_steps=0, lfw_eval="none", hub=hub_dir, progress=False,
                 echo=lambda *_: None)
    pretrain(config, run_dir=tmp_path / "first", corpus_spec=f"folder:{faces}", publish="team/first", tag="v1",
             **quiet)
    pretrain(config, run_dir=tmp_path / "second", corpus_spec=f"folder:{faces}", parent="team/first@v1",
             publish="team/second", tag="v1", **quiet)
    for repo in ("team/first", "team/second"):
        text = (Path(hub.pull(repo, "v1", hub=hub_dir).path) / "facezoo.json").read_text()
        assert str(tmp_path) not in text, f"{repo}: a local path in facezoo.json"
        manifest = json.loads(text)
        assert manifest["corpus"]["content_sha256"] == summary["content_sha256"]
        assert manifest["corpus"]["images"] == 18 and "spec" not in manifest["corpus"]
        assert (manifest["spec"]["name"], manifest["spec"]["input_size"]) == ("mobilenet-face", 32), repo
        assert manifest["normalization"] == manifest["spec"]["normalization"]
    assert manifest["parent"] == "team/first@v1"
    # The run records the encoder's facts, so a resumed run's release (no encoder object carrying them) keeps them.
    saved = json.loads((tmp_path / "second" / "state.json").read_text())["meta"]["encoder_info"]
    assert saved["spec"]["name"] == "mobilenet-face" and saved["repo_id"] == "team/first"
    from zoo.pretrain import run_encoder_info
    resumed = run_encoder_info(object(), {"encoder": None, "encoder_info": saved}, 48)   # a model from disk
    assert (resumed.spec.name, resumed.spec.input_size, resumed.repo_id) == ("mobilenet-face", 48, "team/first")


def test_pretrain_function_returns_its_result_and_resumes(tmp_path):
    """`zoo.pretrain.pretrain` (the library behind the CLI) returns what it writes to RUN/pretrain.json;
    `resume_pretrain` continues the same run from its saved step; the report lines go to `echo`."""
    from zoo.errors import InputError, RunError
    from zoo.pretrain import PretrainConfig, pretrain, resume_pretrain

    run = tmp_path / "run"
    lines = []
    config = PretrainConfig(steps=2, batch_size=4, size=32, chunk=1, decoder_width=16)
    with pytest.raises(InputError, match="--corpus is required"):   # the CLI relies on this check
        pretrain(config, run_dir=run, corpus_spec=None)
    assert not run.exists()
    result = pretrain(config, run_dir=run, corpus_spec="synthetic:12", holdout=2, eval_steps=1, eval_images=2,
                      progress=False, echo=lines.append)
    assert result == json.loads((run / "pretrain.json").read_text())
    assert result["step"] == 2 and result["holdout"] == 2 and result["metrics"]["heldout_identities"] == 2
    assert result["encoder"] == str(run / "encoder.keras") and (run / "encoder.keras").exists()
    assert lines[0].startswith("12 identities (2 held out)") and lines[1].startswith("trained to step 2")
    with pytest.raises(RunError, match="already holds a run"):
        pretrain(config, run_dir=run, corpus_spec="synthetic:12", echo=lines.append)
    with pytest.raises(RunError, match="trains on 'synthetic:12'"):
        resume_pretrain(run, steps=3, corpus_spec="synthetic:13", echo=lines.append)
    # the run's facts are one RunSpec in state.json; the resume reads it, not the older meta keys
    from zoo.runspec import CorpusSource, RunSpec
    spec = RunSpec.load(run)
    assert spec.kind == "pretrain" and spec.data == CorpusSource("synthetic:12", False, 2, None)
    assert spec.encoder_ref == "mobilenet-face" and spec.encoder["spec"]["name"] == "mobilenet-face"
    assert spec.config.clipnorm is None and spec.config.steps == 2
    for path in [run / "state.json", *run.glob("checkpoints/*/state.json")]:
        state = json.loads(path.read_text())
        for key in ("corpus_spec", "aligned", "holdout", "encoder", "parent", "drop_devtest", "encoder_info"):
            state["meta"].pop(key)
        path.write_text(json.dumps(state))
    lines.clear()
    again = resume_pretrain(run, steps=3, eval_steps=0, progress=False, echo=lines.append)
    assert lines[0] == f"resumed {run} at step 2"
    assert RunSpec.load(run).data == spec.data and RunSpec.load(run).config.steps == 3
    assert again == json.loads((run / "pretrain.json").read_text())
    assert again["step"] == 3 and again["config"]["steps"] == 3 and again["metrics"] == {}


_DP_SCRIPT = textwrap.dedent("""
    import json, os
    from zoo.pretrain import setup_virtual_devices
    setup_virtual_devices(2)
    import keras
    import numpy as np
    from zoo.data.corpus import open_corpus
    from zoo.pretrain import PretrainConfig, Pretrainer, build_pretrain_model, distribution_scope
    from _support import tiny_encoder

    corpus = open_corpus("synthetic:20")
    out = {{}}
    for mode in (None, "data-parallel"):
        keras.utils.set_random_seed(0)
        config = PretrainConfig(steps=4, batch_size=8, size=32, chunk=1, checkpoint_every=100,
                                learning_rate=1e-3, decoder_width=16)
        build = lambda: build_pretrain_model(tiny_encoder(32), 20, size=32, decoder_width=16, inter="conv",
                                             inter_channels=16)
        with distribution_scope(mode) as replicas:
            pass
        trainer = Pretrainer.create(build, corpus.sampler(8, 32, holdout=2, seed=0),
                                    os.path.join({tmp!r}, str(mode)), config, distribute=mode)
        state = trainer.train(4)
        out[str(mode)] = {{"losses": [l for _, l in state["losses"]], "replicas": replicas}}
    print("RESULT " + json.dumps(out))
""")


def _run_dp(tmp_path, backend):
    script = tmp_path / "dp.py"
    script.write_text(_DP_SCRIPT.format(tmp=str(tmp_path)))
    path = os.pathsep.join([str(ROOT), str(ROOT / "tests")])   # the library, and tests/_support for the encoder
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": path}
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=900)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stderr[-3000:]
    out = json.loads(lines[-1][7:])
    one, two = out["None"], out["data-parallel"]
    assert two["replicas"] == 2
    np.testing.assert_allclose(two["losses"], one["losses"], rtol=2e-3, atol=2e-4)
    assert len(one["losses"]) == 4


def test_data_parallel_matches_one_device_tensorflow(tmp_path):
    _run_dp(tmp_path, "tensorflow")


@pytest.mark.slow
@pytest.mark.jax
@pytest.mark.skipif((os.cpu_count() or 1) < 4, reason=(
    "JAX virtual CPU devices share XLA's intra-op pool: on 2 cores one device's all-reduce can hold a pool "
    "thread the other device needs, and XLA aborts the process (seen under CI load, also with a 600 s "
    "limit). JAX data parallelism is tested across processes in tests/test_distribute.py."))
def test_data_parallel_matches_one_device_jax(tmp_path):
    pytest.importorskip("jax")
    _run_dp(tmp_path, "jax")


@pytest.mark.slow
def test_killed_pretrain_resumes(tmp_path):
    """SIGKILL a pretrain subprocess after its first checkpoint; --resume continues from that step."""
    run = tmp_path / "run"
    args = [sys.executable, "-m", "recipes.pretrain_encoder", "--corpus", "synthetic:30", "--size", "32",
            "--batch-size", "4", "--chunk", "1", "--checkpoint-every", "2", "--decoder-width", "16",
            "--holdout", "2", "--eval-steps", "0", "--run", str(run)]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.Popen(args + ["--steps", "400"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 600
        while time.time() < deadline and not (run / "state.json").exists():
            time.sleep(0.5)
        assert (run / "state.json").exists(), "no checkpoint before the deadline"
        time.sleep(2)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    step = json.loads((run / "state.json").read_text())["step"]
    assert 2 <= step < 400
    ckpt = run / json.loads((run / "state.json").read_text())["checkpoint"]
    assert (ckpt / "model.keras").exists() and (ckpt / "optimizer.npz").exists()   # complete, never half
    done = subprocess.run(args + ["--steps", str(step + 2), "--resume"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"resumed {run} at step {step}" in done.stdout
    assert json.loads((run / "pretrain.json").read_text())["step"] == step + 2


def test_identity_scaling_classify_objective_trains_the_encoder_in_place():
    """The flat-curve diagnostic: a softmax over identities on pooled features updates the encoder itself
    (the object then scored), on the same sampler as pretraining, with a finite loss per step."""
    train_classifier = load_benchmark("identity_scaling").train_classifier
    from zoo.data.corpus import open_corpus

    encoder = tiny_encoder(32)
    before = [w.copy() for w in encoder.get_weights()]
    sampler = open_corpus("synthetic:4:seed=0").sampler(8, 32, seed=0)
    losses, seconds = train_classifier(encoder, sampler, 4, 4, 1e-3)
    assert len(losses) == 4 and np.isfinite(losses).all() and seconds > 0
    assert any(not np.allclose(a, b) for a, b in zip(before, encoder.get_weights()))
    assert np.log(4) * 0.5 < losses[0] < np.log(4) * 3       # untrained: about chance over 4 classes
