"""A swap run for a pair of identities, the library behind `facezoo train`: `train_pair` builds one from
arguments (encoder, face folders, schedule), records its facts once in a `zoo.runspec.RunSpec` saved in
the run folder, and trains it; `resume_pair` continues one from its folder alone, reading that spec back
(its data stream included).
"""
from __future__ import annotations

from zoo.schedule import FreezeSchedule
from zoo.training.config import TrainConfig
from zoo.training.encoders import prepare_encoder
from zoo.training.trainer import SwapTrainer

__all__ = ["pair_dataset", "resume_pair", "train_pair"]


def train_pair(*, encoder, folders: dict, run_dir, schedule, size: int = 64, batch_size: int = 8,
               pretrained: bool = True, hub=None, decoder_width: int = 128, inter: str = "dense",
               seed: int = 0, workers: int | None = None, config: TrainConfig | None = None,
               build_only: bool = False, dataset=None, callbacks=None):
    """Build everything a swap run needs and train it (the library behind `facezoo train`).

    Args:
        encoder: a registry name/ref/path (loaded pretrained unless `pretrained=False`) or a model.
        folders: {identity: folder of aligned faces}; or pass `dataset` directly.
        schedule: a `FreezeSchedule` or its string form; bound to the encoder (validated) once, before
            the decoders are built or data is read.
        callbacks: extra Keras callbacks for every `fit()` (`SwapTrainer(callbacks=)`).
    Returns the `SwapTrainer` (after training unless `build_only`).
    """
    from zoo.runspec import FaceFolders, RunSpec
    from zoo.spec import encoder_info
    from zoo.swap import build_swap_model

    schedule = FreezeSchedule.parse(schedule)  # a bad string fails before an encoder is loaded
    enc, info = prepare_encoder(encoder, size=size, pretrained=pretrained, hub=hub)
    schedule = schedule.bind(enc)  # validated once; fail before building decoders or reading data
    resolved = encoder_info(enc)
    spec = RunSpec(kind="swap", data=FaceFolders(folders, batch_size, seed), size=size,
                   config=config or TrainConfig(), encoder_ref=info.get("ref"),
                   encoder=resolved.to_dict() if resolved is not None else None, pretrained=info.get("pretrained"),
                   schedule=schedule.to_string(), model={"decoder_width": decoder_width, "inter": inter})
    if dataset is None:
        dataset = spec.data.dataset(size)
    model = build_swap_model(enc, identities=spec.data.identities, decoder_width=decoder_width, inter=inter)
    trainer = SwapTrainer(model, schedule, dataset, run_dir, spec.config, workers=workers, callbacks=callbacks,
                          spec=spec)
    if not build_only:
        trainer.train()
    return trainer


def pair_dataset(folders: dict, *, size: int, batch_size: int, seed: int):
    """The training stream of a swap run: one `FaceDataset` over the identities' face folders."""
    from zoo.runspec import FaceFolders

    return FaceFolders(folders, batch_size, seed).dataset(size)


def resume_pair(run_dir, *, steps: int | None = None, batch_size: int | None = None, seed: int | None = None,
                folders: dict | None = None, size: int | None = None, workers: int | None = None,
                callbacks=None) -> SwapTrainer:
    """Continue a `train_pair` run from its folder alone (the library behind `facezoo train --resume`).

    The data stream is rebuilt from the run's saved face folders, batch size, seed and size, so the
    resumed run sees exactly the batches it would have seen without the interruption. `batch_size`,
    `seed`, `folders` and `size` may be passed only to confirm the saved values: a different value is a
    `RunError` naming both, raised before anything is loaded. `steps` sets the new total.
    """
    from zoo.errors import RunError
    from zoo.runspec import RunSpec, same_folders

    spec = RunSpec.load(run_dir)   # the run's facts, as train_pair saved them (older runs: from their meta)
    data = spec.data
    if size is not None and int(size) != spec.size:
        raise RunError(f"Run {run_dir} trains at {spec.size} px, but --size {size} was given: a resumed "
                       f"run keeps its size. Drop --size (or pass {spec.size}), or start a new run "
                       "in another folder.")
    for key, asked in (("batch_size", batch_size), ("seed", seed)):
        saved = getattr(data, key)
        if asked is not None and int(asked) != int(saved):
            flag = "--" + key.replace("_", "-")
            raise RunError(f"Run {run_dir} was trained with {key}={saved}, but {flag} {asked} was given: a "
                           f"resumed run keeps its data stream. Drop {flag} (or pass {saved}), or start a "
                           "new run in another folder.")
    if folders and not same_folders(folders, data.folders):
        raise RunError(f"Run {run_dir} was trained on face folders {data.folders}, but {dict(folders)} was "
                       "given: a resumed run keeps its data. Drop the folder flags to use the saved ones.")
    config = TrainConfig(steps=int(steps)) if steps is not None else None
    return SwapTrainer.resume(run_dir, data.dataset(spec.size), config=config, workers=workers,
                              callbacks=callbacks)
