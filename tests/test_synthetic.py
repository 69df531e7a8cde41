"""zoo.data.synthetic: determinism, scale, identity consistency, MTCNN-detectability, corpus writing."""
from __future__ import annotations

import json
import time

import numpy as np
import pytest

from zoo.data.synthetic import (IDENTITY_FIELDS, LANDMARK_NAMES, SyntheticFaces, identity_name, preview_grid,
                                write_corpus, write_preview_grid)
from zoo.errors import DataError


def test_render_shapes_dtype_and_truth():
    faces = SyntheticFaces(10, size=64, seed=0)
    image, truth = faces.render(3, 7)
    assert image.shape == (64, 64, 3) and image.dtype == np.uint8
    assert truth["landmarks"].shape == (5, 2) and truth["box"].shape == (4,) and truth["pose"].shape == (3,)
    assert (truth["identity"], truth["index"]) == (3, 7)
    x0, y0, x1, y1 = truth["box"]
    assert 0 <= x0 < x1 <= 64 and 0 <= y0 < y1 <= 64
    le, re, nose, ml, mr = truth["landmarks"]
    assert le[0] < re[0] and ml[0] < mr[0]           # "left" is the image's left
    assert max(le[1], re[1]) < nose[1] < min(ml[1], mr[1]) + 2   # eyes above nose above mouth
    assert image.std() > 10                            # not blank
    images, truths = faces.batch([1, 2, 3], [0, 0, 5])
    assert images.shape == (3, 64, 64, 3) and images.dtype == np.uint8
    assert truths["landmarks"].shape == (3, 5, 2) and truths["box"].shape == (3, 4)
    assert truths["identity"].tolist() == [1, 2, 3] and truths["index"].tolist() == [0, 0, 5]
    assert len(LANDMARK_NAMES) == 5


def test_deterministic_bytes_and_order_independent():
    a = SyntheticFaces(50, size=96, seed=7)
    b = SyntheticFaces(10_000, size=96, seed=7)        # identity 12 does not depend on the count
    img_a, truth_a = a.render(12, 4)
    img_b, truth_b = b.render(12, 4)
    assert img_a.tobytes() == img_b.tobytes()
    np.testing.assert_array_equal(truth_a["landmarks"], truth_b["landmarks"])
    batch, truths = a.batch([30, 12, 5], [1, 4, 2])     # batch neighbours do not matter either
    assert batch[1].tobytes() == img_a.tobytes()
    np.testing.assert_array_equal(truths["landmarks"][1], truth_a["landmarks"].astype(np.float32))
    cheap = a.truth(12, 4)                             # ground truth without drawing
    np.testing.assert_array_equal(cheap["landmarks"], truth_a["landmarks"])
    np.testing.assert_array_equal(a.identity(12).vector, b.identity(12).vector)


def test_different_seeds_and_identities_differ():
    img0, _ = SyntheticFaces(5, size=64, seed=0).render(1, 0)
    img1, _ = SyntheticFaces(5, size=64, seed=1).render(1, 0)
    assert np.abs(img0.astype(int) - img1.astype(int)).mean() > 5
    faces = SyntheticFaces(5, size=64, seed=0)
    assert not np.array_equal(faces.identity(0).vector, faces.identity(1).vector)


def test_images_of_one_identity_vary():
    faces = SyntheticFaces(3, size=64, seed=0)
    images, truths = faces.batch([2] * 6, range(6))
    diffs = [np.abs(images[i].astype(int) - images[j].astype(int)).mean() for i in range(6) for j in range(i)]
    assert min(diffs) > 3
    assert np.ptp(truths["pose"][:, 0]) > 5          # the yaw varies
    assert len({tuple(np.round(t, 1)) for t in truths["landmarks"].reshape(6, -1)}) == 6


