"""The identity objective of pretraining (`facezoo pretrain --identity-loss arcface`, `--min-photos K`):
`zoo.layers.ArcMargin`'s math against numpy, a run with the head trains, records its identity loss and
resumes from its saved config, the released encoder carries no head, `--min-photos` leaves identities
with fewer photos out of training (never the held-out ones), and the CLI refuses a bad value."""
from __future__ import annotations

import csv
import json
import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from _support import tiny_encoder

ROOT = Path(__file__).resolve().parents[1]
HEAD_LAYERS = ("identity_pool", "identity_projection", "identity_embedding", "arcface")


def arcface_numpy(x, w, labels, margin, scale):
    """ArcFace logits as the paper and InsightFace write them, in float64 numpy."""
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    w = w / np.linalg.norm(w, axis=0, keepdims=True)
    cos = np.clip(x @ w, -1, 1)
    theta = np.arccos(cos)
    target = np.where(cos > math.cos(math.pi - margin), np.cos(theta + margin), cos - margin * math.sin(margin))
    out = cos.copy()
    rows = np.arange(len(labels))
    out[rows, labels] = target[rows, labels]
    return scale * out


def test_arcmargin_adds_the_margin_to_the_true_class_only():
    import keras

    from zoo.layers import ArcMargin

    rng = np.random.default_rng(0)
    x = rng.normal(size=(6, 8)).astype("float32") * 3.0          # not normalised: the layer does it
    labels = np.array([0, 1, 2, 3, 4, 0])
    layer = ArcMargin(5, margin=0.5, scale=30.0)
    layer(x, labels.reshape(-1, 1))
    w = rng.normal(size=(8, 5)).astype("float32")
    w[:, 0] = -x[5] / np.linalg.norm(x[5])                         # theta near pi: past the margin's turn
    layer.kernel.assign(w)
    got = keras.ops.convert_to_numpy(layer(x, labels.reshape(-1, 1)))
    want = arcface_numpy(x.astype("float64"), w.astype("float64"), labels, 0.5, 30.0)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-3)
    # elsewhere the logits are scale * cos; the true class's is lower (a margin costs, never helps)
    plain = 30.0 * (x / np.linalg.norm(x, axis=1, keepdims=True)) @ (w / np.linalg.norm(w, axis=0, keepdims=True))
    off = np.ones_like(got, bool)
    off[np.arange(6), labels] = False
    np.testing.assert_allclose(got[off], plain[off], rtol=1e-4, atol=1e-3)
    assert (got[~off] < plain[~off]).all()
    # registered: the config round-trips through Keras' serialisation
    again = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer), safe_mode=True)
    assert isinstance(again, ArcMargin) and (again.units, again.margin, again.scale) == (5, 0.5, 30.0)


def test_parse_identity_loss_and_its_errors():
    from zoo.errors import InputError
    from zoo.pretrain import parse_identity_loss

    assert parse_identity_loss(None) == {"identity_weight": 0.0}
    assert parse_identity_loss("arcface") == {"identity_weight": 1.0, "arcface_margin": 0.5, "arcface_scale": 30.0}
    assert parse_identity_loss("arcface:weight=0.1,scale=64") == {"identity_weight": 0.1, "arcface_margin": 0.5,
                                                                  "arcface_scale": 64.0}
    for bad in ("softmax", "arcface:weight=x", "arcface:m=0.3", "arcface:weight=0", "arcface:margin=2"):
        with pytest.raises(InputError, match="--identity-loss"):
            parse_identity_loss(bad)


