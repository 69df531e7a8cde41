"""Geometry of synthetic faces, vectorised over a batch: every point of every image in a few numpy calls.

Face units: origin at the centre of the face oval, x to the image's right, y down, z towards the camera;
the oval's half-width is 1. Features are polygons in the face plane lifted onto a rounded surface, rotated
by (yaw, pitch, roll) and projected orthographically (weak perspective), so the landmarks are exact by
construction. The head outline is the silhouette of an ellipsoid, its chin moving with the face.

`face_geometry(size, identity_rows, image_rows)` returns a `Geometry`: per-image scalars (B,) and named
point sets in pixels (B, n, 2); the renderer only draws them.
"""
from __future__ import annotations

import numpy as np

from zoo.data.synthetic_params import FIELD_INDEX, IMAGE_FIELD_INDEX

T = np.linspace(-1.0, 1.0, 13)
T2 = 1.0 - T ** 2
_T2P = {e: T2 ** e for e in (0.5, 0.6, 0.7, 0.8, 0.9)}
_LIP_BOW = 1 - 0.3 * np.exp(-(T / 0.15) ** 2)
_N24 = np.linspace(0, 2 * np.pi, 24, endpoint=False)
CIRCLE = np.stack([np.cos(_N24), np.sin(_N24)], axis=1)
_CX, _CY = CIRCLE[:, 0], CIRCLE[:, 1]
_BT = np.linspace(0.0, 1.0, 9)
_HAIR_U = np.linspace(-0.98, 0.98, 15)
_HAIR_U6 = _HAIR_U ** 6
# Long hair below the head: straight from the temples, flaring a little, rounded at the tips.
_LONG_U = np.array([-1.0, -1.05, -1.0, -0.85, -0.5, 0.5, 0.85, 1.0, 1.05, 1.0])
_LONG_V = np.array([0.0, 0.5, 0.92, 1.0, 0.96, 0.96, 1.0, 0.92, 0.5, 0.0])
_BROW_ARC = np.sin(np.pi * _BT ** 0.8)
with np.errstate(divide="ignore"):
    _CIRCLE_LOG = np.log(np.abs(CIRCLE))
_CIRCLE_SIGN = np.sign(CIRCLE)


def _angles(phi):
    """(sign, log|.|) of cos and sin of the angles: superellipse powers become exp(log * exponent)."""
    cs = np.stack([np.cos(phi), np.sin(phi)])
    with np.errstate(divide="ignore"):
        return np.sign(cs), np.log(np.abs(cs))


_OUTLINE = _angles(np.linspace(0, 2 * np.pi, 48, endpoint=False))
_BEARD_JAW = _angles(np.linspace(np.radians(10), np.radians(170), 15))


def _jaw_outline(angles, n_sq, taper, depth):
    """Superellipse (exponent n_sq) whose lower half narrows towards the chin; front depth of the chin."""
    (sc, ss), (lc, ls) = angles
    e = 2.0 / n_sq
    x = sc * np.exp(lc * e)
    y = ss * np.exp(ls * e)
    low = ss > 0
    yl = np.where(low, y, 0.0)
    x = x * (1.0 - taper * np.where(low, np.exp(ls * e * 1.6), 0.0))
    return x, y, depth * 0.55 * yl * yl * (1.0 - np.abs(x) * 0.5)
_ARC_PHI = np.linspace(0.0, -np.pi, 17)
_ALA_T = np.linspace(0.2, 2.6, 7)
_STRAND_T = np.linspace(-1.0, 1.0, 9)
SCALE = 0.22  # face half-width in image widths at scale 1


