"""A swap run for a pair of identities, the library behind `facezoo train`: `train_pair` builds one from
arguments (encoder, face folders, schedule) and trains it; `resume_pair` continues one from its folder
alone, its data stream included.
"""
from __future__ import annotations

from pathlib import Path

from zoo import runs
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
    from zoo.swap import build_swap_model

    schedule = FreezeSchedule.parse(schedule)  # a bad string fails before an encoder is loaded
    enc, info = prepare_encoder(encoder, size=size, pretrained=pretrained, hub=hub)
    schedule = schedule.bind(enc)  # validated once; fail before building decoders or reading data
    if dataset is None:
        dataset = pair_dataset(folders, size=size, batch_size=batch_size, seed=seed)
    model = build_swap_model(enc, identities=list(folders), decoder_width=decoder_width, inter=inter)
    meta = {"encoder": info, "folders": {k: str(v) for k, v in folders.items()}, "batch_size": batch_size,
            "seed": seed, "decoder_width": decoder_width, "inter": inter}
    trainer = SwapTrainer(model, schedule, dataset, run_dir, config or TrainConfig(), meta=meta,
                          workers=workers, callbacks=callbacks)
    if not build_only:
        trainer.train()
    return trainer


def pair_dataset(folders: dict, *, size: int, batch_size: int, seed: int):
    """The training stream of a swap run: one `FaceDataset` over the identities' face folders."""
    from zoo.data.dataset import FaceDataset

    return FaceDataset([str(f) for f in folders.values()], batch_size=batch_size, size=size, seed=seed)


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

    state = runs.read_state(run_dir)
    meta = state.get("meta") or {}
    saved_folders = {str(k): str(v) for k, v in (meta.get("folders") or {}).items()}
    missing = [key for key in ("batch_size", "seed") if key not in meta]
    if missing or not saved_folders:
        raise RunError(f"Run {run_dir} does not record its data stream ({', '.join(missing) or 'folders'} "
                       "missing from state.json meta), so it cannot be resumed exactly. Start a new run.")
    if size is not None and int(size) != int(state["input_size"]):
        raise RunError(f"Run {run_dir} trains at {state['input_size']} px, but --size {size} was given: a resumed "
                       f"run keeps its size. Drop --size (or pass {state['input_size']}), or start a new run "
                       "in another folder.")
    for key, asked in (("batch_size", batch_size), ("seed", seed)):
        if asked is not None and int(asked) != int(meta[key]):
            flag = "--" + key.replace("_", "-")
            raise RunError(f"Run {run_dir} was trained with {key}={meta[key]}, but {flag} {asked} was given: a "
                           f"resumed run keeps its data stream. Drop {flag} (or pass {meta[key]}), or start a "
                           "new run in another folder.")
    if folders:
        asked = {str(k): str(Path(v).resolve()) for k, v in folders.items()}
        if asked != {k: str(Path(v).resolve()) for k, v in saved_folders.items()}:
            raise RunError(f"Run {run_dir} was trained on face folders {saved_folders}, but {dict(folders)} was "
                           "given: a resumed run keeps its data. Drop the folder flags to use the saved ones.")
    dataset = pair_dataset(saved_folders, size=int(state["input_size"]), batch_size=int(meta["batch_size"]),
                           seed=int(meta["seed"]))
    config = TrainConfig(steps=int(steps)) if steps is not None else None
    return SwapTrainer.resume(run_dir, dataset, config=config, workers=workers, callbacks=callbacks)
