"""Face-area masks from the 5 alignment landmarks, for the training losses and for convert.

The 5 points are (left eye, right eye, nose, left mouth corner, right mouth corner) in pixel coordinates
of the crop. The face area is an ellipse fitted to the eye/mouth geometry: it runs from the forehead
(about one eye-to-mouth distance above the eyes) to the chin (below the mouth) and from cheek to cheek
(about one eye distance either side of the face's centre line), turned with the face. It is united with
the landmarks' own hull so every landmark is always inside, then feathered with a Gaussian.

Examples:
    >>> mask = landmark_mask(landmarks, 128)            # float32 (128, 128) in [0, 1]
    >>> wider = dilate(mask, 6)                          # grow by 6 px; negative px erodes
"""
from __future__ import annotations

import math

import cv2
import numpy as np
from zoo.errors import InputError

# Face extent relative to the landmarks, in units of the eye-to-mouth distance (along the face's
# vertical axis) and of the eye distance (across it). Chosen from ordinary face proportions.
FOREHEAD = 1.1      # top of the mask above the eye line
CHIN = 0.85         # bottom of the mask below the mouth line
CHEEK = 1.05        # half width of the mask


def _as_landmarks(landmarks) -> np.ndarray:
    points = np.asarray(landmarks, dtype=np.float64)
    if points.shape != (5, 2) or not np.all(np.isfinite(points)):
        raise InputError(f"landmarks must be 5 finite (x, y) points; received shape {points.shape}")
    return points


def face_ellipse(landmarks) -> tuple[tuple[float, float], tuple[float, float], float]:
    """The face ellipse as OpenCV's ((cx, cy), (width, height), angle_degrees) from 5 landmarks."""
    points = _as_landmarks(landmarks)
    eyes = (points[0] + points[1]) / 2
    mouth = (points[3] + points[4]) / 2
    down = mouth - eyes
    eye_to_mouth = float(np.hypot(*down))
    eye_distance = float(np.hypot(*(points[1] - points[0])))
    if eye_to_mouth < 1e-6 or eye_distance < 1e-6:
        raise InputError("landmarks are degenerate: eyes and mouth (or both eyes) coincide")
    down /= eye_to_mouth
    top, bottom = -FOREHEAD * eye_to_mouth, (1.0 + CHIN) * eye_to_mouth
    centre = eyes + down * (top + bottom) / 2
    height = bottom - top
    width = 2 * CHEEK * eye_distance
    # OpenCV's ellipse angle turns the width axis; the face's "down" is the height axis.
    angle = math.degrees(math.atan2(down[1], down[0])) - 90.0
    return (float(centre[0]), float(centre[1])), (width, height), angle


def landmark_mask(landmarks, size, feather: float = 0.04) -> np.ndarray:
    """A feathered face-area mask from 5 landmarks.

    Args:
        landmarks: (5, 2) pixel coordinates in the crop (left eye, right eye, nose, mouth corners).
        size: crop size, an int for a square crop or (height, width).
        feather: Gaussian sigma as a fraction of the crop size (0 for a hard edge).

    Returns:
        float32 (H, W) in [0, 1], 1 over the face.
    """
    height, width = (size, size) if np.isscalar(size) else (int(size[0]), int(size[1]))
    points = _as_landmarks(landmarks)
    (cx, cy), (ew, eh), angle = face_ellipse(points)
    canvas = np.zeros((height, width), np.uint8)
    # Draw with 4 bits of sub-pixel precision; OpenCV wants integers.
    shift = 4
    scale = 1 << shift
    cv2.ellipse(canvas, (round(cx * scale), round(cy * scale)),
                (max(1, round(ew / 2 * scale)), max(1, round(eh / 2 * scale))),
                angle, 0, 360, 255, thickness=-1, lineType=cv2.LINE_AA, shift=shift)
    hull = cv2.convexHull(np.round(points * scale).astype(np.int32))
    cv2.fillConvexPoly(canvas, hull, 255, lineType=cv2.LINE_AA, shift=shift)
    mask = canvas.astype(np.float32) / 255.0
    sigma = float(feather) * max(height, width)
    if sigma > 0:
        mask = cv2.GaussianBlur(mask, (0, 0), sigmaX=sigma, sigmaY=sigma,
                                borderType=cv2.BORDER_CONSTANT)
    return np.clip(mask, 0.0, 1.0, out=mask)


def dilate(mask: np.ndarray, px: int) -> np.ndarray:
    """Grow a mask by `px` pixels (an elliptical kernel); a negative `px` erodes it. Keeps the dtype."""
    px = int(px)
    if px == 0:
        return mask.copy()
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * abs(px) + 1, 2 * abs(px) + 1))
    op = cv2.dilate if px > 0 else cv2.erode
    return op(mask, kernel, borderType=cv2.BORDER_CONSTANT, borderValue=0)