class Geometry:
    """Batched face geometry. `pts[name]`: (B, n, 2) pixels; scalars (B,) as attributes."""

    def __init__(self, batch: int):
        self.batch = batch
        self.pts: dict[str, np.ndarray] = {}
        self.fixed: dict[str, np.ndarray] = {}   # the same points as int32 with 4 fractional bits
        self._face: list[tuple[str, np.ndarray, np.ndarray, np.ndarray, bool]] = []
        self._sil: list[tuple[str, np.ndarray, np.ndarray, np.ndarray]] = []

    # Collect point sets; `solve` projects them all at once.
    def face(self, name, u, v, lift=0.0, surface=True):
        self._face.append((name, u, v, lift, surface))

    def sil(self, name, u, v, front=0.0):
        self._sil.append((name, u, v, front))

    def _gather(self, items):
        """Stack ragged, broadcastable (B or 1, n) items into (B, N) arrays per field."""
        widths = [max(np.shape(f)[-1] if np.ndim(f) else 1 for f in item[1:4]) for item in items]
        at = np.concatenate([[0], np.cumsum(widths)])
        out = np.empty((3, self.batch, int(at[-1])))
        for (name, *fields), a, b_ in zip(items, at[:-1], at[1:]):
            for row, f in zip(out, fields[:3]):
                row[:, a:b_] = f
        return [(item[0], a, b_) for item, a, b_ in zip(items, at[:-1], at[1:])], out

    def solve(self) -> None:
        spans = []
        if self._face:
            names, (u, v, z) = self._gather(self._face)
            surf = np.concatenate([np.full(b_ - a, float(item[4])) for item, (_, a, b_) in zip(self._face, names)])
            vb = v / self.b
            z += surf * self.depth * np.sqrt(np.clip(1.0 - 0.9 * u * u - vb * vb, 0.04, 1.0))
            m, c = self.m, self.c
            spans.append((names, np.stack([c[:, 0:1] + u * m[:, 0, 0:1] + v * m[:, 1, 0:1] + z * m[:, 2, 0:1],
                                           c[:, 1:2] + u * m[:, 0, 1:2] + v * m[:, 1, 1:2] + z * m[:, 2, 1:2]],
                                          axis=2)))
        if self._sil:
            names, (u, v, front) = self._gather(self._sil)
            x = u * self.sx + front * self.sin_yaw
            y = v * self.sy - front * self.sin_pitch
            spans.append((names, self.c[:, None, :] + np.matmul(np.stack([x, y], axis=2), self.rz2k)))
        for names, pts in spans:
            fixed = (pts * 16.0 + 0.5).astype(np.int32)   # cv2's 4-bit sub-pixel coordinates
            for name, a, b_ in names:
                self.pts[name] = pts[:, a:b_]
                self.fixed[name] = fixed[:, a:b_]
        self._face, self._sil = [], []

    def add_pixels(self, name, pts) -> None:
        self.pts[name] = pts
        self.fixed[name] = (pts * 16.0 + 0.5).astype(np.int32)


