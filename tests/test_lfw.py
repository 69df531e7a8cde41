"""LFW: the protocol files, the corpus and its View 1 split, and the verification score."""
import json
import subprocess
import sys

import numpy as np
import pytest

from zoo.data.lfw import Pair, parse_lfw_spec, read_pairs, read_people
from zoo.errors import DataError
from zoo.verification import accuracy_at, best_threshold, view1_accuracy, view2_accuracy, view2_valid

ROOT = __import__("pathlib").Path(__file__).resolve().parents[1]


# --- protocol files (written here, in LFW's own format) -------------------------------------------------

def test_read_pairs_one_fold_and_ten_folds(tmp_path):
    one = tmp_path / "pairsDevTest.txt"
    one.write_text("2\nA_B\t1\t2\nC_D\t1\t3\nA_B\t1\tC_D\t2\nE_F\t4\tA_B\t2\n")
    folds = read_pairs(one)
    assert len(folds) == 1 and len(folds[0]) == 4
    assert folds[0][0] == Pair("A_B", 1, "A_B", 2) and folds[0][0].same
    assert not folds[0][3].same and folds[0][3].name_b == "A_B"
    ten = tmp_path / "pairs.txt"
    ten.write_text("2\t1\n" + "X\t1\t2\nX\t1\tY\t1\n" + "Y\t1\t2\nY\t2\tX\t2\n")
    folds = read_pairs(ten)
    assert [len(f) for f in folds] == [2, 2] and folds[1][0] == Pair("Y", 1, "Y", 2)


def test_bad_pairs_files_name_the_line(tmp_path):
    bad = tmp_path / "pairs.txt"
    bad.write_text("1\nA\t1\t2\nA\t1\tB\n")
    with pytest.raises(DataError, match="line 3"):
        read_pairs(bad)
    short = tmp_path / "short.txt"
    short.write_text("2\nA\t1\t2\nA\t1\tB\t1\n")
    with pytest.raises(DataError, match="header says 1 fold"):
        read_pairs(short)


def test_read_people_skips_fold_headers(tmp_path):
    f = tmp_path / "people.txt"
    f.write_text("2\n1\nA_B\t3\n1\nC_D\t1\n")
    assert read_people(f) == [("A_B", 3), ("C_D", 1)]


def test_lfw_spec_options():
    assert parse_lfw_spec("/data/lfw") == (__import__("pathlib").Path("/data/lfw"), "devtrain", None)
    root, split, people = parse_lfw_spec("/data/lfw:people=60:split=devtest")
    assert (split, people) == ("devtest", 60)
    with pytest.raises(DataError, match="split=devtrain"):
        parse_lfw_spec("/data/lfw:split=train")


# --- the score's arithmetic --------------------------------------------------------------------------------

def test_best_threshold_is_the_best_on_its_pairs():
    rng = np.random.default_rng(0)
    same = rng.random(200) < 0.5
    scores = np.where(same, rng.normal(0.6, 0.2, 200), rng.normal(0.3, 0.2, 200))
    t = best_threshold(scores, same)
    brute = max(accuracy_at(scores, same, c) for c in np.concatenate([scores - 1e-9, scores + 1e-9]))
    assert accuracy_at(scores, same, t) == pytest.approx(brute)
    assert best_threshold([0.1, 0.2, 0.8, 0.9], [False, False, True, True]) == pytest.approx(0.5)


def test_view1_and_view2_choose_thresholds_on_held_out_pairs():
    # Train pairs separate at 0.5; test pairs at 0.0: a threshold fitted on the test pairs would score 1.0.
    r = view1_accuracy([0.4, 0.45, 0.55, 0.6], [False, False, True, True], [-0.1, -0.05, 0.05, 0.1],
                       [False, False, True, True])
    assert r["threshold"] == pytest.approx(0.5) and r["accuracy"] == 0.5 and r["train_accuracy"] == 1.0
    # Three folds separate at 0.5, the fourth is inverted: its threshold comes from the other three.
    folds_s = [np.array([0.1, 0.9]), np.array([0.2, 0.8]), np.array([0.15, 0.85]), np.array([0.95, 0.05])]
    folds_y = [np.array([False, True])] * 4
    r2 = view2_accuracy(folds_s, folds_y)
    assert r2["fold_accuracies"] == [1.0, 1.0, 1.0, 0.0]
    assert r2["accuracy"] == pytest.approx(0.75) and r2["std"] > 0


