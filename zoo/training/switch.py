"""Stage changes without a recompile: a fixed trainable set, switched by variables (`StageSwitch`).

A stage change normally recompiles the swap model (`SwapTrainer._compile_for_stage`): Keras 3 only
sees a changed `trainable` set after `compile()`, and the next step retraces the whole training graph,
40 s to 5 minutes on a CPU (measured: `benchmarks/stage_change.py`). The switch avoids that. The
trainable set is the union of every stage's layers from the first step on, and two kinds of variables,
read inside the compiled step, say what a stage trains:

- a learning-rate scale per model variable (`ScaledAdamW.scale_vector`): 0 for a layer outside the
  stage. Adam's update is then `w - 0 * m / (sqrt(v) + eps)`, which leaves `w` bit-identical;
- a mode flag per BatchNormalization layer: 0 selects the moving statistics and leaves them unchanged
  (inference mode, what the design asks of a frozen encoder), 1 the batch statistics and the usual
  moving-average update. Selection by `where`, so either mode is exact, not blended.

Entering a stage zeroes the Adam moments of variables that start training there, as a fresh optimizer
would (the recompile path starts their slots at zero too); the iteration count runs on.

The price: while part of the encoder is frozen, each step still computes that part's gradients
(about 2x a frozen step for EfficientNetV2-B0 at 64 px, DESIGN.md). That pays on short runs, not on
long frozen stages: `choose_switch` weighs the two. TensorFlow and torch read the variables at run
time; JAX bakes values it is not handed into its compiled step, so there the switch is never chosen.
"""
from __future__ import annotations

import logging

__all__ = ["StageSwitch", "choose_switch", "RECOMPILE_STEPS"]

log = logging.getLogger("facezoo.train")

# One recompile costs about as much as this many steps' worth of the switch's extra gradient work
# (benchmarks/stage_change.py on this 2-core machine: 43 and 167 in two runs, benchmarks/results/stage_change.txt).
RECOMPILE_STEPS = 100


def choose_switch(setting: str, schedule, total_steps: int) -> str:
    """"recompile" or "switch" for `TrainConfig.stage_switch` ("auto", "recompile" or "switch").

    "auto" takes the switch on TensorFlow or torch when the steps that could run with part of the
    encoder frozen (up to the last step-started change; the whole run when a change waits for a
    plateau) cost less than the recompiles they save: `frozen_steps <= changes * RECOMPILE_STEPS`.
    """
    import keras

    if setting == "switch" and keras.backend.backend() == "jax":
        from zoo.errors import InputError
        raise InputError("stage_switch='switch' does not work on JAX (its compiled step keeps the values the "
                         "switch changes): use 'recompile' or 'auto'.")
    if setting in ("recompile", "switch"):
        return setting
    changes = len(schedule.stages) - 1
    if changes == 0 or keras.backend.backend() == "jax":
        return "recompile"
    starts = [s.start for s in schedule.stages[1:]]
    bound = int(total_steps) if not all(isinstance(s, int) for s in starts) else min(int(total_steps), starts[-1])
    return "switch" if bound <= changes * RECOMPILE_STEPS else "recompile"


def _switchable_batchnorm_call(layer, flag):
    """`layer.call` with the training mode chosen by `flag` (a 0/1 variable) at run time."""
    from keras import ops

    original = type(layer).call.__get__(layer)

    def call(inputs, training=None, mask=None):
        if not training:
            return original(inputs, training=training, mask=mask)
        x = ops.cast(inputs, "float32")
        moving_mean = ops.cast(layer.moving_mean, x.dtype)
        moving_variance = ops.cast(layer.moving_variance, x.dtype)
        batch_mean, batch_variance = layer._moments(x, mask)
        on = ops.greater(ops.cast(flag, x.dtype), 0.5)
        momentum = layer.momentum
        layer.moving_mean.assign(ops.where(on, moving_mean * momentum + batch_mean * (1.0 - momentum),
                                           moving_mean))
        layer.moving_variance.assign(ops.where(on, moving_variance * momentum + batch_variance * (1.0 - momentum),
                                               moving_variance))
        out = ops.batch_normalization(
            x=x, mean=ops.where(on, batch_mean, moving_mean), variance=ops.where(on, batch_variance, moving_variance),
            axis=layer.axis, offset=ops.cast(layer.beta, x.dtype) if layer.center else None,
            scale=ops.cast(layer.gamma, x.dtype) if layer.scale else None, epsilon=layer.epsilon)
        return ops.cast(out, layer.compute_dtype)

    return call


