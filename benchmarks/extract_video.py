"""Video extraction speed on a 720p clip: plain MTCNN per full frame (the anchor) vs `facezoo extract`.

The clip is made from a real talking-head clip in ../shared/face_data/videos (scaled to 720 px high and
padded to 1280x720), written to a temp folder (never committed). In one run, on the same frames:
  anchor:  FaceDetector.detect([frame]) on every full frame (MTCNN called per frame, min face 20 px)
  facezoo: zoo.data.extract.extract(clip) with its defaults (video faces followed between key frames,
           zoo.data.track), which also aligns, writes crops and the alignments file
  untracked: the same with track=False (MTCNN on every full frame in batches: extract before issue 31)
and, as a check of agreement, the mean distance between the anchor's and extract's 5 landmarks per face,
as a fraction of the eye distance. Prints faces/s side by side and their ratio.

    python benchmarks/extract_video.py [--frames 60] [--clip ../shared/face_data/videos/speaker1.mp4]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def make_720p(src: Path, dst: Path, frames: int) -> int:
    import cv2
    import numpy as np

    cap = cv2.VideoCapture(str(src))
    writer = cv2.VideoWriter(str(dst), cv2.VideoWriter_fourcc(*"MJPG"), 25, (1280, 720))
    n = 0
    while n < frames:
        ok, frame = cap.read()
        if not ok:
            break
        h, w = frame.shape[:2]
        new_w = int(round(w * 720 / h))
        canvas = np.zeros((720, 1280, 3), np.uint8)
        x0 = (1280 - new_w) // 2
        canvas[:, x0:x0 + new_w] = cv2.resize(frame, (new_w, 720), interpolation=cv2.INTER_AREA)
        writer.write(canvas)
        n += 1
    writer.release()
    cap.release()
    return n


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clip", default=str(ROOT.parent / "shared" / "face_data" / "videos" / "speaker1.mp4"))
    parser.add_argument("--frames", type=int, default=60)
    args = parser.parse_args()
    if not Path(args.clip).is_file():
        print(f"clip not found: {args.clip} (../shared/face_data); nothing measured")
        return 1

    import numpy as np

    from zoo.data.detect import FaceDetector
    from zoo.data.extract import extract, face_records, read_alignments
    from zoo.data.video import iter_frames

    with tempfile.TemporaryDirectory(prefix="facezoo-extract-video-") as tmp:
        clip = Path(tmp) / "clip720.avi"
        n = make_720p(Path(args.clip), clip, args.frames)
        with FaceDetector(min_face_size=20) as detector:
            detector.detect([np.zeros((720, 1280, 3), np.uint8)])  # load and trace before the clocks

            t0 = time.perf_counter()
            anchor = {}
            for index, rgb in iter_frames(clip):
                faces = detector.detect([rgb])[0]
                anchor[index] = [f for f in faces if f.score >= 0.9]
            anchor_s = time.perf_counter() - t0
            anchor_faces = sum(len(v) for v in anchor.values())

            report = extract([clip], Path(tmp) / "out", size=256, detector=detector, progress=False)
            plain = extract([clip], Path(tmp) / "plain", size=256, detector=detector, progress=False, track=False)
        ours = face_records(read_alignments(Path(tmp) / "out"))
        errs = []
        for r in ours:
            ref = anchor.get(r["frame"]) or []
            if not ref:
                continue
            lm = np.asarray(r["landmarks"])
            best = min(ref, key=lambda f: np.abs(f.landmarks - lm).mean())
            eye = np.linalg.norm(best.landmarks[1] - best.landmarks[0])
            errs.append(np.linalg.norm(best.landmarks - lm, axis=1).mean() / eye)

    a_fps, o_fps = anchor_faces / anchor_s, report.faces / report.seconds
    print(f"720p clip: {n} frames of {Path(args.clip).name} scaled to 1280x720; {os.cpu_count()} CPUs")
    print(f"{'':32s}{'faces':>7s}{'seconds':>10s}{'faces/s':>10s}")
    print(f"{'anchor: MTCNN per full frame':32s}{anchor_faces:7d}{anchor_s:10.1f}{a_fps:10.2f}")
    print(f"{'facezoo extract (tracking)':32s}{report.faces:7d}{report.seconds:10.1f}{o_fps:10.2f}")
    print(f"{'facezoo extract --no-track':32s}{plain.faces:7d}{plain.seconds:10.1f}{plain.faces_per_second:10.2f}")
    print(f"speed-up: {o_fps / a_fps:.1f}x faces/s (extract also aligns and writes {report.faces} crops)")
    if errs:
        print(f"landmark agreement with the anchor: mean {np.mean(errs):.3f}, max {np.max(errs):.3f} "
              "of the eye distance")
    return 0


if __name__ == "__main__":
    sys.exit(main())
