"""Parameters of synthetic faces: identity vectors and per-image variation, from a counter-based hash.

Every random number is `hash(seed, stream, identity, index, field)`, so identity 42's parameters are the
same whether the generator knows 50 or 50,000 identities, any subset is computed in one vectorised call
(10,000 identities in a few milliseconds), and nothing depends on the order of calls.
"""
from __future__ import annotations

import numpy as np

_M64 = np.uint64(0xFFFFFFFFFFFFFFFF)
_STREAM_IDENTITY = 0x1D
_STREAM_IMAGE = 0x1A


def _splitmix64(x: np.ndarray) -> np.ndarray:
    """The splitmix64 finaliser on a uint64 array (wrapping arithmetic)."""
    x = x + np.uint64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def uniforms(seed: int, stream: int, keys: np.ndarray, count: int) -> np.ndarray:
    """Uniform floats in [0, 1), shape (len(keys), count), a pure function of (seed, stream, key, column).

    `keys` is a (n,) or (n, k) integer array; each row is hashed in turn with the seed and stream.
    """
    keys = np.asarray(keys, dtype=np.int64).reshape(len(keys), -1).astype(np.uint64)
    with np.errstate(over="ignore"):
        h = _splitmix64(np.full(len(keys), np.uint64(seed & 0xFFFFFFFFFFFFFFFF)) ^ np.uint64(stream))
        for col in range(keys.shape[1]):
            h = _splitmix64(h ^ keys[:, col])
        cols = _splitmix64(h[:, None] + np.arange(1, count + 1, dtype=np.uint64)[None, :]
                           * np.uint64(0xD1B54A32D192ED03))
    return (cols >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))


# --- palettes (RGB) -------------------------------------------------------------------------------
SKIN_TONES = np.array([[255, 226, 204], [241, 198, 170], [226, 176, 140], [203, 145, 106],
                       [172, 115, 80], [134, 88, 60], [98, 64, 44], [74, 48, 35]], np.float64)
HAIR_COLOURS = np.array([[28, 24, 22], [52, 36, 28], [88, 60, 40], [130, 94, 60], [196, 160, 100],
                         [150, 72, 38], [150, 148, 144], [214, 208, 200]], np.float64)
HAIR_WEIGHTS = np.array([0.26, 0.22, 0.16, 0.11, 0.09, 0.05, 0.07, 0.04])
IRIS_COLOURS = np.array([[78, 50, 30], [46, 32, 24], [112, 88, 48], [80, 108, 66], [72, 110, 156],
                         [108, 118, 128]], np.float64)
IRIS_WEIGHTS = np.array([0.35, 0.22, 0.12, 0.09, 0.14, 0.08])
GLASSES_COLOURS = np.array([[20, 20, 20], [90, 60, 35], [150, 150, 155], [120, 30, 30],
                            [30, 40, 90]], np.float64)

HAIR_STYLES = ("bald", "short", "medium", "long", "bun")
HAIR_STYLE_WEIGHTS = np.array([0.07, 0.38, 0.25, 0.22, 0.08])

