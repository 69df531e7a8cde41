"""Drawing synthetic faces: flat colours with anti-aliased cv2 primitives, then Lambertian shading.

The geometry (all points of a batch, in pixels) comes from `synthetic_geometry.face_geometry`; here each
image is drawn back to front: background (gradient, texture, shapes), clothes, back hair, neck, ears, the
face oval, hairline, eyes (white, iris, pupil, highlight, lids), brows, nose, lips, glasses. A shading map,
computed at half resolution from a blurred height map (head, hair, nose, eye sockets, lips, neck) and the
image's light direction, then lights the person; exposure, white balance, blur and sensor noise finish it.
"""
from __future__ import annotations

import colorsys
import math

import cv2
import numpy as np

from zoo.data.synthetic_params import HAIR_STYLES

_AA = cv2.LINE_AA
_SHIFT = 4          # the geometry's fixed-point coordinates: 4 fractional bits
_HALF = _SHIFT + 1  # the same integers read with one more bit land on the half-resolution height map
_ONE = 1 << _SHIFT
_NOISE_BANKS: dict[int, np.ndarray] = {}
_F32 = np.float32
_RAMP = np.linspace(-1.0, 1.0, 4)
_BACK_HAIR = {"bald": (), "short": ("hair_short",), "medium": ("hair_medium",),
              "long": ("hair_medium", "hair_long"), "bun": ("hair_short", "hair_bun")}


def _noise_bank(size: int) -> np.ndarray:
    bank = _NOISE_BANKS.get(size)
    if bank is None:
        bank = np.random.default_rng(0x5EED).standard_normal((2 * size, 2 * size, 3)).astype(np.float32)
        _NOISE_BANKS[size] = bank
    return bank


class _Row:
    """`geo.fixed[name][i]` on demand (an image uses only some of the batch's point sets)."""

    __slots__ = ("table", "i")

    def __init__(self, table: dict, i: int):
        self.table, self.i = table, i

    def __getitem__(self, name: str) -> np.ndarray:
        return self.table[name][self.i]


def _mul(c, f: float) -> tuple:
    return tuple(min(255.0, x * f) for x in c)


def _mix(a, b, t: float) -> tuple:
    return tuple(min(255.0, max(0.0, x + (y - x) * t)) for x, y in zip(a, b))


def _ellipse(img, centre, axes, angle, color, shift=_SHIFT) -> None:
    one = 1 << shift
    cv2.ellipse(img, (int(centre[0] * one + 0.5), int(centre[1] * one + 0.5)),
                (max(0, int(axes[0] * one + 0.5)), max(0, int(axes[1] * one + 0.5))),
                float(angle), 0, 360, color, -1, _AA, shift)


def _background(S: int, g: dict, extra: np.ndarray) -> tuple[np.ndarray, tuple]:
    """Bilinear colour gradient + low-frequency texture + up to four flat shapes."""
    r = extra[:60]
    base = tuple(c * 255.0 for c in colorsys.hsv_to_rgb(g["bg_hue"], g["bg_sat"] * 0.55, g["bg_val"]))
    grid = r[:16].reshape(4, 4, 1) * 0.6 + r[12:60].reshape(4, 4, 3) * 0.4 - 0.5
    corners = _RAMP[None, :, None] * (r[0] * 2 - 1) + _RAMP[:, None, None] * (r[1] * 2 - 1)
    low = cv2.convertScaleAbs((np.array(base) + 255.0 * g["bg_contrast"] * (grid + 0.35 * corners)).astype(_F32))
    img = cv2.resize(cv2.resize(low, (16, 16), interpolation=cv2.INTER_CUBIC), (S, S), interpolation=cv2.INTER_LINEAR)
    for q in extra[60:92].reshape(4, 8)[:int(g["bg_shapes"] * 4)].tolist():
        col = tuple(a * 127.0 + 0.5 * c for a, c in zip(q[2:5], base))
        if q[0] < 0.5:
            _ellipse(img, (q[5] * S, q[6] * S), ((0.05 + 0.25 * q[7]) * S, (0.05 + 0.25 * q[7]) * S * (q[1] + 0.3)),
                     q[1] * 180, col)
        else:
            x, y, w, h = q[5] * S, q[6] * S, (0.05 + 0.35 * q[7]) * S, (0.05 + 0.35 * q[1]) * S
            cv2.rectangle(img, (int(x * _ONE), int(y * _ONE)), (int((x + w) * _ONE), int((y + h) * _ONE)), col, -1,
                          _AA, _SHIFT)
    return img, base