def test_view2_refused_for_encoders_trained_on_lfw():
    assert view2_valid({"corpus": {"kind": "synthetic", "name": "facezoo-synthetic-1000"}})[0]
    assert view2_valid({})[0]
    ok, why = view2_valid({"corpus": {"kind": "lfw", "name": "lfw-devtrain"}})
    assert not ok and "View 1" in why


# --- on the real LFW (skips without ../shared/face_data) -------------------------------------------------

def test_lfw_corpus_holds_out_devtest_people(face_data):
    from zoo.data.corpus import open_corpus
    from zoo.data.lfw import read_people

    lfw = face_data / "lfw"
    corpus = open_corpus(f"lfw:{lfw}:people=12")
    assert corpus.kind == "lfw" and not corpus.aligned
    train, held = corpus.split(5)
    devtrain = {n for n, _ in read_people(lfw / "peopleDevTrain.txt")}
    devtest = {n for n, _ in read_people(lfw / "peopleDevTest.txt")}
    assert {corpus.identities[i] for i in train} <= devtrain and len(train) == 12
    assert {corpus.identities[i] for i in held} <= devtest and len(held) == 5
    assert all(len(corpus.files[i]) >= 2 for i in held)
    summary = corpus.summary()
    assert summary["train_identities"] == 12 and summary["split"] == "devtrain"
    with pytest.raises(DataError, match="evaluation"):
        corpus.split(10_000)


def test_aligned_cache_is_named_by_its_crop_size_and_refuses_other_sizes(face_data, tmp_path):
    """A 64 px request writes crops of the size the default folder is named by (they were 64 px crops in
    the "-128" folder, which the 128 px LFW verification then upscaled); a cache holding crops of another
    size is refused with a DataError, not resized."""
    import cv2

    from zoo.data.corpus import align_sources, default_aligned_cache
    from zoo.data.aligned_cache import ALIGNED_MARKER, crop_size

    photos = sorted((face_data / "lfw" / "images_deepfunneled" / "Colin_Powell").glob("*.jpg"))[:2]
    cache = default_aligned_cache("lfw", face_data / "lfw", 64)
    assert cache == default_aligned_cache("lfw", face_data / "lfw", 128)   # one cache for both users
    crops = align_sources(photos, cache, 64, select="centre", progress=False)
    sizes = {cv2.imread(str(c)).shape[0] for found in crops.values() for c in found}
    assert sizes == {crop_size(64)} and cache.name.endswith(f"-{crop_size(64)}")
    assert json.loads((cache / ALIGNED_MARKER).read_text())["size"] == crop_size(64)
    # A cache filled by another writer at 64 px (the old behaviour) is detected, not used.
    old = tmp_path / "old-cache"
    old.mkdir()
    (old / ALIGNED_MARKER).write_text(json.dumps({"size": 64, "select": "centre"}))
    with pytest.raises(DataError, match="64 px crops"):
        align_sources(photos, old, 128, select="centre", progress=False, detector=object())


def test_lfw_aligned_once_nearest_centre_and_verified(face_data, tmp_path):
    """MTCNN + alignment on real photos into a shared cache; then a View 1 subset score of a random encoder."""
    import zoo
    from zoo.data.corpus import ensure_aligned, open_corpus
    from zoo.verification import lfw_verification

    lfw = face_data / "lfw"
    corpus = open_corpus(f"lfw:{lfw}:people=6")
    aligned = ensure_aligned(corpus, tmp_path / "cache", 64, progress=False)
    photos = corpus.image_count()
    assert aligned.aligned and aligned.image_count() >= 0.95 * photos
    assert aligned.identities[:len(aligned.identities)] and aligned.split(3)[1].size == 3
    records = [json.loads(line) for line in (tmp_path / "cache" / "alignments.jsonl").read_text().splitlines()]
    faces = [r for r in records if r["type"] == "face"]
    # One face per photo (the one nearest the centre), close to the middle of a 250 px LFW photo.
    assert len({r["source"] for r in faces}) == len(faces)
    centres = np.array([[(r["box"][0] + r["box"][2]) / 2, (r["box"][1] + r["box"][3]) / 2] for r in faces])
    assert np.all(np.abs(centres - 125) < 40)
    x, ids, y = aligned.sampler(4, 64, holdout=3).batch(0)
    assert x.shape == (4, 64, 64, 3) and set(ids.tolist()) <= set(aligned.split(3)[0].tolist())
    # A second alignment of the same photos starts no detector.
    again = ensure_aligned(open_corpus(f"lfw:{lfw}:people=6"), tmp_path / "cache", 64, detector=object())
    assert again.image_count() == aligned.image_count()

    encoder = zoo.build_encoder("mobilenet-face", input_size=32)
    result = lfw_verification(encoder, lfw, view=1, cache_dir=tmp_path / "cache", max_pairs=6)
    assert result["pairs"] == 12 and result["subset"] and result["valid"]
    assert 0.0 <= result["accuracy"] <= 1.0 and result["photos"] <= 48
    with pytest.raises(DataError, match="View 2 refused"):
        lfw_verification(encoder, lfw, view=2, manifest={"corpus": {"kind": "lfw"}}, max_pairs=2,
                         cache_dir=tmp_path / "cache")


