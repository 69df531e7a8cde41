"""Scoring a frozen encoder on held-out identities: a transfer score and a linear identity probe.

`evaluate_encoder` trains a fresh small decoder per held-out identity on the frozen encoder's features
and scores it by masked SSIM on that identity's unseen faces; `ridge_probe` is the closed-form linear
probe from pooled features to the identity.
"""
from __future__ import annotations

import logging
import time

import numpy as np

from zoo.errors import InputError

log = logging.getLogger("facezoo.pretrain")

__all__ = ["evaluate_encoder", "ridge_probe"]


def _held_faces(corpus, held_ids, count: int, size: int) -> dict[int, np.ndarray]:
    if hasattr(corpus, "faces_of"):
        return corpus.faces_of(held_ids, count, size)
    return {int(i): corpus.faces(int(i), count, size) for i in held_ids}


def ridge_probe(train_x, train_y, test_x, test_y, *, l2: float = 1.0) -> float:
    """Test accuracy of the ridge probe (`zoo.probes.FeatureProbe`) fitted on (train_x, train_y)."""
    from zoo.probes import FeatureProbe

    return FeatureProbe(l2=l2).fit(train_x, np.asarray(train_y)).accuracy(test_x, test_y)


def evaluate_encoder(encoder, corpus, held_ids, size: int, *, eval_steps: int = 200, train_images: int = 12,
                     test_images: int = 4, batch_size: int = 8, augment_copies: int = 6, decoder_width: int = 48,
                     learning_rate: float = 1e-3, seed: int = 0) -> dict:
    """Score a frozen encoder on held-out identities.

    transfer_ssim: for each held-out identity, a fresh decoder (inter + decoder, the same initial weights
        for every identity) is trained for `eval_steps` steps on that identity's first `train_images`
        faces (warp-augmented, features precomputed by the frozen encoder), then scored by masked SSIM
        reconstructing its next `test_images` faces, never seen. Mean over identities.
    probe_accuracy: ridge regression from globally pooled encoder features to the identity, fit on the
        held-out identities' train faces, accuracy on their test faces (chance: 1 / identities).
    """
    import keras
    from keras import ops

    from zoo.data.corpus import augment_faces, template_mask
    from zoo.decoders import build_decoder, build_inter
    from zoo.losses import FaceLoss, ssim_numpy

    held_ids = [int(i) for i in held_ids]
    if not held_ids:
        raise InputError("evaluate_encoder needs held-out identities (--holdout K, K >= 1).")
    start = time.perf_counter()
    faces = _held_faces(corpus, held_ids, train_images + test_images, size)
    feature_shape = tuple(encoder.output_shape[1:])
    inter, inter_shape = build_inter(feature_shape, "dense", channels=64, bottleneck=128, name="eval_inter")
    decoder = build_decoder(inter_shape, size, width=decoder_width, name="eval_decoder")
    feats_in = keras.Input(feature_shape)
    head = keras.Model(feats_in, decoder(inter(feats_in)), name="eval_head")
    head.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=FaceLoss(ssim_weight=0.5, mask_weight=0.5))
    head.optimizer.build(head.trainable_variables)
    init = head.get_weights()
    opt_init = [ops.convert_to_numpy(v) for v in head.optimizer.variables]  # slots, step, learning rate
    mask = template_mask(size)[None, ..., None]
    # Split each identity's faces, build every augmented pool, then run the frozen encoder once.
    plan, pools, ys = [], [], []
    for ident in held_ids:
        imgs = faces[ident]
        if len(imgs) < 2:
            log.warning("held-out identity %d has %d faces; left out of the evaluation", ident, len(imgs))
            continue
        n_train = min(train_images, len(imgs) - max(1, min(test_images, len(imgs) // 3)))
        tr, te = imgs[:n_train], imgs[n_train:n_train + test_images]
        x, y = augment_faces(np.repeat(tr, augment_copies, axis=0), np.random.default_rng([seed, ident]), size)
        plan.append((ident, len(tr), len(te), len(x)))
        pools.extend([x, tr.astype(np.float32) / 255.0, te.astype(np.float32) / 255.0])
        ys.append((y, te.astype(np.float32) / 255.0))
    if not plan:
        raise InputError("no held-out identity has at least 2 faces to evaluate on.")
    all_x = np.concatenate(pools)
    all_f = encoder.predict(all_x, batch_size=64, verbose=0)
    scores, probe = {}, ([], [], [], [])
    at = 0
    for (ident, n_tr, n_te, n_pool), (y, te_f) in zip(plan, ys):
        feats = all_f[at:at + n_pool]
        tr_feats = all_f[at + n_pool:at + n_pool + n_tr]
        te_feats = all_f[at + n_pool + n_tr:at + n_pool + n_tr + n_te]
        at += n_pool + n_tr + n_te
        rng = np.random.default_rng([seed, ident, 1])
        head.set_weights(init)
        for v, value in zip(head.optimizer.variables, opt_init):
            v.assign(value)
        for _ in range(int(eval_steps)):
            pick = rng.integers(0, len(feats), batch_size)
            head.train_on_batch(feats[pick], y[pick])
        pred = head.predict(te_feats, batch_size=64, verbose=0)
        scores[ident] = float(np.mean(ssim_numpy(te_f, pred[..., :3], np.repeat(mask, n_te, 0))))
        probe[0].append(tr_feats.mean(axis=(1, 2)))
        probe[1].extend([ident] * n_tr)
        probe[2].append(te_feats.mean(axis=(1, 2)))
        probe[3].extend([ident] * n_te)
    accuracy = ridge_probe(np.concatenate(probe[0]), probe[1], np.concatenate(probe[2]), probe[3]) \
        if len(scores) >= 2 else float("nan")
    return {"transfer_ssim": round(float(np.mean(list(scores.values()))), 5),
            "transfer_ssim_min": round(float(np.min(list(scores.values()))), 5),
            "probe_accuracy": round(accuracy, 5),
            "probe_chance": round(1.0 / len(scores), 5),
            "heldout_identities": len(scores),
            "eval_steps": int(eval_steps),
            "eval_train_images": int(train_images),
            "eval_test_images": int(test_images),
            "eval_seconds": round(time.perf_counter() - start, 2)}
