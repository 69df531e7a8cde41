"""Bringing a training encoder's BatchNorm statistics up to date before it is saved or evaluated.
"""
from __future__ import annotations

import keras
import numpy as np

__all__ = ["CALIBRATION_PIXELS", "recalibrate_batchnorm"]


CALIBRATION_PIXELS = 128 * 64 * 64  # faces x pixels in one BatchNorm recalibration pass


def recalibrate_batchnorm(encoder, batches) -> int:
    """Re-estimate the moving mean/variance of the encoder's *training* BatchNorm layers.

    Once the encoder trains, Keras' moving averages (momentum 0.99) lag far behind the weights: on a
    few hundred steps, inference then scores far below training (measured in the time-to-quality
    benchmark). A cumulative average over `batches` of forward passes in training mode brings them up
    to date. Frozen BatchNorm layers run in inference mode and are left untouched. Returns how many
    layers were recalibrated.
    """
    from keras import layers

    bns = [layer for layer in encoder._flatten_layers(include_self=False)
           if isinstance(layer, layers.BatchNormalization) and layer.trainable]
    if not bns:
        return 0
    saved = [layer.momentum for layer in bns]
    try:
        for k, x in enumerate(batches):
            for layer in bns:
                layer.momentum = k / (k + 1.0)
            encoder(keras.ops.convert_to_tensor(np.asarray(x, "float32")), training=True)
    finally:
        for layer, momentum in zip(bns, saved):
            layer.momentum = momentum
    return len(bns)