def test_ten_thousand_identities_construct_fast_and_render():
    start = time.perf_counter()
    faces = SyntheticFaces(10_000, size=128, seed=0)
    table = faces.identity_table()                     # every identity's parameter vector at once
    assert time.perf_counter() - start < 1.0
    assert table.shape == (10_000, len(IDENTITY_FIELDS)) and np.isfinite(table).all()
    assert len(np.unique(table.round(6), axis=0)) == 10_000
    ident = faces.identity(9_999)
    assert ident.index == 9_999 and 0.5 < ident.face_height < 2 and set(ident.as_dict()) == set(IDENTITY_FIELDS)
    images, _ = faces.batch([0, 4_321, 9_999], [0, 1, 2])
    assert images.shape == (3, 128, 128, 3)
    with pytest.raises(DataError, match="10000"):
        faces.render(10_000, 0)
    with pytest.raises(AttributeError, match="no field"):
        ident.not_a_field


def test_held_out_split_and_stream():
    faces = SyntheticFaces(100, size=64, seed=0)
    train, held = faces.split(held_out=20)
    assert (train, held) == (range(0, 80), range(80, 100))
    assert faces.split(0.1) == (range(0, 90), range(90, 100))
    with pytest.raises(DataError):
        faces.split(100)
    stream = faces.stream(8, rng=3, identities=held, images_per_identity=5)
    images, ids, truths = next(stream)
    assert images.shape == (8, 64, 64, 3) and ids.shape == (8,)
    assert all(80 <= i < 100 for i in ids) and truths["index"].max() < 5
    again, ids2, _ = next(SyntheticFaces(100, size=64, seed=0).stream(8, rng=3, identities=held,
                                                                      images_per_identity=5))
    assert again.tobytes() == images.tobytes() and ids2.tolist() == ids.tolist()


def _nearest_centroid_accuracy(x, ids, train):
    x = x.reshape(len(x), -1).astype(np.float32) / 255.0
    classes = np.unique(ids)
    centroids = np.stack([x[train & (ids == c)].mean(0) for c in classes])
    test = ~train
    dist = ((x[test][:, None, :] - centroids[None]) ** 2).sum(-1)
    return float((classes[dist.argmin(1)] == ids[test]).mean())


def test_identities_are_separable_on_raw_pixels():
    """Two images of one person look alike, two people differ: nearest centroid on raw 64 px pixels."""
    n_ids, n_train, n_test = 20, 10, 5
    faces = SyntheticFaces(n_ids, size=64, seed=0)
    ids = np.repeat(np.arange(n_ids), n_train + n_test)
    index = np.tile(np.arange(n_train + n_test), n_ids)
    images, _ = faces.batch(ids, index)
    chance = 1.0 / n_ids
    whole = _nearest_centroid_accuracy(images, ids, index < n_train)      # background, clothes and all
    face = _nearest_centroid_accuracy(images[:, 16:48, 16:48], ids, index < n_train)
    assert whole > 3 * chance, whole
    assert face > 6 * chance, face


def test_mtcnn_detects_faces_and_landmarks_match_truth():
    pytest.importorskip("mtcnn")
    from mtcnn import MTCNN
    faces = SyntheticFaces(1000, size=128, seed=0)
    n = 40
    images, truths = faces.batch(np.arange(n) * 23 % 1000, np.arange(n) % 7)
    results = MTCNN().detect_faces(list(images))
    errors, found = [], 0
    for dets, lms in zip(results, truths["landmarks"]):
        if not dets:
            continue
        centre = lms.mean(0)
        det = min(dets, key=lambda d: np.hypot(d["box"][0] + d["box"][2] / 2 - centre[0],
                                               d["box"][1] + d["box"][3] / 2 - centre[1]))
        points = np.array([det["keypoints"][name] for name in LANDMARK_NAMES], float)
        iod = np.linalg.norm(lms[1] - lms[0])
        errors.append(np.linalg.norm(points - lms, axis=1) / iod)
        found += 1
    errors = np.array(errors)
    assert found / n >= 0.9, f"MTCNN found {found} of {n} faces"
    # Measured: mean error ~0.065 inter-ocular distances (eyes ~0.05, nose ~0.1).
    assert errors.mean() < 0.10, errors.mean(0)
    assert errors.mean(0).max() < 0.16, errors.mean(0)


