"""A training run folder: file names in one place, and `load_run` to get the trained model back.

    RUN/model.keras        the whole swap model (latest checkpoint; atomic)
    RUN/state.json         step, current stage, stage history, schedule, config
    RUN/checkpoints/step-N model.keras + optimizer.npz + state.json, complete or absent
    RUN/previews/          PNG grids (A, A->A, A->B, B, B->B, B->A) every N steps
    RUN/logs/              TensorBoard event files
    RUN/losses.csv         step, loss per identity, stage
    RUN/loss.png           the loss curve with stage changes marked
    RUN/encoder.keras      the encoder alone, for `facezoo publish`
"""
from __future__ import annotations

import json
from pathlib import Path

MODEL = "model.keras"
ENCODER = "encoder.keras"
STATE = "state.json"
OPTIMIZER = "optimizer.npz"
CHECKPOINTS = "checkpoints"
PREVIEWS = "previews"
LOGS = "logs"
LOSSES = "losses.csv"
LOSS_PLOT = "loss.png"


def read_state(run_dir) -> dict:
    path = Path(run_dir) / STATE
    if not path.exists():
        raise FileNotFoundError(f"No {STATE} in run folder {run_dir}: is it a `facezoo train` run? "
                                "Start one with `facezoo train --run DIR ...`.")
    return json.loads(path.read_text())


def checkpoint_dir(run_dir, state: dict | None = None) -> Path:
    state = state or read_state(run_dir)
    return Path(run_dir) / state["checkpoint"]


def load_run(run_dir, *, compile: bool = False):
    """The trained `SwapModel` of a run folder, with `.encoder`, `.decoders` and `.identities`.

    Examples:
        >>> model = zoo.load_run("runs/alice-bob")
        >>> fake = model.swap(faces_of_alice, to="bob")
    """
    import keras

    import zoo.layers  # noqa: F401
    import zoo.losses  # noqa: F401
    import zoo.optim  # noqa: F401
    import zoo.swap  # noqa: F401

    state = read_state(run_dir)
    path = checkpoint_dir(run_dir, state) / MODEL
    if not path.exists():
        raise FileNotFoundError(f"Run {run_dir}: checkpoint {path} is missing. The run folder is "
                                "incomplete; resume training or use another run.")
    model = keras.saving.load_model(path, compile=compile, safe_mode=True)
    model.run_state = state
    return model
