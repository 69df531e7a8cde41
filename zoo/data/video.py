"""Video frame reading (OpenCV VideoCapture), shared by extract and convert. Frames are RGB uint8.

Examples:
    >>> info = video_info("clip.mp4")          # VideoInfo(fps=25.0, frame_count=250, size=(1280, 720))
    >>> for index, rgb in iter_frames("clip.mp4", every_n=5):
    ...     ...
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator, NamedTuple

import numpy as np

from zoo.data.images import SkipReason
from zoo.errors import InputError

VIDEO_EXTENSIONS = frozenset({".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".wmv",
                              ".flv", ".ts", ".mts", ".3gp", ".ogv"})


class VideoInfo(NamedTuple):
    fps: float
    frame_count: int          # as the container reports it; may be 0 or approximate for some codecs
    size: tuple[int, int]     # (width, height)


def is_video_path(path) -> bool:
    return Path(path).suffix.lower() in VIDEO_EXTENSIONS


def _open(path):
    import cv2

    path = Path(path)
    if not path.is_file():
        raise SkipReason("not-found", path)
    if path.stat().st_size == 0:
        raise SkipReason("zero-byte", path)
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        cap.release()
        raise SkipReason("unreadable-video", path, "OpenCV cannot open it: corrupt, or an unsupported codec")
    return cap


def video_info(path) -> VideoInfo:
    """fps, frame count and (width, height); raises SkipReason("unreadable-video") if it cannot be read."""
    import cv2

    cap = _open(path)
    try:
        w, h = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        count = max(int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0), 0)
        if w <= 0 or h <= 0:
            ok, frame = cap.read()
            if not ok or frame is None:
                raise SkipReason("unreadable-video", path, "no decodable frame")
            h, w = frame.shape[:2]
        return VideoInfo(fps, count, (w, h))
    finally:
        cap.release()


def iter_frames(path, every_n: int = 1, *, start: int = 0) -> Iterator[tuple[int, np.ndarray]]:
    """Yield (frame index, RGB uint8 frame) for every `every_n`-th frame, from frame 0 (or `start`).

    Frames in between are grabbed but not decoded to RGB. A video that yields no frame at all raises
    SkipReason("unreadable-video"); one that breaks off mid-stream just ends early.
    """
    import cv2

    if int(every_n) < 1:
        raise InputError(f"every_n must be >= 1. Received: every_n={every_n!r}")
    every_n = int(every_n)
    cap = _open(path)
    try:
        index = 0
        if start > 0:
            cap.set(cv2.CAP_PROP_POS_FRAMES, start)
            index = int(cap.get(cv2.CAP_PROP_POS_FRAMES))
        yielded = False
        while True:
            if not cap.grab():
                break
            if index % every_n == 0:
                ok, frame = cap.retrieve()
                if not ok or frame is None:
                    break
                yielded = True
                if frame.ndim == 2:
                    frame = cv2.cvtColor(frame, cv2.COLOR_GRAY2RGB)
                else:
                    frame = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
                yield index, frame
            index += 1
        if not yielded and index == 0:
            raise SkipReason("unreadable-video", path, "no decodable frame")
    finally:
        cap.release()