def test_identity_head_trains_and_its_checkpoint_resumes(tmp_path):
    """Reconstruction + ArcFace on a tiny encoder: the identity loss is recorded per chunk and falls over
    30 steps; the checkpoint loads (safe_mode) with its head and continues where it stopped."""
    from zoo.data.corpus import open_corpus
    from zoo.pretrain import PretrainConfig, Pretrainer, build_pretrain_model, find_encoder, memory_per_identity

    corpus = open_corpus("synthetic:8")
    config = PretrainConfig(steps=30, batch_size=8, size=32, chunk=10, checkpoint_every=10, decoder_width=16,
                            learning_rate=1e-3, identity_weight=1.0, arcface_margin=0.3, arcface_scale=16.0)
    encoder = tiny_encoder(32)
    build = lambda: build_pretrain_model(encoder, 8, size=32, decoder_width=16, inter="conv",  # noqa: E731
                                         inter_channels=16, identity_dim=32, arcface_margin=0.3,
                                         arcface_scale=16.0)
    trainer = Pretrainer.create(build, corpus.sampler(8, 32, holdout=2), tmp_path / "run", config, workers=0)
    assert find_encoder(trainer.model) is encoder
    assert memory_per_identity(trainer.model)["params_per_identity"] == 64 + 32   # code row + class vector
    trainer.train(30)
    rows = list(csv.DictReader(open(tmp_path / "run" / "losses.csv")))
    assert [int(r["step"]) for r in rows] == [10, 20, 30]
    ident = [float(r["identity_loss"]) for r in rows]
    assert all(np.isfinite(ident)) and ident[-1] < ident[0], ident
    assert all(np.isfinite(float(r["reconstruction_loss"])) for r in rows)

    resumed = Pretrainer.resume(tmp_path / "run", corpus.sampler(8, 32, holdout=2), workers=0)
    assert resumed.step == 30 and resumed.config.identity_weight == 1.0
    assert resumed.model.get_layer("arcface").margin == 0.3
    for a, b in zip(trainer.model.weights, resumed.model.weights):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert resumed.train(31)["step"] == 31
    assert np.isfinite(float(list(csv.DictReader(open(tmp_path / "run" / "losses.csv")))[-1]["identity_loss"]))


def _people(root: Path, counts: dict[int, int]) -> Path:
    """A folder corpus of synthetic people: identity i with counts[i] aligned photos."""
    from zoo.data.synthetic import SyntheticFaces, write_corpus

    faces = SyntheticFaces(len(counts), size=32, seed=0)
    write_corpus(root, faces, images_per_identity=max(counts.values()))
    folders = sorted((p for p in root.iterdir() if p.is_dir()), key=lambda p: p.name)
    for folder, n in zip(folders, [counts[i] for i in sorted(counts)]):
        for extra in sorted(folder.iterdir())[n:]:
            extra.unlink()
    return root


def test_min_photos_leaves_out_identities_with_fewer_photos(tmp_path):
    from zoo.data.corpus import open_corpus
    from zoo.errors import DataError

    root = _people(tmp_path / "people", {0: 3, 1: 1, 2: 3, 3: 1, 4: 3, 5: 1})
    corpus = open_corpus(f"folder:{root}", aligned=True)
    assert corpus.photo_counts().tolist() == [3, 1, 3, 1, 3, 1]
    sampler = corpus.sampler(8, 32, holdout=1, min_photos=2)
    assert sampler.train_ids.tolist() == [0, 2, 4] and sampler.held_ids.tolist() == [5]   # held out: as it was
    assert sampler.describe()["dropped_identities"] == 2 and sampler.describe()["min_photos"] == 2
    drawn = np.concatenate([sampler.batch(step)[1] for step in range(5)])
    assert set(drawn.tolist()) <= {0, 2, 4}
    assert corpus.sampler(8, 32, holdout=1).train_ids.tolist() == [0, 1, 2, 3, 4]          # 0: all
    with pytest.raises(DataError, match="--min-photos 4"):
        corpus.sampler(8, 32, holdout=1, min_photos=4)
    assert open_corpus("synthetic:5").sampler(4, 32, min_photos=50).train_ids.size == 5    # unbounded photos


def test_pretrain_job_records_the_objective_and_releases_the_encoder_alone(tmp_path):
    """`pretrain` with the head and --min-photos: pretrain.json, state.json and the release card say so,
    and the released encoder (and RUN/encoder.keras) hold no head layer. (A resume reads the config back:
    `test_identity_head_trains_and_its_checkpoint_resumes`.)"""
    import keras

    import hub
    from zoo.pretrain import PretrainConfig, pretrain
    from zoo.runspec import RunSpec

    root = _people(tmp_path / "people", {0: 3, 1: 1, 2: 3, 3: 3, 4: 1, 5: 3})
    hub_dir = str(tmp_path / "hub")
    config = PretrainConfig(steps=2, batch_size=4, size=32, chunk=1, decoder_width=16, identity_weight=0.5,
                            min_photos=2)
    lines: list[str] = []
    run = tmp_path / "run"
    result = pretrain(config, run_dir=run, corpus_spec=f"folder:{root}", aligned=True, holdout=1, eval_steps=0,
                      lfw_eval="none", hub=hub_dir, publish="team/arc", tag="v1", progress=False, echo=lines.append,
                      workers=0)
    assert "--min-photos 2: 3 training identities kept, 2 with fewer photos left out" in lines
    assert result["identity_objective"]["weight"] == 0.5 and result["min_photos"] == 2
    assert RunSpec.load(run).config.identity_weight == 0.5 and RunSpec.load(run).config.min_photos == 2
    state = json.loads((run / "state.json").read_text())
    assert state["meta"]["sampler"]["dropped_identities"] == 2
    manifest = json.loads((Path(hub.pull("team/arc", "v1", hub=hub_dir).path) / "facezoo.json").read_text())
    training = manifest["training"]
    assert training["identity_objective"]["margin"] == 0.5 and training["min_photos"] == 2
    assert training["training_identities"] == 3
    import zoo
    for enc in (keras.saving.load_model(run / "encoder.keras", compile=False, safe_mode=True),
                zoo.load_encoder("team/arc@v1", hub=hub_dir)):
        names = {layer.name for layer in enc.layers}
        assert not names & set(HEAD_LAYERS), names
        assert not any(type(layer).__name__ == "ArcMargin" for layer in enc.layers)


