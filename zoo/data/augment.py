"""Face-swap training augmentation with numpy/OpenCV, deterministic given a `np.random.Generator`.

The faceswap recipe, written afresh:
1. colour jitter in LAB: lightness pushed towards white or black, contrast around the mean lightness,
   and shifts of the a/b colour channels (applied to the source, so input and target share it);
2. a random similarity transform: rotate, scale, shift, horizontal flip (the *target*);
3. the random warp: a coarse grid (5x5 by default) over the target, each node moved by Gaussian noise,
   interpolated to a dense map and used to resample the same source: the *warped input*. The model
   learns to undo the warp, i.e. to reconstruct the face from a distorted one.
The mask follows the target's transform exactly, so losses can weight the face area.

Every random number is drawn in a fixed order whatever the config turns on or off, so switching one
augmentation off does not change the others for the same generator state.

Examples:
    >>> rng = np.random.default_rng(0)
    >>> warped, target, mask = augment_pair(face_uint8, face_mask, rng, 64)
    >>> warped.shape, target.shape, mask.shape
    ((64, 64, 3), (64, 64, 3), (64, 64, 1))
"""
from __future__ import annotations

import dataclasses
import functools
import math

import cv2
import numpy as np
from zoo.errors import InputError


@dataclasses.dataclass(frozen=True)
class AugmentConfig:
    """Augmentation strengths (faceswap's defaults). Set a strength to 0 to turn that part off.

    Attributes:
        rotation: maximum rotation, degrees either way.
        zoom: maximum scale change, fraction either way (0.05 = 95%..105%).
        shift: maximum shift, fraction of the output size, each axis either way.
        flip: chance of a horizontal flip.
        lightness: maximum LAB lightness push, fraction (towards white if positive, black if negative).
        contrast: maximum lightness contrast change, fraction either way.
        ab: maximum shift of the LAB a and b channels, fraction of their range (+-127).
        warp: standard deviation of the warp grid's node noise, fraction of the output size
            (faceswap: 5 px at 256 px).
        warp_grid: nodes per side of the warp grid.
    """

    rotation: float = 10.0
    zoom: float = 0.05
    shift: float = 0.05
    flip: float = 0.5
    lightness: float = 0.30
    contrast: float = 0.15
    ab: float = 0.08
    warp: float = 5.0 / 256.0
    warp_grid: int = 5

    def __post_init__(self):
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise InputError(f"AugmentConfig.{field.name} must be a finite number >= 0; "
                                 f"received {value!r}")
        if not 0 <= self.flip <= 1:
            raise InputError(f"AugmentConfig.flip is a probability in [0, 1]; received {self.flip!r}")
        if self.warp_grid < 2:
            raise InputError(f"AugmentConfig.warp_grid must be >= 2; received {self.warp_grid!r}")


DEFAULT = AugmentConfig()
NONE = AugmentConfig(rotation=0, zoom=0, shift=0, flip=0, lightness=0, contrast=0, ab=0, warp=0)


def _to_uint8(array: np.ndarray) -> np.ndarray:
    array = np.asarray(array)
    if array.dtype == np.uint8:
        return array
    return np.clip(np.asarray(array, np.float32) * 255.0 + 0.5, 0, 255).astype(np.uint8)


def _mask_uint8(mask, shape) -> np.ndarray:
    if mask is None:
        return np.full(shape, 255, np.uint8)
    mask = np.asarray(mask)
    if mask.ndim == 3:
        mask = mask[..., 0]
    if mask.shape != shape:
        raise InputError(f"mask shape {mask.shape} does not match the image's {shape}")
    return _to_uint8(mask)


