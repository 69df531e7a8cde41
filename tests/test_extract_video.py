"""Video extraction that never fails silently (issue 31), with the real MTCNN on a real clip from ../shared.

The 480-px-wide portrait clip with --min-size 80 found 0 faces in every frame (mtcnn's pyramid fell below
PNet's 12 px), exited 0, and a rerun with other settings kept the old result; logs showed no progress.
"""
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from zoo.data.extract import extract, face_records, read_alignments
from zoo.data.pnet import PNET_INPUT, pyramid_scales
from zoo.errors import InputError

ROOT = Path(__file__).resolve().parents[1]
CLIP = ROOT.parent / "shared" / "face_data" / "videos" / "speaker1.mp4"
needs_clip = pytest.mark.skipif(not CLIP.is_file(), reason=f"real clip {CLIP} absent (../shared/face_data)")


def portrait_clip(path, frames=3, width=480, height=854, blank=False):
    """speaker1's first frames scaled to 480 px wide and padded to a portrait frame (as phones film)."""
    cap = cv2.VideoCapture(str(CLIP))
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 22, (width, height))
    for _ in range(frames):
        ok, frame = cap.read()
        assert ok
        out = np.zeros((height, width, 3), np.uint8)
        if not blank:
            top = (height - width) // 2
            out[top:top + width] = cv2.resize(frame, (width, width), interpolation=cv2.INTER_AREA)
        writer.write(out)
    writer.release()
    cap.release()
    return path


@pytest.fixture(scope="module")
def detector():
    from zoo.data.detect import FaceDetector

    det = FaceDetector(min_face_size=80).start()
    yield det
    det.close()


def test_pyramid_never_goes_below_pnet_input():
    from mtcnn.utils.images import build_scale_pyramid

    for w, h, m in [(480, 854, 80), (1280, 720, 20), (700, 700, 150), (48, 48, 12)]:
        scales = pyramid_scales(w, h, m)
        assert len(scales) and min(w, h) * scales.min() >= PNET_INPUT
        assert scales[0] == pytest.approx(PNET_INPUT / m)
    # mtcnn's own pyramid (the cause): its last level of a 480 px side at min face 80 is ~3 px
    assert 480 * build_scale_pyramid(480, 854, 80, 0.709).min() < PNET_INPUT
    assert len(pyramid_scales(30, 30, 40)) == 0


@needs_clip
def test_portrait_clip_with_large_min_size_finds_every_face(tmp_path, detector):
    clip = portrait_clip(tmp_path / "portrait.avi", frames=3)
    report = extract([clip], tmp_path / "out", size=64, min_size=80, detector=detector, progress=False)
    assert report.faces == 3 and not report.skipped, report.summary()
    faces = face_records(read_alignments(tmp_path / "out"))
    assert [f["frame"] for f in faces] == [0, 1, 2]
    assert all(100 < f["box"][2] - f["box"][0] < 300 for f in faces)  # the speaker's face, not a speck
    assert report.problem() is None


@needs_clip
def test_min_size_larger_than_the_frame_is_refused_before_the_first_frame(tmp_path, detector):
    clip = portrait_clip(tmp_path / "portrait.avi", frames=1)
    with pytest.raises(InputError, match=r"min-size 600 px is larger than the shorter side .*480x854"):
        extract([clip], tmp_path / "out", size=64, min_size=600, detector=detector, progress=False)
    assert not (tmp_path / "out" / "alignments.jsonl").exists()


@needs_clip
def test_rerun_with_other_settings_redoes_and_says_so(tmp_path, detector):
    clip = portrait_clip(tmp_path / "portrait.avi", frames=2)
    out = tmp_path / "out"
    first = extract([clip], out, size=64, min_size=300, detector=detector, progress=False)
    assert first.faces == 0 and "no face found in any of 2 frames" in first.problem()
    again = extract([clip], out, size=64, min_size=300, detector=detector, progress=False)
    assert again.resumed == 1 and again.frames == 0 and again.problem() is None
    second = extract([clip], out, size=64, min_size=80, detector=detector, progress=False)
    assert second.resumed == 0 and second.redone == 1 and second.faces == 2
    assert "redone: the settings changed (min_size 300 -> 80)" in second.summary()
    records = read_alignments(out)
    assert [r["type"] for r in records] == ["face", "face", "done"]
    assert records[-1]["settings"]["min_size"] == 80


@needs_clip
def test_progress_lines_when_not_a_terminal(tmp_path, detector, capsys):
    clip = portrait_clip(tmp_path / "portrait.avi", frames=3)
    extract([clip], tmp_path / "out", size=64, min_size=80, detector=detector, progress=None,
            progress_every_s=0)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("extract: ")]
    assert lines[0].startswith("extract: 1/3 frames") and lines[-1].startswith("extract: 3/3 frames, 3 faces")


@needs_clip
def test_cli_exits_non_zero_with_the_reason_when_no_face_is_found(tmp_path):
    clip = portrait_clip(tmp_path / "blank.avi", frames=2, blank=True)
    out = subprocess.run([sys.executable, "-m", "recipes.cli", "extract", str(clip), "-o", str(tmp_path / "o"),
                          "--size", "64", "--min-size", "80"], cwd=ROOT, capture_output=True, text=True,
                         timeout=600)
    assert out.returncode != 0
    assert "no face found in any of 2 frames" in out.stderr and "Lower --min-size" in out.stderr


def clip_frames(n, side=360):
    cap = cv2.VideoCapture(str(CLIP))
    frames = [cv2.resize(cap.read()[1], (side, side), interpolation=cv2.INTER_AREA)[:, :, ::-1].copy()
              for _ in range(n)]
    cap.release()
    return frames


@needs_clip
def test_tracker_follows_the_face_with_one_full_frame_and_agrees_with_it():
    from zoo.data.detect import FaceDetector
    from zoo.data.track import VideoTracker

    frames = clip_frames(8)
    with FaceDetector(min_face_size=40) as det:
        tracker = VideoTracker(det)
        tracked = tracker.detect(frames[:4]) + tracker.detect(frames[4:])  # two batches, one track
        assert tracker.full_frames == 1 and all(len(f) == 1 for f in tracked)
        for k in (3, 7):
            (full,) = det.detect([frames[k]])[0][:1]
            eye = np.linalg.norm(full.landmarks[1] - full.landmarks[0])
            err = np.linalg.norm(tracked[k][0].landmarks - full.landmarks, axis=1).mean() / eye
            assert err < 0.1, (k, err)


@needs_clip
def test_tracker_sends_a_frame_whose_face_jumped_to_the_full_detector():
    from zoo.data.detect import FaceDetector
    from zoo.data.track import VideoTracker

    frames = clip_frames(3)
    cut = np.zeros_like(frames[2])
    cut[:, :-100] = frames[2][:, 100:]
    frames.append(cut)  # a cut: the face is 100 px further left
    with FaceDetector(min_face_size=40) as det:
        tracker = VideoTracker(det)
        tracked = tracker.detect(frames)
    assert tracker.full_frames == 2 and [len(f) for f in tracked] == [1, 1, 1, 1]
    shift = tracked[2][0].box[0] - tracked[3][0].box[0]
    assert 90 < shift < 110


def test_a_run_that_failed_on_every_frame_for_one_reason_names_it():
    from zoo.data.extract import ExtractReport

    report = ExtractReport(out_dir=Path("out"), frames=5)
    report.skipped["detect-failed"] = 5
    report.details["detect-failed"] = "ValueError: The convolution operation resulted in an empty output."
    assert "failed on every one of 5 frames: ValueError: The convolution" in report.problem()
    report.faces = 1
    assert report.problem() is None
