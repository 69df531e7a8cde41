"""Colour matching and mask blending for convert: put a decoded face back into its frame.

Everything here works on numpy arrays (no TensorFlow): crops are float32 RGB in [0, 1], frames RGB uint8.

Examples:
    >>> face = match_color(face, original_crop, weight, method="lab")     # mean/std transfer in LAB
    >>> mask = crop_mask(decoded[..., 3], landmarks_crop, "both")          # feathered (S, S) float32
    >>> paste_face(frame, face, mask, matrix)                                # in place; returns frame
"""
from __future__ import annotations

import numpy as np
from zoo.errors import InputError

MASK_MODES = ("learned", "landmark", "both")
COLOR_MODES = ("lab", "hist", "none")
MASK_FLOOR = 1.0 / 255.0   # mask values below this count as 0: those pixels stay byte-identical
FEATHER = 0.04             # landmark mask Gaussian sigma, as a fraction of the crop size


def check_mode(value: str, allowed, what: str) -> str:
    if value not in allowed:
        raise InputError(f"{what} must be one of {', '.join(allowed)}. Received: {what}={value!r}")
    return value


def border_fade(size: int, width: float | None = None) -> np.ndarray:
    """(S, S) float32 that is 1 inside and ramps to 0 at the crop's edges (no seam at the crop border)."""
    width = max(1.0, float(width if width is not None else size / 16))
    ramp = np.clip(np.arange(size, dtype=np.float32) / width, 0.0, 1.0)  # 0 on the outermost pixels
    ramp = np.minimum(ramp, ramp[::-1])
    return np.outer(ramp, ramp).astype(np.float32)


def crop_mask(learned, landmarks_crop, mode: str = "both", feather: float = FEATHER) -> np.ndarray:
    """The blend mask of one crop: the model's learned mask, the landmark mask, or their product.

    Args:
        learned: (S, S) or (S, S, 1) learned mask in [0, 1] (the decoder's 4th channel).
        landmarks_crop: (5, 2) landmarks in crop pixels.
        mode: "learned" | "landmark" | "both".
        feather: landmark-mask Gaussian sigma as a fraction of S.

    Returns:
        float32 (S, S) in [0, 1], 0 at the crop border and below `MASK_FLOOR`.
    """
    from zoo.data.masks import landmark_mask

    check_mode(mode, MASK_MODES, "mask")
    learned = np.asarray(learned, np.float32)
    learned = learned.reshape(learned.shape[:2])
    size = learned.shape[0]
    if mode == "learned":
        mask = np.clip(learned, 0.0, 1.0)
    else:
        mask = landmark_mask(landmarks_crop, size, feather)
        if mode == "both":
            mask = mask * np.clip(learned, 0.0, 1.0)
    mask = mask * border_fade(size)
    mask[mask < MASK_FLOOR] = 0.0
    return mask.astype(np.float32)


def _weights(weight, shape) -> np.ndarray:
    w = np.asarray(weight, np.float32).reshape(shape[:2]) if weight is not None else np.ones(shape[:2], np.float32)
    sel = w >= 0.5
    if sel.sum() < 16:       # tiny or empty mask: use the whole crop rather than a handful of pixels
        sel = np.ones(shape[:2], bool)
    return sel