# Identity fields: (name, low, high) for continuous ones, mapped linearly from a uniform.
_CONTINUOUS = [
    ("face_width", 0.90, 1.10),     # face half-width multiplier
    ("face_height", 1.22, 1.45),    # half-height / half-width
    ("jaw_taper", 0.05, 0.38),      # narrowing of the lower face towards the chin
    ("squareness", 2.0, 2.9),       # superellipse exponent of the outline
    ("skin_jitter_r", -1.0, 1.0),
    ("skin_jitter_g", -1.0, 1.0),
    ("skin_jitter_b", -1.0, 1.0),
    ("eye_spacing", 0.38, 0.48),    # eye centre |x| in face half-widths
    ("eye_y", -0.20, -0.06),
    ("eye_width", 0.18, 0.23),      # half-width of the eye opening
    ("eye_height", 0.38, 0.56),     # opening half-height / half-width
    ("eye_tilt", -0.12, 0.14),      # radians, outer corner up when > 0
    ("iris_size", 0.50, 0.66),      # iris radius / eye half-width
    ("brow_height", 0.15, 0.24),    # above the eye centre
    ("brow_thickness", 0.035, 0.075),
    ("brow_arch", 0.00, 0.07),
    ("brow_length", 0.26, 0.40),
    ("brow_slant", -0.05, 0.05),
    ("brow_density", 0.55, 1.0),
    ("nose_y", 0.36, 0.50),         # nose tip
    ("nose_width", 0.15, 0.24),
    ("nose_length", 0.40, 0.58),
    ("nose_depth", 0.25, 0.42),
    ("mouth_y", 0.70, 0.84),
    ("mouth_width", 0.28, 0.40),
    ("upper_lip", 0.08, 0.12),
    ("lower_lip", 0.10, 0.15),
    ("lip_redness", 0.25, 0.6),
    ("hair_hairline", 0.25, 0.55),  # how far below the top of the outline the hair starts
    ("hair_volume", 0.08, 0.25),
    ("hair_part", -0.5, 0.5),
    ("fringe", 0.0, 1.0),
    ("ear_size", 0.22, 0.32),
    ("ear_y", -0.10, 0.10),
    ("glasses_size", 0.95, 1.15),
    ("glasses_round", 0.0, 1.0),
    ("head_depth", 0.92, 1.10),
]
# Fields derived from uniforms in a non-linear way (computed in `identity_table`).
_DERIVED = ["skin_tone", "skin_r", "skin_g", "skin_b", "hair_r", "hair_g", "hair_b", "hair_style",
            "iris_r", "iris_g", "iris_b", "glasses", "glasses_r", "glasses_g", "glasses_b", "beard"]
IDENTITY_FIELDS: tuple[str, ...] = tuple(n for n, _, _ in _CONTINUOUS) + tuple(_DERIVED)
FIELD_INDEX = {name: i for i, name in enumerate(IDENTITY_FIELDS)}
_N_UNIFORMS = len(_CONTINUOUS) + 7


def _pick(u: np.ndarray, weights: np.ndarray) -> np.ndarray:
    return np.searchsorted(np.cumsum(weights) / weights.sum(), u, side="right").clip(0, len(weights) - 1)


def identity_table(seed: int, ids) -> np.ndarray:
    """The parameter vectors of identities `ids`: float64 (len(ids), len(IDENTITY_FIELDS)), vectorised."""
    ids = np.asarray(ids, dtype=np.int64).reshape(-1)
    u = uniforms(seed, _STREAM_IDENTITY, ids, _N_UNIFORMS)
    nc = len(_CONTINUOUS)
    lo = np.array([lo for _, lo, _ in _CONTINUOUS])
    hi = np.array([hi for _, _, hi in _CONTINUOUS])
    cont = lo + (hi - lo) * u[:, :nc]
    extra = u[:, nc:]
    out = np.empty((len(ids), len(IDENTITY_FIELDS)))
    out[:, :nc] = cont
    col = {n: nc + i for i, n in enumerate(_DERIVED)}
    # Skin: a position along a light -> dark palette, plus a small per-channel jitter.
    tone = extra[:, 0]
    pos = tone * (len(SKIN_TONES) - 1)
    i0 = np.floor(pos).astype(int).clip(0, len(SKIN_TONES) - 2)
    f = (pos - i0)[:, None]
    skin = SKIN_TONES[i0] * (1 - f) + SKIN_TONES[i0 + 1] * f
    skin += cont[:, 4:7] * np.array([8.0, 7.0, 7.0])
    out[:, col["skin_tone"]] = tone
    out[:, col["skin_r"]:col["skin_b"] + 1] = skin.clip(0, 255)
    # Hair colour: a palette entry, darker skin tones more often dark-haired.
    hu = (extra[:, 1] * (1.0 - 0.6 * (tone > 0.5))).clip(0, 0.999)
    hair = HAIR_COLOURS[_pick(hu, HAIR_WEIGHTS)] * (0.88 + 0.24 * extra[:, 5:6])
    out[:, col["hair_r"]:col["hair_b"] + 1] = hair.clip(0, 255)
    out[:, col["hair_style"]] = _pick(extra[:, 2], HAIR_STYLE_WEIGHTS)
    iris = IRIS_COLOURS[_pick((extra[:, 3] * (1.0 - 0.55 * (tone > 0.45))).clip(0, 0.999), IRIS_WEIGHTS)]
    out[:, col["iris_r"]:col["iris_b"] + 1] = iris
    glasses = extra[:, 4] < 0.22
    out[:, col["glasses"]] = glasses
    gi = np.floor(extra[:, 4] / 0.22 * len(GLASSES_COLOURS)).astype(int).clip(0, len(GLASSES_COLOURS) - 1)
    out[:, col["glasses_r"]:col["glasses_b"] + 1] = GLASSES_COLOURS[gi]
    # Beard density (0: none): stubble to full, for about one in five short-haired or bald identities.
    style = out[:, col["hair_style"]]
    bearded = (extra[:, 6] < 0.2) & (style != HAIR_STYLES.index("long")) & (style != HAIR_STYLES.index("bun"))
    out[:, col["beard"]] = np.where(bearded, 0.15 + 0.5 * extra[:, 6] / 0.2, 0.0)
    return out