class _Holder:
    """Keeps variables out of Keras' attribute tracking (they are not weights, never saved)."""

    def __init__(self, **values):
        self.__dict__.update(values)


class StageSwitch:
    """The union trainable set of a schedule, switched per stage by variables (module docstring).

    `install()` once before the single compile; `apply(stage)` at every stage change (no recompile).
    """

    def __init__(self, model, schedule):
        from keras import layers

        from zoo.schedule import bind_schedule

        self.model = model
        self.schedule = schedule = bind_schedule(schedule, model.encoder)  # as it is when bound already
        encoder = model.encoder
        per_stage = [{id(layer) for layer in schedule.layers_of(stage)} for stage in schedule.stages]
        self.union = set().union(*per_stage)
        self.per_stage = per_stage
        self.batchnorms = [layer for layer in encoder.layers
                           if isinstance(layer, layers.BatchNormalization) and id(layer) in self.union]
        for layer in self.batchnorms:
            if layer.renorm or layer.synchronized:
                from zoo.errors import ScheduleError
                raise ScheduleError(f"BatchNormalization layer {layer.name!r} uses renorm or synchronized "
                                    "statistics, which the stage switch does not handle: use "
                                    "stage_switch='recompile'.")
        self.installed = False

    def install(self) -> int:
        """Make the union trainable and give its BatchNorm layers run-time mode flags; returns how many
        encoder weights train at some stage."""
        import keras

        encoder = self.model.encoder
        encoder.trainable = True
        for layer in encoder.layers:
            layer.trainable = id(layer) in self.union
        if not self.union:
            encoder.trainable = False
        flags = []
        for layer in self.batchnorms:
            flag = keras.Variable(0.0, trainable=False, name=f"{layer.name}_mode", dtype="float32")
            layer.call = _switchable_batchnorm_call(layer, flag)
            flags.append(flag)
        self._flags = _Holder(values=flags)
        self.installed = True
        return len(encoder.trainable_weights)

    def scales(self, stage_index: int) -> dict:
        """{variable path: learning-rate multiplier} of the union's encoder variables in a stage."""
        stage = self.schedule.stages[stage_index]
        chosen = self.per_stage[stage_index]
        out = {}
        for layer in self.model.encoder.layers:
            if id(layer) in self.union:
                for w in layer.trainable_weights:
                    out[w.path] = float(stage.lr_multiplier) if id(layer) in chosen else 0.0
        return out

    def apply(self, stage_index: int, optimizer, *, previous: int | None = None) -> int:
        """Switch to stage `stage_index`: learning-rate scales, BatchNorm modes, fresh moments for the
        variables that start training. Returns the number of encoder weights training in the stage."""
        import keras

        chosen = self.per_stage[stage_index]
        for layer, flag in zip(self.batchnorms, self._flags.values):
            flag.assign(1.0 if id(layer) in chosen else 0.0)
        scales = self.scales(stage_index)
        before = self.scales(previous) if previous is not None else {}
        optimizer.set_scales(scales)
        starting = {path for path, s in scales.items() if s != 0.0 and before.get(path, 0.0) == 0.0}
        if previous is not None and starting:
            for var, m, v in zip(optimizer._trainable_variables, optimizer._momentums, optimizer._velocities):
                if var.path in starting:
                    m.assign(keras.ops.zeros_like(m))
                    v.assign(keras.ops.zeros_like(v))
        return sum(len(layer.trainable_weights) for layer in self.model.encoder.layers if id(layer) in chosen)
