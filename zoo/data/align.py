"""Five-point similarity alignment to facezoo's one canonical face template.

The template is the ArcFace/insightface 112 px template shrunk to 64% and centred a little below the
middle of the crop, so a crop holds the whole head as face-swap crops do (faceswap's "face"
centering): forehead and some hair above the eyes, the jaw and chin below the mouth, cheeks and ears'
edges at the sides. Points are (x, y) in [0, 1] of a square crop, image-left first.

Examples:
    >>> crop, matrix = align_face(rgb, landmarks, size=256)   # landmarks: (5, 2) in source pixels
    >>> transform_points(landmarks, matrix)                    # ~= template_landmarks(256)
    >>> back = cv2.warpAffine(crop, invert(matrix), (w, h))     # paste back (convert)
"""
from __future__ import annotations

import numpy as np
from zoo.errors import InputError
from zoo.spec import ALIGNMENT_TEMPLATE as TEMPLATE_NAME  # the format id recorded with every crop

POINT_NAMES = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")  # image-left first
MIN_SIZE, MAX_SIZE = 64, 512

# ArcFace template / 112, symmetrised, scaled by 0.64 about its centroid, centroid put at (0.5, 0.54).
_TEMPLATE = np.array([
    [0.3993, 0.4240],   # left eye (image-left)
    [0.6007, 0.4240],   # right eye
    [0.5000, 0.5390],   # nose tip
    [0.4166, 0.6565],   # left mouth corner
    [0.5834, 0.6565],   # right mouth corner
], dtype=np.float64)
_TEMPLATE.setflags(write=False)


def check_size(size) -> int:
    """Validate a crop size: an int in [MIN_SIZE, MAX_SIZE]."""
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or not MIN_SIZE <= size <= MAX_SIZE:
        raise InputError(f"crop size must be an integer from {MIN_SIZE} to {MAX_SIZE} px. "
                         f"Received: size={size!r}")
    return int(size)


def template_landmarks(size: int | None = None) -> np.ndarray:
    """The template's 5 points in pixels of a `size` x `size` crop, shape (5, 2) float64 (x, y).

    `size=None` gives the normalised [0, 1] template.
    """
    if size is None:
        return _TEMPLATE.copy()
    return _TEMPLATE * float(check_size(size))


def estimate_similarity(src_pts, dst_pts) -> np.ndarray:
    """Least-squares similarity (rotation, uniform scale, translation; no reflection) src -> dst.

    Umeyama (1991). Returns a float64 2x3 matrix M with dst ~= M @ [x, y, 1].
    """
    src = np.asarray(src_pts, dtype=np.float64).reshape(-1, 2)
    dst = np.asarray(dst_pts, dtype=np.float64).reshape(-1, 2)
    if src.shape != dst.shape or len(src) < 2:
        raise InputError(f"need two equal sets of at least 2 points. Received: {src.shape} and {dst.shape}")
    if not (np.isfinite(src).all() and np.isfinite(dst).all()):
        raise InputError("landmarks contain NaN or infinity")
    src_mean, dst_mean = src.mean(axis=0), dst.mean(axis=0)
    src_c, dst_c = src - src_mean, dst - dst_mean
    src_var = (src_c ** 2).sum() / len(src)
    if src_var <= 1e-12:
        raise InputError("source landmarks are all at one point; cannot estimate a transform")
    cov = dst_c.T @ src_c / len(src)
    u, s, vt = np.linalg.svd(cov)
    d = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:  # would be a reflection: flip the weakest axis
        d[-1] = -1.0
    rot = u @ np.diag(d) @ vt
    scale = float((s * d).sum() / src_var)
    matrix = np.empty((2, 3), dtype=np.float64)
    matrix[:, :2] = scale * rot
    matrix[:, 2] = dst_mean - scale * rot @ src_mean
    return matrix


def transform_points(points, matrix) -> np.ndarray:
    """Apply a 2x3 affine matrix to (N, 2) points."""
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    m = np.asarray(matrix, dtype=np.float64).reshape(2, 3)
    return pts @ m[:, :2].T + m[:, 2]


def invert(matrix) -> np.ndarray:
    """Inverse of a 2x3 affine matrix (crop -> source for a source -> crop matrix)."""
    m = np.asarray(matrix, dtype=np.float64).reshape(2, 3)
    a = m[:, :2]
    inv = np.linalg.inv(a)
    out = np.empty((2, 3), dtype=np.float64)
    out[:, :2] = inv
    out[:, 2] = -inv @ m[:, 2]
    return out


def align_face(image: np.ndarray, landmarks, size: int = 256, *, border: str = "reflect"):
    """Warp `image` so the 5 `landmarks` land on the template in a `size` x `size` crop.

    Args:
        image: (H, W, 3) array (RGB uint8 in facezoo's APIs).
        landmarks: (5, 2) source points (x, y) in POINT_NAMES order.
        size: crop side in pixels, 64..512.
        border: "reflect" (default; no black wedges for faces at the image edge) or "constant" (black).

    Returns:
        (crop, matrix): the (size, size, C) crop and the float64 2x3 source -> crop matrix.
    """
    import cv2

    size = check_size(size)
    pts = np.asarray(landmarks, dtype=np.float64)
    if pts.shape != (5, 2):
        raise InputError(f"landmarks must have shape (5, 2). Received: {pts.shape}")
    matrix = estimate_similarity(pts, template_landmarks(size))
    mode = {"reflect": cv2.BORDER_REFLECT_101, "constant": cv2.BORDER_CONSTANT}.get(border)
    if mode is None:
        raise InputError(f"border must be 'reflect' or 'constant'. Received: border={border!r}")
    crop = cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=mode)
    return crop, matrix

