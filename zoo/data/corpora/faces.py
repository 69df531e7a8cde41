"""Aligned-face geometry shared by every corpus and by the sampler.

An aligned face is a crop whose 5 landmarks sit on facezoo's template (`zoo.data.align`); these helpers
give the template at any crop size, the face mask of such a crop (the same for every aligned face), and
turn an aligned face of any shape into a square crop. numpy and OpenCV only.
"""
from __future__ import annotations

import numpy as np

__all__ = ["aligned_landmarks", "template_mask", "to_square"]


def aligned_landmarks(size: int) -> np.ndarray:
    """facezoo's template landmarks in pixels of a `size` crop (any size, unlike `align.template_landmarks`)."""
    from zoo.data.align import template_landmarks
    return template_landmarks(None) * float(size)


_MASKS: dict[int, np.ndarray] = {}


def template_mask(size: int) -> np.ndarray:
    """The face mask of an aligned crop (the same for every aligned face), float32 (size, size)."""
    if size not in _MASKS:
        from zoo.data.masks import landmark_mask
        _MASKS[size] = landmark_mask(aligned_landmarks(size), size)
    return _MASKS[size]


def to_square(rgb: np.ndarray, size: int) -> np.ndarray:
    """An already-aligned face of any shape -> (size, size, 3): centre-cropped square, area-resized."""
    import cv2

    h, w = rgb.shape[:2]
    if h != w:
        s = min(h, w)
        y0, x0 = (h - s) // 2, (w - s) // 2
        rgb = rgb[y0:y0 + s, x0:x0 + s]
    if rgb.shape[0] != size:
        interp = cv2.INTER_AREA if rgb.shape[0] > size else cv2.INTER_LINEAR
        rgb = cv2.resize(rgb, (size, size), interpolation=interp)
    return np.ascontiguousarray(rgb)
