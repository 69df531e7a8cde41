"""The optimizer side of staged unfreezing.

Keras 3 facts this module exists for (measured with Keras 3.15): a changed `trainable` set takes
effect only after `compile()`, and an optimizer instance cannot be reused once the trainable set
grows. So each stage gets a fresh optimizer, and the slots (moments) of variables that were already
training, plus the iteration count, are copied across by hand. Slots are keyed by the model
variable's position in `model.variables` and the slot's name, which is stable across save/load.

`ScaledAdamW` is AdamW with a per-variable learning-rate multiplier (the encoder's, per stage).
"""
from __future__ import annotations

import io

import keras
import numpy as np

from zoo.layers import PACKAGE


@keras.saving.register_keras_serializable(package=PACKAGE)
class ScaledAdamW(keras.optimizers.AdamW):
    """AdamW whose learning rate is multiplied per variable, e.g. 0.1 for the encoder.

    `multipliers` maps a variable path (`variable.path`) to its multiplier; others use 1.
    """

    def __init__(self, *args, multipliers: dict | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.multipliers = dict(multipliers or {})

    def build(self, variables):
        # Multipliers by variable index: update_step may receive backend-native variables.
        self._lr_scales = [float(self.multipliers.get(v.path, 1.0)) for v in variables]
        super().build(variables)

    def update_step(self, gradient, variable, learning_rate):
        scale = self._lr_scales[self._get_variable_index(variable)]
        if scale != 1.0:
            learning_rate = learning_rate * scale
        return super().update_step(gradient, variable, learning_rate)

    def get_config(self):
        return {**super().get_config(), "multipliers": self.multipliers}


def make_optimizer(model, encoder, *, learning_rate: float, encoder_lr: float, beta_1: float = 0.5,
                   beta_2: float = 0.99, weight_decay: float = 0.0, clipnorm: float | None = 1.0):
    multipliers = {}
    if encoder_lr != 1.0:
        multipliers = {v.path: float(encoder_lr) for v in encoder.trainable_variables}
    return ScaledAdamW(learning_rate=learning_rate, beta_1=beta_1, beta_2=beta_2,
                       weight_decay=weight_decay, clipnorm=clipnorm, multipliers=multipliers)


def _inner(optimizer):
    return getattr(optimizer, "inner_optimizer", optimizer)


def slot_map(model, optimizer) -> dict:
    """{(model variable index, slot name): optimizer variable} for every per-variable slot."""
    keys = {}
    for index, var in enumerate(model.variables):
        keys[var.path.replace("/", "_")] = index
    out = {}
    for var in _inner(optimizer).variables:
        name = var.name
        best = None
        for key in keys:
            if name.startswith(key + "_") and (best is None or len(key) > len(best)):
                best = key
        if best is not None:
            out[(keys[best], name[len(best) + 1:])] = var
    return out


def optimizer_state(model, optimizer) -> dict:
    """The optimizer's slots and iteration count as numpy arrays, keyed portably."""
    state = {f"{i}:{slot}": keras.ops.convert_to_numpy(v) for (i, slot), v in slot_map(model, optimizer).items()}
    state["iterations"] = np.asarray(int(keras.ops.convert_to_numpy(_inner(optimizer).iterations)))
    return state


def restore_optimizer_state(model, optimizer, state: dict) -> int:
    """Copy saved slots into a *built* optimizer where the variable still trains; returns how many."""
    copied = 0
    for (i, slot), var in slot_map(model, optimizer).items():
        value = state.get(f"{i}:{slot}")
        if value is not None and tuple(value.shape) == tuple(var.shape):
            var.assign(value)
            copied += 1
    if "iterations" in state:
        _inner(optimizer).iterations.assign(int(state["iterations"]))
    return copied


def state_to_bytes(state: dict) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **state)
    return buf.getvalue()


def state_from_file(path) -> dict:
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}
