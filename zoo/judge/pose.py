"""Head pose and expression from dlib's 5 points: a 3D mean face fitted with `cv2.solvePnP`.

dlib's 5 points are the outer and inner corner of each eye and the base of the nose (subnasale).
`MEAN_FACE` places them on an average adult head in millimetres (camera axes: x to the image's right,
y down, z away from the camera; origin at the nose base), from standard anthropometry: eye-centre
distance about 61 mm, inner corners 32 mm apart, eyes 45 mm above the nose base and 15-27 mm behind it.
The camera is a pinhole with a focal length of the image's larger side, centred.

`head_pose(landmarks, shape)` gives (yaw, pitch, roll) in degrees (`cv2.RQDecomp3x3` of the fitted
rotation: about y, x and z). Only differences between a swap and its source are reported (`pose_error`);
a horizontally flipped face has the opposite yaw and roll and the same pitch (measured on LFW photos:
yaw 14.2 -> -13.5, -12.5 -> 10.7). With 5 points the fit is noisy by a few degrees, pitch most.

`expression_offsets` is what remains of the landmarks once the fitted pose is removed: each point's
distance from the mean face projected with that pose, rotated upright and divided by the inter-ocular
distance. `expression_error(swap, source)` is the mean distance between the two faces' offsets, so a
share of the inter-ocular distance. With 5 points (no mouth) it sees eye and nose shape only: a weak
expression measure, stated beside every number it gives.
"""
from __future__ import annotations

import numpy as np

__all__ = ["MEAN_FACE", "head_pose", "pose_error", "expression_offsets", "expression_error", "interocular"]

# dlib order: image-right eye outer, inner; image-left eye outer, inner; nose base.
MEAN_FACE = np.array([
    [45.0, -45.0, 27.0],
    [16.0, -45.0, 15.0],
    [-45.0, -45.0, 27.0],
    [-16.0, -45.0, 15.0],
    [0.0, 0.0, 0.0],
], np.float64)


def interocular(landmarks) -> float:
    """Distance between the two eye centres (each the mean of its two corners), in pixels."""
    p = np.asarray(landmarks, np.float64)
    return float(np.linalg.norm(p[0:2].mean(0) - p[2:4].mean(0)))


def _camera(shape) -> np.ndarray:
    h, w = shape[:2]
    f = float(max(h, w))
    return np.array([[f, 0, w / 2.0], [0, f, h / 2.0], [0, 0, 1]], np.float64)


def _fit(landmarks, shape):
    """(rvec, tvec, camera) of the mean face seen at `landmarks`."""
    import cv2

    pts = np.asarray(landmarks, np.float64).reshape(5, 2)
    cam = _camera(shape)
    # Start in front of the camera at the distance the eye spacing implies, facing it.
    z = cam[0, 0] * 61.0 / max(interocular(pts), 1e-6)
    centre = (pts[4] - cam[:2, 2]) * z / cam[0, 0]
    rvec, tvec = np.zeros((3, 1)), np.array([[centre[0]], [centre[1]], [z]], np.float64)
    ok, rvec, tvec = cv2.solvePnP(MEAN_FACE, pts, cam, None, rvec, tvec, useExtrinsicGuess=True,
                                  flags=cv2.SOLVEPNP_ITERATIVE)
    return rvec, tvec, cam


def head_pose(landmarks, shape) -> tuple[float, float, float]:
    """(yaw, pitch, roll) in degrees of a face with dlib's 5 `landmarks` in an image of `shape` (h, w)."""
    import cv2

    rvec, _, _ = _fit(landmarks, shape)
    rot, _ = cv2.Rodrigues(rvec)
    angles = cv2.RQDecomp3x3(rot)[0]      # degrees about x (pitch), y (yaw), z (roll)
    pitch, yaw, roll = (float(a) for a in angles)
    return yaw, pitch, roll


def pose_error(swap_pose, source_pose) -> dict:
    """The pose of a swap against its source frame: signed differences and their L2 norm, in degrees."""
    d = np.asarray(swap_pose, np.float64) - np.asarray(source_pose, np.float64)
    return {"yaw": float(d[0]), "pitch": float(d[1]), "roll": float(d[2]), "l2": float(np.linalg.norm(d))}


def expression_offsets(landmarks, shape) -> np.ndarray:
    """(5, 2) landmark offsets from the posed mean face, upright, in units of the inter-ocular distance."""
    import cv2

    pts = np.asarray(landmarks, np.float64).reshape(5, 2)
    rvec, tvec, cam = _fit(pts, shape)
    projected = cv2.projectPoints(MEAN_FACE, rvec, tvec, cam, None)[0].reshape(5, 2)
    right, left = pts[0:2].mean(0), pts[2:4].mean(0)
    angle = np.arctan2(right[1] - left[1], right[0] - left[0])
    c, s = np.cos(-angle), np.sin(-angle)
    upright = (pts - projected) @ np.array([[c, s], [-s, c]])
    return upright / max(interocular(pts), 1e-6)


def expression_error(swap_landmarks, swap_shape, source_landmarks, source_shape) -> float:
    """Mean distance between the two faces' pose-free landmark offsets, as a share of inter-ocular distance."""
    a = expression_offsets(swap_landmarks, swap_shape)
    b = expression_offsets(source_landmarks, source_shape)
    return float(np.mean(np.linalg.norm(a - b, axis=1)))