def test_write_corpus_layout_idempotent_and_guarded(tmp_path):
    faces = SyntheticFaces(3, size=64, seed=5)
    root = tmp_path / "corpus"
    summary = write_corpus(root, faces, images_per_identity=2)
    assert summary["written"] == 6 and summary["images"] == 6
    files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*.png"))
    assert files == [f"{identity_name(i)}/{j:05d}.png" for i in range(3) for j in range(2)]
    records = [json.loads(line) for line in (root / "landmarks.jsonl").read_text().splitlines()]
    assert [r["path"] for r in records] == files
    assert records[0]["identity"] == "id00000" and len(records[0]["landmarks"]) == 5 and len(records[0]["box"]) == 4
    import cv2
    on_disk = cv2.imread(str(root / files[3]))[..., ::-1]
    assert on_disk.tobytes() == faces.render(1, 1)[0].tobytes()
    np.testing.assert_allclose(records[3]["landmarks"], faces.truth(1, 1)["landmarks"], atol=0.01)
    before = {f: (root / f).read_bytes() for f in files}
    jsonl = (root / "landmarks.jsonl").read_bytes()
    (root / files[2]).unlink()
    again = write_corpus(root, faces, images_per_identity=2)
    assert again["written"] == 1
    assert {f: (root / f).read_bytes() for f in files} == before
    assert (root / "landmarks.jsonl").read_bytes() == jsonl
    assert not list(root.rglob("*.tmp"))
    with pytest.raises(DataError, match="seed"):
        write_corpus(root, SyntheticFaces(3, size=64, seed=6), images_per_identity=2)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "x.txt").write_text("x")
    with pytest.raises(DataError, match="not a synthetic corpus"):
        write_corpus(tmp_path / "other", faces, images_per_identity=1)


def test_cli_synth_writes_corpus_and_preview(tmp_path, capsys):
    from recipes.cli import main
    out = tmp_path / "synth"
    args = ["synth", "-o", str(out), "--identities", "3", "--images-per-identity", "2", "--size", "64",
            "--seed", "1", "--first-identity", "40", "--preview", "--quiet"]
    assert main(args) == 0
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["id00040", "id00041", "id00042"]
    lines = (out / "landmarks.jsonl").read_text().splitlines()
    assert len(lines) == 6 and json.loads(lines[0])["path"] == "id00040/00000.png"
    assert (out / "preview.png").stat().st_size > 0
    assert "6 written" in capsys.readouterr().out
    assert main(args) == 0
    assert "0 written, 6 already there" in capsys.readouterr().out
    assert main(["synth", "-o", str(out), "--identities", "0"]) == 2
    assert "--identities" in capsys.readouterr().err


def test_no_tensorflow_in_the_data_path():
    import subprocess
    import sys
    code = ("import sys, zoo.data.synthetic as s; s.SyntheticFaces(2, size=32).render(1, 0); "
            "sys.exit('tensorflow' in sys.modules or 'keras' in sys.modules)")
    from pathlib import Path
    root = Path(__file__).resolve().parents[1]
    assert subprocess.run([sys.executable, "-c", code], cwd=root, timeout=60).returncode == 0


def test_preview_grid(tmp_path):
    grid = preview_grid(identities=2, images=3, size=64, seed=0)
    assert grid.shape == (128, 192, 3)
    # Row r, column c holds identity r's image c.
    faces = SyntheticFaces(2, size=64, seed=0)
    assert grid[64:128, 128:192].tobytes() == faces.render(1, 2)[0].tobytes()
    path = write_preview_grid(tmp_path / "p.png", identities=2, images=3, size=64, seed=0)
    import cv2
    assert cv2.imread(str(path)).shape == (128, 192, 3)
