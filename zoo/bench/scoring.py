"""Scoring a swap model on the pair's held-out faces: masked SSIM/PSNR and the identity probe
(`zoo.probes.IdentityProbe`, the library's one ridge probe, re-exported here).

Part of `zoo.bench` (the evaluation path of the time-to-quality experiment; `zoo.bench.evidence` hashes
these functions' source into every results record, so a change here marks committed results stale).
"""
from __future__ import annotations

import numpy as np

from zoo.bench.pairs import PairData
from zoo.probes import IdentityProbe


def masked_quality(true_rgb, pred_rgb, mask) -> tuple[float, float]:
    """(mean masked SSIM, mean masked PSNR) of reconstructions; images float [0, 1] or uint8, mask (H, W)."""
    from zoo.losses import psnr, ssim_numpy

    t = _unit(true_rgb)
    p = _unit(pred_rgb)
    m = np.broadcast_to(np.asarray(mask, np.float32).reshape(1, *t.shape[1:3], 1), (len(t), *t.shape[1:3], 1))
    return float(np.mean(ssim_numpy(t, p, m))), float(np.mean(psnr(t, p, m)))


def _unit(images) -> np.ndarray:
    x = np.asarray(images)
    return x.astype(np.float32) / 255.0 if x.dtype == np.uint8 else x.astype(np.float32)


def evaluate_pair(model, data: PairData, probe: IdentityProbe) -> dict:
    """Masked SSIM/PSNR of each identity's reconstruction (mean of A and B) and the swap's identity.

    swap_b: share of A->B swaps the probe calls B. recon_b: share of A->A reconstructions of the same
    faces it calls B. swap_contrast = swap_b - recon_b: 0 for a model whose output ignores the decoder
    (an untrained one, whose grey output the probe may call anything), 1 for a clean swap.
    """
    ssims, psnrs = [], []
    for name in data.identities:
        out = model.decode(_unit(data.eval[name]), name)
        s, p = masked_quality(data.eval[name], out[..., :3], data.mask)
        ssims.append(s)
        psnrs.append(p)
    swapped = model.swap(_unit(data.eval["a"]), to="b")
    swap_b = float(np.mean(probe.predict(swapped) == 1))
    kept = model.swap(_unit(data.eval["a"]), to="a")
    recon_b = float(np.mean(probe.predict(kept) == 1))
    return {"ssim": round(float(np.mean(ssims)), 5), "psnr": round(float(np.mean(psnrs)), 4),
            "ssim_a": round(ssims[0], 5), "ssim_b": round(ssims[1], 5), "swap_b": round(swap_b, 4),
            "recon_b": round(recon_b, 4), "swap_contrast": round(swap_b - recon_b, 4)}