def face_geometry(size: int, identity_rows: np.ndarray, image_rows: np.ndarray, full: bool = True) -> Geometry:
    """All the points of a batch of faces. `full=False`: only landmarks and box (for ground truth)."""
    B = len(identity_rows)
    geo = Geometry(B)

    def I(name):  # noqa: E743 - identity column as (B, 1)
        return identity_rows[:, FIELD_INDEX[name], None]

    def G(name):
        return image_rows[:, IMAGE_FIELD_INDEX[name], None]

    S = float(size)
    b = I("face_height")
    k = S * SCALE * G("scale") * I("face_width")
    yaw, pitch, roll = (np.radians(image_rows[:, IMAGE_FIELD_INDEX[n]]) for n in ("yaw", "pitch", "roll"))
    cy_, sy_, cp, sp, cr, sr = np.cos(yaw), np.sin(yaw), np.cos(pitch), np.sin(pitch), np.cos(roll), np.sin(roll)
    zero, one = np.zeros(B), np.ones(B)
    ry = np.stack([np.stack([cy_, zero, sy_], 1), np.stack([zero, one, zero], 1), np.stack([-sy_, zero, cy_], 1)], 1)
    rx = np.stack([np.stack([one, zero, zero], 1), np.stack([zero, cp, -sp], 1), np.stack([zero, sp, cp], 1)], 1)
    rz = np.stack([np.stack([cr, -sr, zero], 1), np.stack([sr, cr, zero], 1), np.stack([zero, zero, one], 1)], 1)
    rot = np.matmul(np.matmul(rz, rx), ry)
    geo.rot = rot
    geo.m = np.transpose(rot[:, :2, :], (0, 2, 1)) * k[:, :, None]        # (B, 3, 2)
    geo.rz2 = np.transpose(rz[:, :2, :2], (0, 2, 1))                       # (B, 2, 2), row vectors
    geo.rz2k = geo.rz2 * k[:, :, None]
    geo.k = k[:, 0]
    geo.c = np.stack([S * (0.5 + image_rows[:, IMAGE_FIELD_INDEX["shift_x"]]),
                      S * (0.48 + image_rows[:, IMAGE_FIELD_INDEX["shift_y"]])], axis=1)
    depth = I("head_depth")
    geo.depth, geo.b = depth, b
    geo.sin_yaw, geo.sin_pitch, geo.cos_yaw = sy_[:, None], sp[:, None], cy_
    geo.sx = np.sqrt(cy_ ** 2 + (depth[:, 0] * sy_) ** 2)[:, None]
    geo.sy = np.sqrt(cp ** 2 + (depth[:, 0] / b[:, 0] * sp) ** 2)[:, None]
    geo.roll_deg = image_rows[:, IMAGE_FIELD_INDEX["roll"]]

    # --- landmarks and outline ----------------------------------------------------------------
    es, ey, ew = I("eye_spacing"), I("eye_y"), I("eye_width")
    ny, nd = I("nose_y"), I("nose_depth")
    smile, mopen = G("smile"), G("mouth_open") * G("mouth_open")
    mw = I("mouth_width") * (1.0 + 0.10 * smile + 0.04 * mopen)
    corner_y = I("mouth_y") - 0.055 * smile
    zero1 = np.zeros((B, 1))
    geo.face("landmarks", np.concatenate([-es, es, zero1, -mw, mw], 1),
             np.concatenate([ey, ey, ny, corner_y, corner_y], 1),
             np.concatenate([zero1, zero1, nd, zero1, zero1], 1))
    n_sq, taper = I("squareness"), I("jaw_taper")
    ox, oy, front = _jaw_outline(_OUTLINE, n_sq, taper, depth)
    geo.sil("outline", ox, oy * b, front)
    geo.mopen = mopen[:, 0]
    if not full:
        geo.solve()
        return geo

    # --- eyes and brows -------------------------------------------------------------------------
    eh = ew * I("eye_height")
    opening = G("eye_open")
    upper = -eh * _T2P[0.7] * opening
    lower = eh * 0.7 * _T2P[0.9] * (0.6 + 0.4 * opening)
    lu = np.concatenate([T, T[::-1]]) * ew
    lv = np.concatenate([upper, lower[:, ::-1]], 1)
    th = I("brow_thickness") * (1.0 - 0.55 * _BT)
    bv = (ey - I("brow_height") - 0.035 * G("brow_raise") - I("brow_arch") * _BROW_ARC
          + I("brow_slant") * _BT)
    brow_v = np.concatenate([bv - th * 0.5, (bv + th * 0.5)[:, ::-1]], 1)
    for name, side in (("l", -1.0), ("r", 1.0)):
        ex = side * es
        tilt = I("eye_tilt") * side  # outer corner up for both eyes
        geo.face("eye" + name, ex + lu, ey + lv - tilt * lu)
        geo.face("lid" + name, ex + T * ew * 1.04, ey + upper * 1.02 - tilt * T * ew)
        geo.face("crease" + name, ex + T[2:-2] * ew * 0.95, ey + upper[:, 2:-2] - eh * 0.9 - tilt * T[2:-2] * ew)
        geo.face("socket" + name, ex + _CX * ew * 1.35, ey - 0.02 + _CY * ew * 0.85)
        geo.face("iris" + name, ex + G("gaze_x") * ew * 0.6, ey + G("gaze_y") * eh * 0.5)
        bu = ex - side * ew * 0.95 + side * _BT * I("brow_length")
        geo.face("brow" + name, np.concatenate([bu, bu[:, ::-1]], 1), brow_v, lift=0.02)
    geo.iris_r = (I("iris_size") * ew)[:, 0] * geo.k

    # --- nose -------------------------------------------------------------------------------------
    nw = I("nose_width")
    top = ny - I("nose_length")
    nose_u = np.concatenate([zero1 - 0.05, zero1 + 0.05, nw * 0.55, nw * 0.95, nw * 0.6, zero1,
                             -nw * 0.6, -nw * 0.95, -nw * 0.55], 1)
    nose_v = np.concatenate([top, top, ny - 0.12, ny + 0.04, ny + 0.1, ny + 0.08, ny + 0.1, ny + 0.04,
                             ny - 0.12], 1)
    geo.face("nose", nose_u, nose_v, lift=nd * 0.8 * np.clip((nose_v - top) / (ny - top), 0, 1))
    geo.face("under_nose", _CX * nw, ny + 0.1 + _CY * 0.05, lift=nd * 0.1)
    for name, side in (("l", -1.0), ("r", 1.0)):
        geo.face("nostril" + name, side * nw * 0.42 + _CX * nw * 0.28, ny + 0.075 + _CY * 0.028, lift=nd * 0.35)
        geo.face("ala" + name, side * (nw * 0.75 + 0.1 * np.sin(_ALA_T) * nw), ny + 0.085 - (_ALA_T - 0.2) / 15.0,
                 lift=nd * 0.25)

    # --- mouth ------------------------------------------------------------------------------------
    line_v = corner_y + 0.05 * smile * T2
    gap = 0.09 * mopen * _T2P[0.8]
    ul = I("upper_lip") * _T2P[0.5] * _LIP_BOW + 0.004
    ll = I("lower_lip") * _T2P[0.6] + 0.004
    mu = T * mw
    mu2 = np.concatenate([mu, mu[:, ::-1]], 1)
    upper_bottom = line_v - gap * 0.3
    lower_top = line_v + gap * 0.7
    geo.face("upper_lip", mu2, np.concatenate([upper_bottom - ul, upper_bottom[:, ::-1]], 1))
    geo.face("lower_lip", mu2, np.concatenate([lower_top, (lower_top + ll)[:, ::-1]], 1))
    geo.face("lips", mu2, np.concatenate([upper_bottom - ul, (lower_top + ll)[:, ::-1]], 1))
    geo.face("mouth_line", mu, upper_bottom)
    geo.face("interior", mu2, np.concatenate([upper_bottom, lower_top[:, ::-1]], 1))
    tt = mu[:, 2:-2]
    geo.face("teeth", np.concatenate([tt, tt[:, ::-1]], 1),
             np.concatenate([upper_bottom[:, 2:-2], (upper_bottom + gap * 0.4)[:, 2:-2][:, ::-1]], 1))

    # --- hair -------------------------------------------------------------------------------------
    hl = -b + I("hair_hairline")
    fringe, part = I("fringe"), I("hair_part")
    us = _HAIR_U
    side_v = ey - 0.02
    hv = hl + 0.10 * us * us + (side_v - hl - 0.10) * _HAIR_U6
    hv = np.where(fringe > 0.55,
                  hv + (fringe - 0.55) * 0.5 * (1 - us ** 2) * (1 + 0.25 * np.sin(9 * us + 3 * part)),
                  hv - 0.08 * np.exp(-((us - part) / 0.08) ** 2))
    geo.face("hairline", us, hv, lift=0.02)
    # Strands fanning from the crown to the hairline (alternately darker and lighter when drawn).
    end_u = _STRAND_T * 0.92
    su = (np.array([0.25, 0.65, 1.0])[None, :] * end_u[:, None]).ravel() + part * 0.15
    sv = np.concatenate([np.concatenate([-b - 0.05, (-b + hl) / 2 - 0.08, hl + 0.1 * u * u - 0.01], 1)
                         for u in end_u], 1)
    geo.face("strands", su, sv, lift=0.03)
    vol = I("hair_volume")
    geo.sil("hair_arc", np.cos(_ARC_PHI) * (1.04 + vol * 0.3),
            np.minimum(np.sin(_ARC_PHI) * (b + vol * 0.5) - 0.05, side_v))
    geo.sil("hair_short", _CX * (1.0 + vol * 0.6), -0.25 * b + _CY * (b * 0.85 + vol * 0.6))
    geo.sil("hair_medium", _CX * (1.07 + vol), _CY * (b + vol) - 0.05 * b)
    w = 1.12 + vol
    bottom = b + 1.1 + 0.2 * G("hair_wiggle")
    geo.sil("hair_long", w * _LONG_U, -0.2 + (bottom + 0.2) * _LONG_V)
    geo.sil("hair_bun", _CX * 0.38, -b - 0.25 + _CY * 0.36)
    geo.sil("neck_top", zero1, b * 0.35)

    # --- beard: the jaw below the cheeks, up to a line under the nose -------------------------------
    bx, by, front = _jaw_outline(_BEARD_JAW, n_sq, taper, depth)
    geo.sil("beard_jaw", bx * 1.01, by * b + 0.01, front)
    bu = np.linspace(-0.92, 0.92, 11)
    geo.face("beard_top", bu, ny + 0.075 - 0.3 * np.maximum(np.abs(bu) - 0.3, 0.0), lift=0.01)

    # --- glasses ----------------------------------------------------------------------------------
    gs = I("glasses_size")
    nexp = 2.0 + 4.0 * I("glasses_round")
    rx = _CIRCLE_SIGN[:, 0] * np.exp(_CIRCLE_LOG[:, 0] * (2 / nexp)) * 0.22 * gs
    ry = _CIRCLE_SIGN[:, 1] * np.exp(_CIRCLE_LOG[:, 1] * (2 / nexp)) * 0.15 * gs
    geo.face("rimL", -es + rx, ey + 0.01 + ry, lift=0.1)
    geo.face("rimR", es + rx, ey + 0.01 + ry, lift=0.1)
    geo.face("bridge", np.concatenate([-es + 0.22 * gs, zero1, es - 0.22 * gs], 1),
             np.concatenate([ey, ey - 0.04, ey], 1), lift=0.12)
    geo.face("templeL", np.concatenate([-(es + 0.22 * gs), zero1 - 1.0], 1), np.concatenate([ey, ey + 0.02], 1),
             lift=np.array([0.5, 0.0]), surface=False)
    geo.face("templeR", np.concatenate([es + 0.22 * gs, zero1 + 1.0], 1), np.concatenate([ey, ey + 0.02], 1),
             lift=np.array([0.5, 0.0]), surface=False)

    # --- ears -------------------------------------------------------------------------------------
    ev = ey + 0.12 + I("ear_y")
    geo.face("ears", np.array([-1.02, 1.02]), ev, lift=-0.12, surface=False)
    geo.solve()
    # Ear polygons around the projected centres (an ellipse turned with the head's roll).
    hgt = geo.k[:, None] * I("ear_size")
    for j, side in enumerate((-1.0, 1.0)):
        width = geo.k[:, None] * 0.15 * (1.0 + 0.8 * np.maximum(0.0, -geo.sin_yaw * side))
        centre = geo.pts["ears"][:, j:j + 1]
        outer = np.stack([_CX * width + side * width * 0.3, _CY * hgt], axis=2)
        inner = np.stack([_CX * width * 0.45 + side * width * 0.25, _CY * hgt * 0.6], axis=2)
        geo.add_pixels(f"ear{j}", centre + np.matmul(outer, geo.rz2))
        geo.add_pixels(f"ear_inner{j}", centre + np.matmul(inner, geo.rz2))
    top = geo.pts["neck_top"][:, 0]
    nw_px = 0.42 * geo.k
    bottom = np.full(B, S + 2.0)
    geo.add_pixels("neck", np.stack([np.stack([top[:, 0] - nw_px, top[:, 1]], 1),
                                     np.stack([top[:, 0] + nw_px, top[:, 1]], 1),
                                     np.stack([top[:, 0] + nw_px * 1.15, bottom], 1),
                                     np.stack([top[:, 0] - nw_px * 1.15, bottom], 1)], 1))
    # Which side of the head faces the camera: z of (side, 0, -0.12) after rotation.
    geo.ear_front = np.stack([rot[:, 2, 0] * side - 0.12 * rot[:, 2, 2] > 0.08 for side in (-1.0, 1.0)], 1)
    geo.temple_visible = np.stack([rot[:, 2, 0] * side > -0.3 for side in (-1.0, 1.0)], 1)
    return geo


def truth_from_geometry(geo: Geometry, size: int, i: int) -> dict:
    outline = geo.pts["outline"][i]
    x0, y0 = outline.min(axis=0)
    x1, y1 = outline.max(axis=0)
    return {"box": np.array([max(0.0, x0), max(0.0, y0), min(float(size), x1), min(float(size), y1)]),
            "landmarks": geo.pts["landmarks"][i].copy()}
