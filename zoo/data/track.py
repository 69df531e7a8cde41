"""Faster video detection: find faces in full frames now and then, follow them in small crops between.

MTCNN on a whole 720p frame costs over a second on a CPU, most of it the image pyramid over pixels
with no face in them, and a call has a fixed cost of its own. A talking-head video's faces move little
from frame to frame, so `VideoTracker` runs the full-frame detector on a key frame (the first, every
`redetect_every`-th processed frame, and any frame where a face is lost) and, on the frames between, cuts
a square around each face's last box (twice its size), scales it so the face is about `roi_face` px, and
detects in all of a batch's crops with one call. The boxes and landmarks come back in frame pixels from
the same MTCNN (its last stage sees the face at 48 px either way). A face that enters between key frames
is found at the next key frame; a face whose crop match touches the crop's edge, or is not found in it,
sends that frame to the full detector. `benchmarks/extract_video.py` measures speed and agreement.
"""
from __future__ import annotations

import numpy as np

from zoo.data.detect import Face

ROI_FACE = 96          # px the followed face is scaled to in its crop
ROI_SPAN = 2.0         # crop side / face side
MIN_IOU = 0.3          # a crop's face is the followed one when its box overlaps the last box this much


def _iou(a, b) -> float:
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x1 - x0) * max(0.0, y1 - y0)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _roi(frame: np.ndarray, box, span: float, out_side: int):
    """A square crop around `box` (`span` times its larger side), padded black past the frame, scaled
    to `out_side` px. Returns (crop, scale, x0, y0): frame = crop / scale + (x0, y0)."""
    import cv2

    side = span * max(box[2] - box[0], box[3] - box[1])
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    x0, y0 = int(round(cx - side / 2)), int(round(cy - side / 2))
    n = max(int(round(side)), 1)
    h, w = frame.shape[:2]
    sx0, sy0, sx1, sy1 = max(x0, 0), max(y0, 0), min(x0 + n, w), min(y0 + n, h)
    patch = np.zeros((n, n, 3), np.uint8)
    if sx1 > sx0 and sy1 > sy0:
        patch[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = frame[sy0:sy1, sx0:sx1]
    scale = out_side / n
    crop = cv2.resize(patch, (out_side, out_side), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    return crop, scale, x0, y0


def _to_frame(face: Face, scale: float, x0: int, y0: int) -> Face:
    off = np.array([x0, y0], np.float64)
    return Face(box=face.box / scale + np.tile(off, 2), score=face.score, landmarks=face.landmarks / scale + off)


class VideoTracker:
    """Detect faces in one video's frames, in order (see the module docstring).

    Args:
        detector: a `zoo.data.detect.FaceDetector` (its min_face_size is the key frames' minimum).
        redetect_every: processed frames between full-frame detections (new faces wait at most this long).
        roi_face: px a followed face is scaled to in its crop.
    """

    def __init__(self, detector, *, redetect_every: int = 25, roi_face: int = ROI_FACE):
        self.detector = detector
        self.redetect_every = max(1, int(redetect_every))
        self.roi_face = int(roi_face)
        self.tracks: list[np.ndarray] = []   # last boxes of the followed faces
        self.since_full = 0
        self.full_frames = 0                 # frames that went to the full detector (for the benchmark)

    def _full(self, frame) -> list[Face]:
        faces = self.detector.detect([frame])[0]
        self.full_frames += 1
        self.since_full = 0
        min_face = max(int(self.detector.min_face_size), 12)
        self.tracks = [f.box.copy() for f in faces if min(f.width, f.height) >= min_face]
        return faces

    def detect(self, frames) -> list[list[Face]]:
        """Faces per frame (each list best score first), for consecutive frames of one video."""
        out: list[list[Face] | None] = [None] * len(frames)
        i = 0
        while i < len(frames):
            if not self.tracks or self.since_full >= self.redetect_every:
                out[i] = self._full(frames[i])
                i += 1
                continue
            # follow every track through the rest of the batch (up to the next key frame) in one call each
            stop = min(len(frames), i + self.redetect_every - self.since_full)
            span = range(i, stop)
            found = {j: [] for j in span}
            lost = None
            side = int(round(self.roi_face * ROI_SPAN))
            for box in self.tracks:
                crops = [_roi(frames[j], box, ROI_SPAN, side) for j in span]
                results = self.detector.detect([c[0] for c in crops], min_face_size=self.roi_face // 2)
                last = box
                for j, (crop, scale, x0, y0), faces in zip(span, crops, results):
                    best = max(faces, key=lambda f: _iou(_to_frame(f, scale, x0, y0).box, last), default=None)
                    ok = best is not None and _iou(_to_frame(best, scale, x0, y0).box, last) >= MIN_IOU
                    m = 2  # px: a face cut by the crop's edge is not trusted
                    if ok and (best.box[0] < m or best.box[1] < m or best.box[2] > side - m or best.box[3] > side - m):
                        ok = False
                    if not ok:
                        lost = j if lost is None else min(lost, j)
                        break
                    face = _to_frame(best, scale, x0, y0)
                    found[j].append(face)
                    last = face.box
            end = stop if lost is None else lost
            for j in range(i, end):
                out[j] = sorted(found[j], key=lambda f: -f.score)
            self.since_full += end - i
            if end > i:
                self.tracks = [f.box.copy() for f in out[end - 1]]
            i = end
            if lost is not None:  # the frame where a face was lost goes to the full detector
                out[lost] = self._full(frames[lost])
                i = lost + 1
        return out