def test_bench_lfw_cli(face_data, tmp_path):
    out = tmp_path / "lfw.json"
    env = dict(__import__("os").environ, FACEZOO_FACE_DATA=str(face_data))
    proc = subprocess.run([sys.executable, "-m", "recipes.cli", "bench", "lfw", "--encoder", "random:mobilenet-face",
                           "--size", "32", "--view", "2", "--max-pairs", "3", "--json", str(out)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "LFW View 2" in proc.stdout and "FaceNet 99.63%" in proc.stdout and "not LFW's score" in proc.stdout
    result = json.loads(out.read_text())
    assert result["view"] == 2 and len(result["fold_accuracies"]) == 10 and result["pairs"] == 60
    missing = subprocess.run([sys.executable, "-m", "recipes.cli", "bench", "lfw", "--encoder", "random:mobilenet-face",
                              "--lfw", str(tmp_path / "nope")], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert missing.returncode == 2 and "does not exist" in missing.stderr and "Traceback" not in missing.stderr


def test_committed_lfw_release_loads_verified(tmp_path):
    """The committed LFW-pretrained release loads through its sha256 manifest, and a flipped byte is refused."""
    import shutil

    import zoo
    from zoo.errors import IntegrityError

    release = ROOT / "releases" / "mobilenet-face-lfw-v1"
    manifest = json.loads((release / "facezoo.json").read_text())
    assert manifest["corpus"]["kind"] == "lfw" and manifest["metrics"]["lfw_view1_accuracy"] > 0.5
    encoder = zoo.load_encoder(str(release))
    assert encoder.input_shape[1:] == (64, 64, 3) and not encoder.trainable
    bad = tmp_path / "bad"
    shutil.copytree(release, bad)
    data = bytearray((bad / "model.weights.h5").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (bad / "model.weights.h5").write_bytes(bytes(data))
    with pytest.raises(IntegrityError):
        zoo.load_encoder(str(bad))


def test_committed_lfw_release_card_carries_the_real_pair_evidence():
    """The release the real-pair experiment used shows that experiment's results, generated from the
    committed results file (`facezoo publish --evidence benchmarks/results/time_to_quality_real.json`)."""
    from zoo.bench.evidence import evidence_metadata

    release = ROOT / "releases" / "mobilenet-face-lfw-v1"
    evidence = json.loads((release / "facezoo.json").read_text())["evidence"]
    assert evidence["source"] == "benchmarks/results/time_to_quality_real.json"
    expected = evidence_metadata(ROOT / evidence["source"])
    assert evidence["arms"] == expected["arms"] and evidence["claims"] == expected["claims"]
    card = (release / "README.md").read_text()
    assert "Does staged unfreezing pay?" in card
    for line in expected["claims"]:
        assert line in card


@pytest.mark.slow
def test_quickstart_on_lfw(face_data, tmp_path):
    """`facezoo quickstart --corpus lfw:PATH`: real people end to end; the release says it saw LFW."""
    from zoo.verification import view2_valid

    out, hub_dir = tmp_path / "qs", tmp_path / "hub"
    proc = subprocess.run([sys.executable, "-m", "recipes.cli", "quickstart", "--corpus", f"lfw:{face_data / 'lfw'}",
                           "--encoder", "mobilenet-face", "--identities", "2", "--images", "4", "--pretrain-steps", "2",
                           "--steps", "3", "--out", str(out), "--hub", str(hub_dir), "--quiet"],
                          cwd=ROOT, capture_output=True, text=True, timeout=1500)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "DevTest pair Donald_Rumsfeld / Gerhard_Schroeder" in proc.stdout and "Traceback" not in proc.stderr
    summary = json.loads((out / "quickstart.json").read_text())
    assert summary["pretrain"]["identities"] == 2 and summary["pair"]["steps"] == 3
    import hub
    snap = hub.pull(summary["encoder"]["repo_id"], summary["encoder"]["revision"], hub=str(hub_dir))
    assert snap.manifest["corpus"]["kind"] == "lfw" and not view2_valid(snap.manifest)[0]
    assert (out / "report.html").is_file()