def color_jitter(image: np.ndarray, draws: np.ndarray, config: AugmentConfig) -> np.ndarray:
    """LAB jitter of an RGB uint8 image; `draws` holds 4 uniforms in [-1, 1].

    Works in OpenCV's 8-bit LAB (L scaled to 0..255, a/b offset by 128) through one lookup table per
    channel, as faceswap does: contrast around the mean lightness, then lightness pushed towards
    white (positive) or black (negative), then a/b shifted.
    """
    if not (config.lightness or config.contrast or config.ab):
        return image
    lab = cv2.cvtColor(image, cv2.COLOR_RGB2LAB)
    levels = np.arange(256, dtype=np.float32)
    lum = levels
    if config.contrast:
        mean = cv2.mean(lab)[0]  # == lab[..., 0].mean() exactly (integer sum / count), in one fast pass
        lum = (lum - mean) * (1.0 + draws[1] * config.contrast) + mean
    light = draws[0] * config.lightness
    if light > 0:
        lum = lum * (1 - light) + 255.0 * light
    elif light < 0:
        lum = lum * (1 + light)
    a = levels + draws[2] * config.ab * 127.0
    b = levels + draws[3] * config.ab * 127.0
    table = np.stack([lum, a, b], axis=-1)
    table = np.clip(np.rint(table), 0, 255).astype(np.uint8).reshape(256, 1, 3)
    return cv2.cvtColor(cv2.LUT(lab, table), cv2.COLOR_LAB2RGB)


@functools.lru_cache(maxsize=32)
def _interpolation_weights(nodes: int, size: int) -> np.ndarray:
    """(size, nodes) bicubic weights: W @ grid @ W.T == cv2.resize(grid, (size, size), cubic)."""
    eye = np.eye(nodes, dtype=np.float32)
    weights = cv2.resize(eye, (nodes, size), interpolation=cv2.INTER_CUBIC)
    weights.setflags(write=False)
    return weights


def random_transform_matrix(rng_draws: np.ndarray, flip: bool, size_in: int, size_out: int,
                            config: AugmentConfig) -> np.ndarray:
    """The 2x3 matrix taking source pixels to output pixels; `rng_draws` holds 4 uniforms in [-1, 1]."""
    angle = math.radians(rng_draws[0] * config.rotation)
    scale = (1.0 + rng_draws[1] * config.zoom) * size_out / size_in
    tx, ty = rng_draws[2] * config.shift * size_out, rng_draws[3] * config.shift * size_out
    c_in, c_out = (size_in - 1) / 2.0, (size_out - 1) / 2.0
    cos, sin = scale * math.cos(angle), scale * math.sin(angle)
    fx = -1.0 if flip else 1.0
    # out = R*S*F*(p - c_in) + c_out + t
    linear = np.array([[cos * fx, -sin], [sin * fx, cos]])
    offset = np.array([c_out + tx, c_out + ty]) - linear @ np.array([c_in, c_in])
    return np.hstack([linear, offset[:, None]])


def warp_maps(matrix: np.ndarray, noise: np.ndarray, size_out: int) -> tuple[np.ndarray, np.ndarray]:
    """Dense remap maps (output -> source) of `matrix` with a smooth grid displacement.

    `noise` is (2, G, G) node displacements in output pixels, interpolated (bicubic) over the output.
    """
    inverse = cv2.invertAffineTransform(matrix)
    grid = np.arange(size_out, dtype=np.float32)
    u, v = grid[None, :], grid[:, None]  # the output pixel grid, broadcast (no meshgrid copies)
    if noise is not None and np.any(noise):
        weights = _interpolation_weights(noise.shape[1], size_out)
        u = u + weights @ noise[0].astype(np.float32) @ weights.T
        v = v + weights @ noise[1].astype(np.float32) @ weights.T
    a = inverse.astype(np.float32)
    shape = (size_out, size_out)
    map_x = np.broadcast_to(a[0, 0] * u + a[0, 1] * v + a[0, 2], shape)
    map_y = np.broadcast_to(a[1, 0] * u + a[1, 1] * v + a[1, 2], shape)
    return np.ascontiguousarray(map_x), np.ascontiguousarray(map_y)


