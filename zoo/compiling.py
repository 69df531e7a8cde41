"""The one compile step of every trainer (`SwapTrainer` and `Pretrainer`): the face loss built from a
run's config, the optimizer (`zoo.optim.make_optimizer`: AdamW with an optional per-variable
learning-rate multiplier for the encoder and per-variable gradient clipping), and XLA as the config's
`jit_compile` resolves on this backend (`resolve_jit`).

The two trainers differ only in the values their configs carry (`LoopConfig`'s loss and optimizer knobs;
pretraining keeps its historical defaults: no MS-SSIM, no clipping, no XLA on CPU) and in the outputs
they train (one reconstruction per identity, or the pretraining reconstruction plus an optional
teacher head), never in how a model is compiled.
"""
from __future__ import annotations

__all__ = ["compile_for_training", "face_loss", "resolve_jit"]


def resolve_jit(setting):
    """XLA on GPUs and on JAX/torch; off for TensorFlow on CPU, where it made the first step 2x and
    trainable steps 2.4x slower (EfficientNetV2-B0 swap model, 64 px, measured here)."""
    if setting != "auto":
        return bool(setting)
    import keras

    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf
        return bool(tf.config.list_physical_devices("GPU"))
    return "auto"


def face_loss(config, size: int):
    """The reconstruction loss a config asks for at `size` px (MS-SSIM when `config.ms_ssim`, or, when
    that is None, from 128 px on)."""
    from zoo.losses import FaceLoss

    ms = config.ms_ssim if config.ms_ssim is not None else size >= 128
    return FaceLoss(recon=config.recon, ssim_weight=config.ssim_weight, ms_ssim=ms, mask_weight=config.mask_weight)


def compile_for_training(model, config, *, loss, loss_weights=None, encoder=None, encoder_lr: float = 1.0,
                         switchable: bool = False) -> None:
    """Compile `model` with a fresh optimizer for `config` and build the optimizer's slots now (so a
    caller can copy saved slots into them: `zoo.optim.restore_optimizer_state`).

    Args:
        loss: a Keras loss or {output: loss}.
        encoder: the sub-model whose trainable variables take `encoder_lr` (a stage's multiplier).
        switchable: multipliers held in a variable, changed without a retrace (`zoo.training.switch`).
    """
    from zoo.optim import make_optimizer

    optimizer = make_optimizer(model, encoder, learning_rate=config.learning_rate, encoder_lr=encoder_lr,
                               clipnorm=config.clipnorm, switchable=switchable)
    model.compile(optimizer=optimizer, loss=loss, loss_weights=loss_weights,
                  jit_compile=resolve_jit(config.jit_compile))
    model.optimizer.build(model.trainable_variables)