def render_face(size: int, idv: dict, g: dict, extra: np.ndarray, geo, i: int) -> np.ndarray:
    """Draw image `i` of a batch. `idv`: identity fields; `g`: image fields; `extra`: extra uniforms."""
    S = size
    F = _Row(geo.fixed, i)
    k = float(geo.k[i])
    cx, cy = geo.c[i].tolist()
    b = idv["face_height"]
    roll = float(geo.roll_deg[i])
    mopen = float(geo.mopen[i])
    style = HAIR_STYLES[int(idv["hair_style"])]
    px = S / 128.0  # line widths scale with the image
    lw = max(1, int(px + 0.5))

    def fill(im, names, color, shift=_SHIFT):
        cv2.fillPoly(im, [F[n] for n in names], color, _AA, shift)

    def lines(im, names, color, width=lw, closed=False):
        cv2.polylines(im, [F[n] for n in names], closed, color, width, _AA, _SHIFT)

    # --- colours --------------------------------------------------------------------------------
    skin = (idv["skin_r"], idv["skin_g"], idv["skin_b"])
    hair = (idv["hair_r"], idv["hair_g"], idv["hair_b"])
    iris = (idv["iris_r"], idv["iris_g"], idv["iris_b"])
    lip = _mul(_mix(skin, (176.0, 72.0, 78.0), idv["lip_redness"]), 0.86)
    brow = tuple(min(h * 0.8 + c * 0.25, s * 0.72) for h, c, s in zip(hair, (60.0, 45.0, 35.0), skin))
    brow = _mix(skin, brow, idv["brow_density"])
    lash = tuple(min(h, c) * 0.6 for h, c in zip(hair, (60.0, 45.0, 40.0)))

    img, _ = _background(S, g, extra)
    H = S // 2  # height map for shading, at half resolution
    head_map = np.zeros((H, H), np.uint8)
    detail_map = np.zeros((H, H), np.uint8)

    # --- clothes, back hair, neck ---------------------------------------------------------------
    clothes = tuple(c * 255.0 for c in colorsys.hsv_to_rgb(g["clothes_hue"], 0.2 + 0.5 * extra[92], g["clothes_val"]))
    shoulder = (cx + float(geo.sin_yaw[i, 0]) * k * 0.3, cy + (b + 1.25) * k)
    _ellipse(img, shoulder, (2.5 * k, 1.0 * k), roll * 0.3, clothes)
    back = _BACK_HAIR[style]
    for name in back:  # one call per polygon: fillPoly leaves holes where polygons of one call overlap
        fill(img, (name,), hair)
        fill(head_map, (name,), 255, _HALF)
    fill(img, ("neck",), _mul(skin, 0.8))
    fill(head_map, ("neck",), 150, _HALF)
    cv2.ellipse(img, (int(shoulder[0] * _ONE), int((shoulder[1] - 0.25 * k) * _ONE)),
                (int(0.9 * k * _ONE), int(0.55 * k * _ONE)), 0, 0, 180, clothes, -1, _AA, _SHIFT)

    # --- ears (the far one behind the head), face oval, hairline --------------------------------
    ears = style in ("bald", "short", "bun")
    for front in (False, True):
        if front:
            fill(img, ("outline",), skin)
            fill(head_map, ("outline",), 255, _HALF)
        for j in (0, 1):
            if ears and bool(geo.ear_front[i, j]) == front:
                fill(img, (f"ear{j}",), _mul(skin, 0.93))
                fill(head_map, (f"ear{j}",), 200, _HALF)
                fill(img, (f"ear_inner{j}",), _mul(skin, 0.72))
    if style != "bald":
        cv2.fillPoly(img, [np.concatenate([F["hairline"], F["hair_arc"]])], hair, _AA, _SHIFT)
        strands = F["strands"].reshape(9, 3, 2)
        cv2.polylines(img, list(strands[0::2]), False, _mul(hair, 0.8), lw, _AA, _SHIFT)
        cv2.polylines(img, list(strands[1::2]), False, _mix(hair, (235.0, 225.0, 210.0), 0.1), lw, _AA, _SHIFT)

    # --- eyes and brows --------------------------------------------------------------------------
    white = _mul((236.0, 230.0, 224.0), 0.92 + 0.08 * skin[0] / 255.0)
    ir = float(geo.iris_r[i])
    axes = (ir * abs(float(geo.cos_yaw[i])), ir)
    fill(head_map, ("socketl", "socketr"), 185, _HALF)
    for name in ("eyel", "eyer"):
        poly = F[name]
        xa, ya = (poly.min(axis=0) >> _SHIFT) - 1
        xb, yb = (poly.max(axis=0) >> _SHIFT) + 2
        xa, ya, xb, yb = max(int(xa), 0), max(int(ya), 0), min(int(xb), S), min(int(yb), S)
        if xb - xa < 2 or yb - ya < 2:
            continue
        roi = img[ya:yb, xa:xb]
        local = [poly - np.array([xa * _ONE, ya * _ONE], np.int32)]
        layer = roi.copy()
        mask = np.zeros(roi.shape[:2], np.uint8)
        cv2.fillPoly(mask, local, 255, _AA, _SHIFT)
        cv2.fillPoly(layer, local, white, _AA, _SHIFT)
        ic = geo.pts["iris" + name[-1]][i, 0] - (xa, ya)
        _ellipse(layer, ic, axes, roll, iris)
        _ellipse(layer, ic, (axes[0] * 0.45, axes[1] * 0.45), roll, (12, 10, 10))
        _ellipse(layer, ic + ir * np.array([0.35, -0.35]), (max(0.6, ir * 0.16),) * 2, 0, (250, 250, 250))
        m = mask.astype(_F32)[..., None] * _F32(1 / 255.0)
        roi[:] = (roi + (layer.astype(_F32) - roi) * m).astype(np.uint8)
    lines(img, ("lidl", "lidr"), lash, max(1, int(1.2 * px + 0.5)))
    lines(img, ("creasel", "creaser"), _mul(skin, 0.8), max(1, int(0.8 * px + 0.5)))
    fill(img, ("browl", "browr"), brow)

    # --- nose and mouth --------------------------------------------------------------------------
    fill(detail_map, ("under_nose",), 90, _HALF)  # the upper lip's bulge, then the nose over it
    fill(detail_map, ("nose",), 255, _HALF)
    fill(detail_map, ("lips",), 60, _HALF)
    if idv["beard"] > 0:  # a soft-edged mask blended towards a dark hair colour
        mask = np.zeros((S, S), np.uint8)
        cv2.fillPoly(mask, [np.concatenate([F["beard_jaw"], F["beard_top"]])], 255, _AA, _SHIFT)
        mask = cv2.GaussianBlur(mask, (0, 0), max(0.6, 0.035 * k)).astype(_F32)[..., None]
        mask *= _F32(idv["beard"] / 255.0)
        colour = np.array([min(h, 90.0) * 0.8 for h in hair], _F32)
        img = cv2.convertScaleAbs(img + (colour - img) * mask)
    fill(img, ("nostrill", "nostrilr"), _mul(skin, 0.42))
    lines(img, ("alal", "alar"), _mul(skin, 0.75), max(1, int(0.9 * px + 0.5)))
    if mopen > 0.05:
        fill(img, ("interior",), (70.0, 22.0, 28.0))
        if mopen > 0.2:
            fill(img, ("teeth",), (226.0, 220.0, 206.0))
    fill(img, ("upper_lip",), _mul(lip, 0.9))
    fill(img, ("lower_lip",), lip)
    lines(img, ("mouth_line",), _mul(lip, 0.45), max(1, int(0.9 * px + 0.5)))

    # --- glasses --------------------------------------------------------------------------------
    if idv["glasses"] > 0.5:
        gcol = (idv["glasses_r"], idv["glasses_g"], idv["glasses_b"])
        t = max(1, int(1.5 * px + 0.5))
        lines(img, ("rimL", "rimR"), gcol, t, closed=True)
        lines(img, ("bridge",) + tuple(n for j, n in enumerate(("templeL", "templeR")) if geo.temple_visible[i, j]),
              gcol, t)

    # --- shading from the height map ----------------------------------------------------------
    hk = 0.5 * k
    hmap = cv2.GaussianBlur(head_map.astype(_F32), (0, 0), 0.38 * hk) * _F32(1.45 * hk / 255.0)
    hmap += cv2.GaussianBlur(detail_map.astype(_F32), (0, 0), max(0.5, 0.055 * hk)) * _F32(0.22 * hk / 255.0)
    gx = cv2.Sobel(hmap, cv2.CV_32F, 1, 0, ksize=3, scale=0.125)
    gy = cv2.Sobel(hmap, cv2.CV_32F, 0, 1, ksize=3, scale=0.125)
    az, el = g["light_azimuth"], g["light_elevation"]
    lx, ly, lz = math.cos(el) * math.cos(az), math.cos(el) * math.sin(az), math.sin(el)
    strength = g["light_strength"]
    ndotl = (_F32(lz) - _F32(lx) * gx - _F32(ly) * gy) / np.sqrt(gx * gx + gy * gy + _F32(1.0))
    gain = strength / (1.0 - strength + strength * lz)
    # Only the person is lit by these normals; the background keeps its own gradient.
    person = cv2.blur(head_map, (3, 3)).astype(_F32) * _F32(gain / 255.0)
    shade = _F32(1.0) + (np.maximum(ndotl, _F32(0.0)) - _F32(lz)) * person
    # Exposure and white balance fold into the (half-resolution) shading map.
    w = g["warmth"] * 0.05
    e = g["exposure"]
    shade = cv2.merge([shade * _F32(e * (1 + w)), shade * _F32(e), shade * _F32(e * (1 - w))])
    out = cv2.multiply(img, cv2.resize(shade, (S, S), interpolation=cv2.INTER_LINEAR), dtype=cv2.CV_32F)
    if g["blur"] > 0.7:
        out = cv2.GaussianBlur(out, (0, 0), (g["blur"] - 0.7) / 0.3 * 0.9 * px + 0.3)
    bank = _noise_bank(S)
    ox, oy = int(g["noise_x"] * S), int(g["noise_y"] * S)
    out = cv2.scaleAdd(bank[oy:oy + S, ox:ox + S], g["noise"], out)
    return cv2.convertScaleAbs(out)  # saturates at 255; values are >= 0 but for a little noise