# Per-image variation: (name, low, high).
IMAGE_FIELDS = [
    ("yaw", -26.0, 26.0), ("pitch", -14.0, 14.0), ("roll", -14.0, 14.0),   # degrees
    ("scale", 0.84, 1.12), ("shift_x", -0.05, 0.05), ("shift_y", -0.05, 0.05),
    ("smile", -0.3, 1.0), ("mouth_open", 0.0, 1.0), ("brow_raise", -1.0, 1.0), ("eye_open", 0.55, 1.1),
    ("gaze_x", -0.25, 0.25), ("gaze_y", -0.15, 0.15),
    ("light_azimuth", -np.pi, 0.0), ("light_elevation", 0.35, 1.25), ("light_strength", 0.35, 0.85),
    ("exposure", 0.80, 1.12), ("warmth", -1.0, 1.0),
    ("bg_hue", 0.0, 1.0), ("bg_sat", 0.0, 1.0), ("bg_val", 0.15, 0.95), ("bg_contrast", 0.05, 0.5),
    ("bg_shapes", 0.0, 1.0), ("clothes_hue", 0.0, 1.0), ("clothes_val", 0.1, 0.9),
    ("noise", 0.5, 5.0), ("blur", 0.0, 1.0), ("noise_x", 0.0, 1.0), ("noise_y", 0.0, 1.0),
    ("hair_wiggle", -1.0, 1.0),
]
IMAGE_FIELD_INDEX = {name: i for i, (name, _, _) in enumerate(IMAGE_FIELDS)}


N_IMAGE_EXTRA = 93  # further uniforms: background texture (60), up to 4 background shapes (4 x 8), clothes (1)
_IMG_LO = np.array([lo for _, lo, _ in IMAGE_FIELDS] + [0.0] * N_IMAGE_EXTRA)
_IMG_HI = np.array([hi for _, _, hi in IMAGE_FIELDS] + [1.0] * N_IMAGE_EXTRA)


def image_table(seed: int, identities, indices) -> np.ndarray:
    """Per-image variation for (identity, index) pairs: float64 (n, len(IMAGE_FIELDS) + N_IMAGE_EXTRA)."""
    keys = np.stack([np.asarray(identities, np.int64).reshape(-1),
                     np.asarray(indices, np.int64).reshape(-1)], axis=1)
    u = uniforms(seed, _STREAM_IMAGE, keys, len(_IMG_LO))
    return _IMG_LO + (_IMG_HI - _IMG_LO) * u
