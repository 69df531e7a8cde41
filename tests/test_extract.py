"""Extraction end to end with the real MTCNN: astronaut, bad files, video, kill-and-resume, JAX backend."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from _support import make_bad_files
from zoo.data import align
from zoo.data.extract import ALIGNMENTS_FILE, DELAY_ENV, extract, face_records, read_alignments
from zoo.errors import InputError

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def detector():
    from zoo.data.detect import FaceDetector

    det = FaceDetector(min_face_size=20).start()
    yield det
    det.close()


@pytest.fixture(scope="module")
def astronaut():
    skimage_data = pytest.importorskip("skimage.data")
    return skimage_data.astronaut()


def _write(path, rgb):
    cv2.imwrite(str(path), np.ascontiguousarray(rgb[:, :, ::-1]))
    return path


def test_astronaut_face_landmarks_and_aligned_crop(tmp_path, detector, astronaut):
    src = _write(tmp_path / "astronaut.png", astronaut)
    report = extract([src], tmp_path / "out", size=256, detector=detector, progress=False)
    assert (report.faces, report.frames, report.extracted) == (1, 1, 1)
    records = read_alignments(tmp_path / "out" / ALIGNMENTS_FILE)
    (face,) = face_records(records)
    assert [r["type"] for r in records] == ["face", "done"]
    assert face["source"] == str(src.resolve()) and face["frame"] == 0 and face["face"] == 0
    assert face["template"] == align.TEMPLATE_NAME and face["size"] == 256 and face["score"] > 0.99
    x0, y0, x1, y1 = face["box"]
    lm = np.array(face["landmarks"])
    assert ((lm[:, 0] > x0) & (lm[:, 0] < x1) & (lm[:, 1] > y0) & (lm[:, 1] < y1)).all()
    (lex, ley), (rex, rey), (nx, ny), (mlx, mly), (mrx, mry) = lm
    assert lex < nx < rex and mlx < mrx                      # image-left first
    assert max(ley, rey) < ny < min(mly, mry)                 # eyes above nose above mouth
    assert 180 < x0 < lex and rex < x1 < 280 and 50 < y0 < 110  # her face, top left of the picture
    crop = cv2.imread(str(tmp_path / "out" / face["crop"]))[:, :, ::-1]
    assert crop.shape == (256, 256, 3)
    template = align.template_landmarks(256)
    np.testing.assert_allclose(face["landmarks_crop"], align.transform_points(lm, face["matrix"]), atol=0.01)
    residual = np.abs(np.array(face["landmarks_crop"]) - template)
    assert residual[:2].max() < 4 and residual.max() < 8  # a least-squares fit of 5 points
    (again,) = detector.detect([np.ascontiguousarray(crop)])[0:1]
    assert len(again) == 1
    assert np.abs(again[0].landmarks[:2] - template[:2]).max() < 6  # eyes where the template says


def test_bad_files_are_skipped_with_reasons_and_resume(tmp_path, detector, astronaut):
    inp = tmp_path / "in"
    inp.mkdir()
    expected = make_bad_files(inp, astronaut)
    out = tmp_path / "out"
    report = extract([inp], out, size=128, detector=detector, progress=False)
    records = read_alignments(out)
    by_name = {}
    for r in records:
        by_name.setdefault(Path(r["source"]).name, []).append(r)
    assert set(by_name) == set(expected)
    for name, reason in expected.items():
        kinds = [r["type"] for r in by_name[name]]
        assert kinds[-1] == "done", name
        if reason is None:  # converted, and the face is found
            assert kinds == ["face", "done"], (name, by_name[name])
        else:
            assert [r["reason"] for r in by_name[name] if r["type"] == "skip"] == [reason], name
    # Stored sideways (MTCNN finds no face then); found only because the EXIF orientation was applied.
    rotated = next(r for r in by_name["rotated.jpg"] if r["type"] == "face")
    le, re = np.array(rotated["landmarks"][:2])
    assert le[0] < re[0] - 25 and abs(le[1] - re[1]) < 10
    assert report.faces == 4 and sum(report.skipped.values()) == 6
    assert "skipped 6" in report.summary()
    # Resume: nothing is read again and nothing is added.
    again = extract([inp], out, size=128, detector=detector, progress=False)
    assert (again.resumed, again.extracted, again.faces) == (len(expected), 0, 0)
    assert read_alignments(out) == records


def test_video_frames_are_extracted_with_indices(tmp_path, detector, astronaut):
    small = cv2.resize(astronaut, (256, 256))
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25, (256, 256))
    for i in range(7):
        writer.write(np.ascontiguousarray(np.roll(small, 3 * i, axis=1)[:, :, ::-1]))
    writer.release()
    report = extract([path], tmp_path / "out", size=64, every_n=3, detector=detector, progress=False,
                     largest_only=True)
    faces = face_records(read_alignments(tmp_path / "out"))
    assert [f["frame"] for f in faces] == [0, 3, 6] and report.frames == 3
    assert len({f["crop"] for f in faces}) == 3
    assert all((tmp_path / "out" / f["crop"]).is_file() for f in faces)
    shift = faces[2]["box"][0] - faces[0]["box"][0]
    assert 15 < shift < 21  # the face moved 18 px to the right


def test_killed_then_rerun_has_each_face_once(tmp_path, detector, astronaut):
    inp = tmp_path / "in"
    inp.mkdir()
    small = cv2.resize(astronaut, (256, 256))
    for i in range(5):
        _write(inp / f"img{i}.png", np.roll(small, 2 * i, axis=0))
    out = tmp_path / "out"
    env = dict(os.environ, **{DELAY_ENV: "0.4"})
    proc = subprocess.Popen([sys.executable, "-m", "recipes.extract", str(inp), "-o", str(out), "--size", "64",
                             "--batch-size", "2", "--no-progress"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    journal = out / ALIGNMENTS_FILE
    deadline = time.time() + 60
    try:
        while time.time() < deadline and proc.poll() is None:
            if journal.exists() and journal.read_bytes().count(b'"type":"face"') >= 2:
                break
            time.sleep(0.05)
        time.sleep(0.2)  # somewhere inside the next face
        assert proc.poll() is None, "the extraction ended before it could be killed"
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    assert sum(r["type"] == "done" for r in read_alignments(out)) < 5  # really cut off
    report = extract([inp], out, size=64, batch_size=2, detector=detector, progress=False)
    assert report.resumed + report.extracted == 5
    records = read_alignments(out)
    faces = face_records(records)
    keys = [(f["source"], f["frame"], f["face"]) for f in faces]
    assert len(keys) == len(set(keys)) == 5
    assert len([r for r in records if r["type"] == "face"]) == 5
    assert sum(r["type"] == "done" for r in records) == 5
    assert sorted(p.name for p in out.iterdir()) == sorted([ALIGNMENTS_FILE] + [f["crop"] for f in faces])
    json.loads(journal.read_text().splitlines()[-1])


def test_detection_under_jax_backend(tmp_path, astronaut):
    pytest.importorskip("jax")
    src = _write(tmp_path / "a.png", astronaut)
    code = ("import keras, sys; assert keras.backend.backend() == 'jax'\n"
            "from zoo.data.detect import FaceDetector\n"
            "from zoo.data.images import read_image\n"
            f"det = FaceDetector(); faces = det.detect([read_image({str(src)!r})]); det.close()\n"
            "assert det.mode == 'worker', det.mode\n"
            "print(len(faces[0]), round(faces[0][0].score, 3))\n")
    env = dict(os.environ, KERAS_BACKEND="jax")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=900)
    assert out.returncode == 0, out.stderr[-2000:]
    n, score = out.stdout.split()
    assert n == "1" and float(score) > 0.99


def test_min_size_larger_than_every_still_image_is_refused_before_the_first_image(tmp_path):
    """A --min-size no input photo can hold is refused up front (sizes from the headers: PNG and JPEG),
    naming the largest image and a value that works; nothing is written. Photos too small among
    others that fit are not a reason to refuse (they are skipped one by one as they are met)."""
    import cv2

    from zoo.data.extract import _check_min_size_images

    photos = tmp_path / "photos"
    photos.mkdir()
    cv2.imwrite(str(photos / "a.png"), np.zeros((80, 100, 3), np.uint8))
    cv2.imwrite(str(photos / "b.jpg"), np.zeros((90, 60, 3), np.uint8))
    out = tmp_path / "out"
    with pytest.raises(InputError, match=r"min-size 120 px is larger than the shorter side of every input image "
                                         r"\(the largest is 100x80.*min-size 20 or less"):
        extract([photos], out, size=64, min_size=120, progress=False)
    assert not (out / "alignments.jsonl").exists()
    cv2.imwrite(str(photos / "c.png"), np.zeros((300, 300, 3), np.uint8))
    _check_min_size_images(sorted(photos.iterdir()), 120, videos=False)   # c.png can hold such a face
