"""Losses and metrics for face reconstruction, masked by the face mask.

Targets are (B, H, W, 4): RGB plus the face mask; predictions are (B, H, W, 4): RGB plus the
decoder's learned mask. Reconstruction error is weighted towards the face (faceswap's "penalized
mask loss"), SSIM / MS-SSIM add structure, and the learned mask is fitted to the target mask.
"""
from __future__ import annotations

import keras
import numpy as np
from keras import ops

from zoo.layers import PACKAGE
from zoo.errors import InputError

_MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


def _gaussian_kernel(size: int = 11, sigma: float = 1.5, channels: int = 3):
    coords = np.arange(size, dtype="float32") - (size - 1) / 2
    g = np.exp(-(coords ** 2) / (2 * sigma ** 2))
    g = g / g.sum()
    k = np.outer(g, g).astype("float32")
    return np.tile(k[:, :, None, None], (1, 1, channels, 1))


def ssim_map(x, y, max_val: float = 1.0, window: int = 11):
    """Per-pixel SSIM and contrast-structure maps of (B, H, W, C) images (valid region)."""
    channels = x.shape[-1]
    kernel = ops.convert_to_tensor(_gaussian_kernel(window, 1.5, channels), dtype=x.dtype)

    def blur(t):
        return ops.depthwise_conv(t, kernel, strides=1, padding="valid")

    c1 = (0.01 * max_val) ** 2
    c2 = (0.03 * max_val) ** 2
    mu_x, mu_y = blur(x), blur(y)
    sxx = blur(x * x) - mu_x * mu_x
    syy = blur(y * y) - mu_y * mu_y
    sxy = blur(x * y) - mu_x * mu_y
    cs = (2 * sxy + c2) / (sxx + syy + c2)
    luminance = (2 * mu_x * mu_y + c1) / (mu_x * mu_x + mu_y * mu_y + c1)
    return luminance * cs, cs


def _crop_like(mask, smap):
    """Crop a (B, H, W, 1) mask to the 'valid' SSIM map size."""
    dh = (mask.shape[1] - smap.shape[1]) // 2
    dw = (mask.shape[2] - smap.shape[2]) // 2
    return mask[:, dh:dh + smap.shape[1], dw:dw + smap.shape[2], :]


def masked_ssim(y_true_rgb, y_pred_rgb, mask=None, window: int = 11):
    """Mean SSIM per image (B,), weighted by the mask when given."""
    smap, _ = ssim_map(y_true_rgb, y_pred_rgb, window=window)
    if mask is None:
        return ops.mean(smap, axis=(1, 2, 3))
    m = _crop_like(mask, smap)
    return ops.sum(smap * m, axis=(1, 2, 3)) / (ops.sum(m, axis=(1, 2, 3)) * smap.shape[-1] + 1e-6)


def ms_ssim(y_true_rgb, y_pred_rgb, window: int = 11):
    """Multi-scale SSIM per image (B,), with as many of the 5 standard scales as the size allows."""
    size = min(y_true_rgb.shape[1], y_true_rgb.shape[2])
    scales = 1
    while scales < 5 and size // (2 ** scales) >= window:
        scales += 1
    weights = np.array(_MS_SSIM_WEIGHTS[:scales], "float32")
    weights = weights / weights.sum()
    x, y = y_true_rgb, y_pred_rgb
    result = None
    for i in range(scales):
        smap, cs = ssim_map(x, y, window=window)
        value = ops.relu(ops.mean(smap if i == scales - 1 else cs, axis=(1, 2, 3))) + 1e-6
        term = value ** float(weights[i])
        result = term if result is None else result * term
        if i < scales - 1:
            x = ops.average_pool(x, 2, 2, padding="valid")
            y = ops.average_pool(y, 2, 2, padding="valid")
    return result


@keras.saving.register_keras_serializable(package=PACKAGE)
class FaceLoss(keras.losses.Loss):
    """Masked reconstruction (MAE or MSE) + SSIM or MS-SSIM + mask loss.

    Args:
        recon: "mae" or "mse".
        ssim_weight: weight of (1 - SSIM); 0 turns it off.
        ms_ssim: use MS-SSIM instead of SSIM (for faces of 128 px and more).
        mask_weight: weight of the learned-mask MSE.
        background_weight: weight of pixels outside the mask in the reconstruction term.
    """

    def __init__(self, recon: str = "mae", ssim_weight: float = 0.5, ms_ssim: bool = False,
                 mask_weight: float = 0.5, background_weight: float = 0.2, name: str = "face_loss",
                 **kwargs):
        super().__init__(name=name, **kwargs)
        if recon not in ("mae", "mse"):
            raise InputError(f"recon must be 'mae' or 'mse'. Received: recon={recon!r}")
        self.recon = recon
        self.ssim_weight = float(ssim_weight)
        self.ms_ssim = bool(ms_ssim)
        self.mask_weight = float(mask_weight)
        self.background_weight = float(background_weight)

    def call(self, y_true, y_pred):
        y_true = ops.cast(y_true, "float32")
        y_pred = ops.cast(y_pred, "float32")
        rgb_t, mask_t = y_true[..., :3], y_true[..., 3:4]
        rgb_p, mask_p = y_pred[..., :3], y_pred[..., 3:4]
        weight = self.background_weight + (1.0 - self.background_weight) * mask_t
        diff = rgb_t - rgb_p
        err = ops.abs(diff) if self.recon == "mae" else ops.square(diff)
        loss = ops.sum(err * weight, axis=(1, 2, 3)) / (ops.sum(weight, axis=(1, 2, 3)) * 3.0 + 1e-6)
        if self.ssim_weight:
            if self.ms_ssim:
                similarity = ms_ssim(rgb_t * weight, rgb_p * weight)
            else:
                similarity = masked_ssim(rgb_t, rgb_p, weight)
            loss = loss + self.ssim_weight * (1.0 - similarity)
        if self.mask_weight:
            loss = loss + self.mask_weight * ops.mean(ops.square(mask_t - mask_p), axis=(1, 2, 3))
        return loss

    def get_config(self):
        return {**super().get_config(), "recon": self.recon, "ssim_weight": self.ssim_weight,
                "ms_ssim": self.ms_ssim, "mask_weight": self.mask_weight,
                "background_weight": self.background_weight}


def psnr(y_true_rgb, y_pred_rgb, mask=None, max_val: float = 1.0) -> np.ndarray:
    """PSNR per image (numpy), over the mask when given."""
    t = np.asarray(y_true_rgb, "float32")
    p = np.asarray(y_pred_rgb, "float32")
    err = (t - p) ** 2
    if mask is not None:
        m = np.asarray(mask, "float32")
        mse = (err * m).sum(axis=(1, 2, 3)) / (m.sum(axis=(1, 2, 3)) * t.shape[-1] + 1e-8)
    else:
        mse = err.mean(axis=(1, 2, 3))
    return 10.0 * np.log10(max_val ** 2 / np.maximum(mse, 1e-10))


def ssim_numpy(y_true_rgb, y_pred_rgb, mask=None) -> np.ndarray:
    """Masked SSIM per image as numpy (for evaluation outside training)."""
    t = ops.convert_to_tensor(np.asarray(y_true_rgb, "float32"))
    p = ops.convert_to_tensor(np.asarray(y_pred_rgb, "float32"))
    m = None if mask is None else ops.convert_to_tensor(np.asarray(mask, "float32"))
    return ops.convert_to_numpy(masked_ssim(t, p, m))
