"""The optimizer side of staged unfreezing.

Keras 3 facts this module exists for (measured with Keras 3.15): a changed `trainable` set takes
effect only after `compile()`, and an optimizer instance cannot be reused once the trainable set
grows. So each stage gets a fresh optimizer, and the slots (moments) of variables that were already
training, plus the iteration count, are copied across by hand. Slots are keyed by the model
variable's position in `model.variables` and the slot's name, which is stable across save/load.

`ScaledAdamW` is AdamW with a per-variable learning-rate multiplier (the encoder's, per stage). With
`switchable=True` the multipliers live in a variable read inside the compiled step, so `set_scales`
changes them without a retrace (`zoo.training.switch`).
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

    def __init__(self, *args, multipliers: dict | None = None, switchable: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.multipliers = dict(multipliers or {})
        self.switchable = bool(switchable)

    def build(self, variables):
        # Multipliers by variable index: update_step may receive backend-native variables.
        self._lr_scales = [float(self.multipliers.get(v.path, 1.0)) for v in variables]
        self._paths = [v.path for v in variables]
        if self.switchable:  # held outside Keras' tracking: not an optimizer slot, never saved
            self._switch = _Untracked(keras.Variable(np.asarray(self._lr_scales, "float32"), trainable=False,
                                                     name="lr_scales", dtype="float32"))
        super().build(variables)

    def set_scales(self, multipliers: dict) -> None:
        """New per-variable multipliers (paths not named: 1) for the next steps, without a retrace."""
        if not self.switchable:
            from zoo.errors import InputError
            raise InputError("set_scales needs ScaledAdamW(switchable=True); recompile with a new "
                             "optimizer instead.")
        self.multipliers = {k: float(v) for k, v in multipliers.items()}
        self._lr_scales = [float(self.multipliers.get(p, 1.0)) for p in self._paths]
        self._switch.value.assign(np.asarray(self._lr_scales, "float32"))

    def update_step(self, gradient, variable, learning_rate):
        index = self._get_variable_index(variable)
        if self.switchable:
            learning_rate = learning_rate * keras.ops.take(self._switch.value, index)
        else:
            scale = self._lr_scales[index]
            if scale != 1.0:
                learning_rate = learning_rate * scale
        return super().update_step(gradient, variable, learning_rate)

    def get_config(self):
        return {**super().get_config(), "multipliers": self.multipliers, "switchable": self.switchable}


class _Untracked:
    """A box Keras' attribute tracking does not open (the switch's scales are not optimizer state)."""

    def __init__(self, value):
        self.value = value


def make_optimizer(model, encoder, *, learning_rate: float, encoder_lr: float, beta_1: float = 0.5,
                   beta_2: float = 0.99, weight_decay: float = 0.0, clipnorm: float | None = 1.0,
                   switchable: bool = False):
    """The trainer's optimizer. `clipnorm` clips each variable's gradient alone (Keras 3), so frozen
    variables in the switch's trainable set never change the decoders' updates."""
    multipliers = {}
    if encoder_lr != 1.0:
        multipliers = {v.path: float(encoder_lr) for v in encoder.trainable_variables}
    if switchable and weight_decay:
        from zoo.errors import InputError
        raise InputError(f"weight_decay={weight_decay} would move frozen weights under the stage switch "
                         "(AdamW decays by the unscaled rate); use weight_decay=0 or recompile per stage.")
    return ScaledAdamW(learning_rate=learning_rate, beta_1=beta_1, beta_2=beta_2,
                       weight_decay=weight_decay, clipnorm=clipnorm, multipliers=multipliers,
                       switchable=switchable)


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