def augment_pair(image: np.ndarray, mask, rng: np.random.Generator, size_out: int,
                 config: AugmentConfig | None = None, *, warp: bool = True):
    """Augment one aligned face into a (warped input, target, target mask) training triple.

    Args:
        image: aligned square face, RGB uint8 (float in [0, 1] is quantised to uint8), (H, W, 3).
        mask: face mask (H, W) or (H, W, 1), uint8 0..255 or float [0, 1]; None for all ones.
        rng: the only source of randomness; the same generator state gives the same result.
        size_out: output side in pixels.
        config: augmentation strengths (`AugmentConfig()` when None).
        warp: False to skip the random warp (input == target), e.g. for previews.

    Returns:
        float32 `warped` (S, S, 3), `target` (S, S, 3) in [0, 1] and `target_mask` (S, S, 1) in [0, 1],
        S = size_out. `target` is the colour-jittered source under the random transform; `warped` is
        the same source resampled through the transform plus the grid warp. Exactly `augment_into`'s
        uint8 values times 1/255.
    """
    x, y = augment_into(image, mask, rng, size_out, config, warp=warp)
    scale = np.float32(1 / 255)
    return (np.multiply(x, scale, dtype=np.float32), np.multiply(y[..., :3], scale, dtype=np.float32),
            np.multiply(y[..., 3:], scale, dtype=np.float32))


def augment_into(image: np.ndarray, mask, rng: np.random.Generator, size_out: int,
                 config: AugmentConfig | None = None, *, warp: bool = True, out_x=None, out_y=None):
    """`augment_pair` in uint8, written in place: the data path's form (a quarter of the bytes to move
    between processes, no float copies; the trainer scales by 1/255 once per batch).

    Args: as `augment_pair`; `out_x` a C-contiguous uint8 (S, S, 3) array for the warped input and
    `out_y` one of (S, S, 4) for the target and its mask (new arrays when None).

    Returns:
        (out_x, out_y). The same draws from `rng` as `augment_pair`, in the same order.
    """
    config = DEFAULT if config is None else config
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3:
        raise InputError(f"image must be (H, W, 3) RGB; received shape {image.shape}")
    mask = _mask_uint8(mask, image.shape[:2])
    size_out = int(size_out)
    height, width = image.shape[:2]
    if height != width:
        raise InputError(f"image must be a square aligned crop; received {width}x{height}")
    dsize = (size_out, size_out)
    out_x = np.empty((size_out, size_out, 3), np.uint8) if out_x is None else out_x
    out_y = np.empty((size_out, size_out, 4), np.uint8) if out_y is None else out_y

    # Fixed draw order: transform (4), flip (1), colour (4), warp noise (2*G*G).
    geo = rng.uniform(-1.0, 1.0, size=4)
    flip = bool(rng.random() < config.flip)
    colour = rng.uniform(-1.0, 1.0, size=4)
    grid = int(config.warp_grid)
    noise = rng.normal(size=(2, grid, grid)) * (config.warp * size_out)

    # Downscale big sources once with area filtering; the warps below then resample ~1:1.
    if width > size_out * 1.5:
        image = cv2.resize(image, dsize, interpolation=cv2.INTER_AREA)
        mask = cv2.resize(mask, dsize, interpolation=cv2.INTER_AREA)
        width = size_out
    source = color_jitter(_to_uint8(image), colour, config)

    matrix = random_transform_matrix(geo, flip, width, size_out, config)
    if not (mask[0].any() or mask[-1].any() or mask[:, 0].any() or mask[:, -1].any()):
        # A mask that is 0 on its border (the template mask) reads the same under BORDER_REPLICATE as
        # under BORDER_CONSTANT 0, so face and mask move in one 4-channel warp, straight into out_y.
        rgba = cv2.cvtColor(source, cv2.COLOR_RGB2RGBA)
        rgba[..., 3] = mask
        cv2.warpAffine(rgba, matrix, dsize, dst=out_y, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    else:
        out_y[..., :3] = cv2.warpAffine(source, matrix, dsize, flags=cv2.INTER_LINEAR,
                                        borderMode=cv2.BORDER_REPLICATE)
        out_y[..., 3] = cv2.warpAffine(mask, matrix, dsize, flags=cv2.INTER_LINEAR,
                                       borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    if warp and config.warp:
        map_x, map_y = warp_maps(matrix, noise, size_out)
        cv2.remap(source, map_x, map_y, cv2.INTER_LINEAR, dst=out_x, borderMode=cv2.BORDER_REPLICATE)
    else:
        out_x[...] = out_y[..., :3]
    return out_x, out_y