def match_color(face, target, weight=None, method: str = "lab") -> np.ndarray:
    """Recolour `face` so its face area has the colour statistics of `target`'s.

    Args:
        face: (S, S, 3) float32 RGB in [0, 1], the decoded face.
        target: (S, S, 3) float32 RGB in [0, 1] (or uint8), the original face crop.
        weight: (S, S) mask; statistics come from pixels where it is >= 0.5 (all if too few).
        method: "lab" (mean and std per LAB channel), "hist" (per-channel histogram matching in RGB),
            or "none".
    """
    import cv2

    check_mode(method, COLOR_MODES, "color")
    face = np.asarray(face, np.float32)
    if method == "none":
        return face
    target = np.asarray(target)
    target = target.astype(np.float32) / 255.0 if target.dtype == np.uint8 else target.astype(np.float32)
    sel = _weights(weight, face.shape)
    if method == "lab":
        f = cv2.cvtColor(np.clip(face, 0, 1), cv2.COLOR_RGB2LAB)
        t = cv2.cvtColor(np.clip(target, 0, 1), cv2.COLOR_RGB2LAB)
        fm, fs = f[sel].mean(0), f[sel].std(0)
        tm, ts = t[sel].mean(0), t[sel].std(0)
        scale = np.where(fs > 1e-3, ts / np.maximum(fs, 1e-3), 1.0).astype(np.float32)
        scale = np.clip(scale, 0.25, 4.0)
        out = (f - fm) * scale + tm
        out[..., 0] = np.clip(out[..., 0], 0, 100)
        out[..., 1:] = np.clip(out[..., 1:], -127, 127)
        return np.clip(cv2.cvtColor(out.astype(np.float32), cv2.COLOR_LAB2RGB), 0.0, 1.0)
    # Histogram matching: map each channel's CDF (over the face area) onto the target's.
    out = np.empty_like(face)
    levels = np.linspace(0.0, 1.0, 257, dtype=np.float32)
    for c in range(3):
        fv, tv = face[..., c][sel], target[..., c][sel]
        f_q = np.quantile(fv, levels)
        t_q = np.quantile(tv, levels)
        f_q = np.maximum.accumulate(f_q + np.arange(257) * 1e-7)   # strictly increasing for interp
        out[..., c] = np.interp(face[..., c], f_q, t_q)
    return np.clip(out, 0.0, 1.0)


def paste_face(frame: np.ndarray, face, mask, matrix) -> np.ndarray:
    """Blend a crop-space `face` into `frame` (in place) through the crop's source -> crop `matrix`.

    Only the bounding box of the warped crop is touched, and inside it only pixels where the warped
    mask is > 0: every other pixel keeps its exact bytes.

    Args:
        frame: (H, W, 3) RGB uint8, modified in place and returned.
        face: (S, S, 3) float32 RGB in [0, 1].
        mask: (S, S) float32 in [0, 1].
        matrix: 2x3 source -> crop matrix of the crop.
    """
    import cv2

    from zoo.data.align import invert

    h, w = frame.shape[:2]
    size = face.shape[0]
    inv = invert(matrix)
    corners = np.array([[0, 0], [size, 0], [0, size], [size, size]], np.float64)
    pts = corners @ inv[:, :2].T + inv[:, 2]
    x0, y0 = np.floor(pts.min(0)).astype(int) - 1
    x1, y1 = np.ceil(pts.max(0)).astype(int) + 1
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    if x1 <= x0 or y1 <= y0:
        return frame
    roi_m = inv.copy()
    roi_m[:, 2] -= (x0, y0)
    dsize = (x1 - x0, y1 - y0)
    m = cv2.warpAffine(np.asarray(mask, np.float32), roi_m, dsize, flags=cv2.INTER_LINEAR,
                       borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    m[m < MASK_FLOOR] = 0.0
    if not m.any():
        return frame
    f = cv2.warpAffine(np.asarray(face, np.float32), roi_m, dsize, flags=cv2.INTER_LINEAR,
                       borderMode=cv2.BORDER_REPLICATE)
    roi = frame[y0:y1, x0:x1]
    base = roi.astype(np.float32)
    blended = base + m[..., None] * (f * 255.0 - base)
    out = np.clip(blended + 0.5, 0, 255).astype(np.uint8)
    keep = (m <= 0.0)[..., None]
    roi[...] = np.where(keep, roi, out)
    return frame


def side_by_side(original: np.ndarray, swapped: np.ndarray, gap: int = 4) -> np.ndarray:
    """A preview image: original | swapped, with a thin white gap."""
    h = original.shape[0]
    bar = np.full((h, gap, 3), 255, np.uint8)
    return np.concatenate([original, bar, swapped], axis=1)
