"""A run folder (swap training or pretraining): file names in one place, the one state reader
(`read_state`) and checkpoint writer (`write_checkpoint_dir`) that `zoo.loop.ChunkedLoop` uses for
both trainers, and `load_run` to get a trained swap model back.

    RUN/model.keras        the whole swap model (a hard link to the latest checkpoint's: no copy)
    RUN/state.json         step, config, meta, the checkpoint; swap runs: stage, stage history, schedule
    RUN/checkpoints/step-N model.keras (no optimizer) + optimizer.npz + state.json, complete or
                           absent; the newest one is kept (`keep_checkpoints`)
    RUN/previews/          PNG grids (A, A->A, A->B, B, B->B, B->A) every N steps
    RUN/logs/              TensorBoard event files
    RUN/losses.csv         step, loss (swap runs: per identity, and stage), time
    RUN/loss.png           the loss curve with stage changes marked
    RUN/encoder.keras      the encoder alone (pretraining runs; or a Keras folder RUN/encoder);
                           `facezoo publish RUN` takes the encoder out of model.keras for swap runs
                           (`run_encoder`, so the hub never needs these names)
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from zoo.errors import MissingFileError
MODEL = "model.keras"
ENCODER = "encoder.keras"
ENCODER_DIR = "encoder"
STATE = "state.json"
OPTIMIZER = "optimizer.npz"
CHECKPOINTS = "checkpoints"
PREVIEWS = "previews"
LOGS = "logs"
LOSSES = "losses.csv"
LOSS_PLOT = "loss.png"


def read_state(run_dir) -> dict:
    """RUN/state.json of a run of either kind (`facezoo train` or `facezoo pretrain`): its step, config,
    meta and the checkpoint it points at (written by `zoo.loop.ChunkedLoop.save_checkpoint`)."""
    path = Path(run_dir) / STATE
    if not path.exists():
        raise MissingFileError(f"No {STATE} in run folder {run_dir}: no training or pretraining run has saved a "
                                "checkpoint there, so there is nothing to resume or load. Start a new run with "
                                "`facezoo train --run DIR ...` or `facezoo pretrain --run DIR ...` (no --resume).")
    return json.loads(path.read_text())


def checkpoint_dir(run_dir, state: dict | None = None) -> Path:
    state = state or read_state(run_dir)
    return Path(run_dir) / state["checkpoint"]


def load_run(run_dir, *, compile: bool = False):
    """The trained `SwapModel` of a run folder, with `.encoder`, `.decoders` and `.identities`.

    Examples:
        >>> model = zoo.load_run("facezoo-quickstart/pair")   # a `facezoo train` or quickstart run
        >>> size = model.input_size
        >>> faces_of_a = np.random.rand(2, size, size, 3)     # aligned RGB faces in [0, 1]
        >>> fake_b = model.swap(faces_of_a, to="b")
    """
    import keras

    import zoo.layers  # noqa: F401
    import zoo.losses  # noqa: F401
    import zoo.optim  # noqa: F401
    import zoo.swap  # noqa: F401

    state = read_state(run_dir)
    path = checkpoint_dir(run_dir, state) / MODEL
    if not path.exists():
        raise MissingFileError(f"Run {run_dir}: checkpoint {path} is missing. The run folder is "
                                "incomplete; resume training or use another run.")
    model = keras.saving.load_model(path, compile=compile, safe_mode=True)
    model.run_state = state
    return model


def run_encoder(run_dir):
    """What publishing a run folder publishes: a pretraining run's encoder (the path of ENCODER or of
    the Keras folder ENCODER_DIR), or a swap run's encoder taken out of its model (a `keras.Model`);
    None when `run_dir` is not a run folder."""
    run_dir = Path(run_dir)
    for name in (ENCODER, ENCODER_DIR):
        if (run_dir / name).exists():
            return run_dir / name
    if not ((run_dir / STATE).is_file() and (run_dir / MODEL).is_file()):
        return None
    from zoo.errors import InputError
    from zoo.tfquiet import import_tensorflow_quietly

    import_tensorflow_quietly()
    encoder = getattr(load_run(run_dir), "encoder", None)
    if encoder is None:
        raise InputError(f"{run_dir}: its {MODEL} has no .encoder; it is not a facezoo swap run.")
    return encoder


def save_model_only(model, path) -> None:
    """`model.save(path)` without the optimizer's slots: they live once, in optimizer.npz (facezoo
    reloads models with compile=False, so a copy inside model.keras was 40% of every checkpoint and
    never read)."""
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None:
        model.save(path)
        return
    model.optimizer = None
    try:
        model.save(path)
    finally:
        model.optimizer = optimizer


def write_checkpoint_dir(run_dir, step: int, model, state: dict, *, keep: int = 1) -> tuple[Path, dict]:
    """Write RUN/checkpoints/step-N (model.keras, optimizer.npz, state.json) complete or not at all,
    then point RUN/state.json at it and drop all but the newest `keep` checkpoints.

    The folder is written under a temporary name, fsynced and renamed, so a kill at any moment leaves
    the previous checkpoint and state.json intact. Returns (the folder, the state written).
    """
    from zoo.io import atomic_write, fsync_dir, write_json
    from zoo.optim import optimizer_state, state_to_bytes

    run_dir = Path(run_dir)
    root = run_dir / CHECKPOINTS
    root.mkdir(parents=True, exist_ok=True)
    name = f"step-{int(step):08d}"
    final = root / name
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=root))
    try:
        save_model_only(model, tmp / MODEL)
        with open(tmp / MODEL, "rb") as f:
            os.fsync(f.fileno())
        with atomic_write(tmp / OPTIMIZER) as f:
            f.write(state_to_bytes(optimizer_state(model, model.optimizer)))
        state = {**state, "checkpoint": f"{CHECKPOINTS}/{name}"}
        write_json(tmp / STATE, state)
        fsync_dir(tmp)
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
        fsync_dir(root)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    write_json(run_dir / STATE, state)
    for old in sorted(p for p in root.iterdir() if p.name.startswith("step-"))[:-max(1, int(keep))]:
        if old != final:
            shutil.rmtree(old, ignore_errors=True)
    for stale in root.glob(".step-*"):
        shutil.rmtree(stale, ignore_errors=True)
    return final, state


def truncate_losses(run_dir, step: int) -> None:
    """Drop the `losses.csv` rows after `step`: a run killed past its last checkpoint logged steps that
    its resume trains again, and the file must not list them twice."""
    import csv

    from zoo.io import atomic_write

    path = Path(run_dir) / LOSSES
    if not path.is_file():
        return
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    keep = rows[:1] + [r for r in rows[1:] if r and r[0].isdigit() and int(r[0]) <= int(step)]
    if len(keep) != len(rows):
        with atomic_write(path, "w") as f:
            csv.writer(f).writerows(keep)


def disk_usage(root) -> int:
    """Bytes under `root`, each hard-linked file counted once (RUN/model.keras links a checkpoint's)."""
    seen, total = set(), 0
    for path in Path(root).rglob("*"):
        try:
            st = path.lstat()
        except OSError:
            continue
        if path.is_file() and (st.st_dev, st.st_ino) not in seen:
            seen.add((st.st_dev, st.st_ino))
            total += st.st_size
    return total


def format_bytes(n: int) -> str:
    """`143912345` -> `143.9 MB` (decimal units, as `du -h --si` and file managers show them)."""
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"