def test_cli_refuses_a_bad_identity_loss(tmp_path, capsys):
    from recipes import cli

    for bad in ("softmax", "arcface:weight=nope"):
        code = cli.main(["pretrain", "--corpus", "synthetic:4", "--run", str(tmp_path / "run"),
                         "--identity-loss", bad])
        err = capsys.readouterr().err
        assert code == 2 and "--identity-loss" in err and "arcface[:weight=W" in err, err
        assert "Traceback" not in err
    assert not (tmp_path / "run").exists()


def test_identity_loss_needs_two_training_identities(tmp_path):
    from zoo.errors import InputError
    from zoo.pretrain import PretrainConfig, pretrain

    config = PretrainConfig(steps=1, batch_size=2, size=32, identity_weight=1.0)
    with pytest.raises(InputError, match="--identity-loss needs labelled identities"):
        pretrain(config, run_dir=tmp_path / "run", corpus_spec="synthetic:3", holdout=2, progress=False,
                 echo=lambda *_: None)
    assert not (tmp_path / "run" / "state.json").exists()


_BACKEND_SCRIPT = textwrap.dedent("""
    import json, os
    import keras
    import numpy as np
    from _support import tiny_encoder
    from zoo.data.corpus import open_corpus
    from zoo.pretrain import PretrainConfig, Pretrainer, build_pretrain_model
    from zoo.layers import ArcMargin

    layer = ArcMargin(4, margin=0.5, scale=30.0)
    x = np.random.default_rng(0).normal(size=(3, 8)).astype("float32")
    logits = keras.ops.convert_to_numpy(layer(x, np.array([[0], [1], [3]])))
    w = keras.ops.convert_to_numpy(layer.kernel)
    corpus = open_corpus("synthetic:6")
    config = PretrainConfig(steps=3, batch_size=4, size=32, chunk=1, checkpoint_every=3, decoder_width=16,
                            identity_weight=1.0)
    build = lambda: build_pretrain_model(tiny_encoder(32), 6, size=32, decoder_width=16, inter="conv",
                                         inter_channels=16, identity_dim=16)
    trainer = Pretrainer.create(build, corpus.sampler(4, 32, holdout=1), os.path.join({tmp!r}, "run"), config,
                                workers=0)
    state = trainer.train(3)
    resumed = Pretrainer.resume(os.path.join({tmp!r}, "run"), corpus.sampler(4, 32, holdout=1), workers=0)
    print("RESULT " + json.dumps({{"x": x.tolist(), "w": w.tolist(), "logits": logits.tolist(),
                                  "losses": [l for _, l in state["losses"]], "step": resumed.step,
                                  "backend": keras.backend.backend()}}))
""")


@pytest.mark.parametrize("backend", [pytest.param("jax", marks=[pytest.mark.jax, pytest.mark.slow]),
                                     pytest.param("torch", marks=pytest.mark.torch)])
def test_identity_head_on_other_backends(tmp_path, backend):
    """keras.ops only: the layer's math and a short run with a resume on JAX and on torch (JAX's run took
    78 s on the loaded 2-core machine, so it is marked slow)."""
    pytest.importorskip(backend)
    script = tmp_path / "arc.py"
    script.write_text(_BACKEND_SCRIPT.format(tmp=str(tmp_path)))
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "2", "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests")])}
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=600)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stderr[-3000:]
    out = json.loads(lines[-1][7:])
    assert out["backend"] == backend and out["step"] == 3
    assert len(out["losses"]) == 3 and all(np.isfinite(out["losses"]))
    want = arcface_numpy(np.array(out["x"]), np.array(out["w"]), np.array([0, 1, 3]), 0.5, 30.0)
    np.testing.assert_allclose(np.array(out["logits"]), want, rtol=1e-4, atol=1e-3)
