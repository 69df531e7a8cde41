"""LFW View 1 during pretraining (`facezoo pretrain --lfw-eval-every N`): is more training still helping?

Every N steps the encoder, as it is at that step, is scored by LFW View 1 (`zoo.verification`, on its
pooled features, no head), and the point is added to RUN/lfw_view1.json (a list of {step, accuracy,
pairs, subset, seconds}) with its plot RUN/lfw_view1.png, both written atomically. A resume drops the
points after the checkpoint it resumes from (they are measured again). The job's final View 1 score is
added as the last point, so a run with `--lfw-eval-every 0` still has a one-point curve.
"""
from __future__ import annotations

import json
import logging
import time
from pathlib import Path

__all__ = ["CURVE", "read_curve", "add_point", "keep_until", "plot_curve", "view1_callback"]

CURVE = "lfw_view1.json"
log = logging.getLogger("facezoo.pretrain")


def read_curve(run_dir) -> list[dict]:
    """The run's View 1 points, by step ([] when none were measured)."""
    path = Path(run_dir) / CURVE
    if not path.is_file():
        return []
    try:
        return sorted(json.loads(path.read_text()), key=lambda p: p["step"])
    except (ValueError, KeyError, TypeError):
        log.warning("%s is damaged; the View 1 curve starts again", path)
        return []


def _write(run_dir, points: list[dict]) -> None:
    from zoo.io import write_json

    write_json(Path(run_dir) / CURVE, sorted(points, key=lambda p: p["step"]))
    if points:
        plot_curve(points, Path(run_dir) / "lfw_view1.png")


def add_point(run_dir, step: int, result: dict) -> list[dict]:
    """Record `zoo.verification.lfw_verification`'s `result` at `step` (replacing a point of that step)."""
    points = [p for p in read_curve(run_dir) if p["step"] != int(step)]
    points.append({"step": int(step), "accuracy": round(float(result["accuracy"]), 5),
                   "pairs": int(result["pairs"]), "subset": bool(result.get("subset")),
                   "seconds": round(float(result.get("seconds", 0.0)), 1)})
    _write(run_dir, points)
    return points


def keep_until(run_dir, step: int) -> None:
    """Drop the points measured after `step` (a resume from an earlier checkpoint measures them again)."""
    points = read_curve(run_dir)
    kept = [p for p in points if p["step"] <= int(step)]
    if len(kept) != len(points):
        _write(run_dir, kept)


def plot_curve(points: list[dict], path) -> Path:
    """PNG of View 1 accuracy against training steps (chance: 50%)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from zoo.io import atomic_write

    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot([p["step"] for p in points], [100 * p["accuracy"] for p in points], marker="o")
    ax.axhline(50, color="grey", linestyle=":", label="chance")
    ax.set(xlabel="pretraining step", ylabel="LFW View 1 accuracy (%)",
           title="LFW View 1 during pretraining" + (" (a subset of pairs)" if any(p["subset"] for p in points) else ""))
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = Path(path)
    with atomic_write(path, "wb") as f:
        fig.savefig(f, format="png", dpi=90)
    plt.close(fig)
    return path


def view1_callback(run_dir, root, every: int, step, *, last=None, max_pairs: int | None = None, echo=print):
    """A Keras callback scoring View 1 at the end of the chunk where `step()` reaches a multiple of `every`,
    except at `last()`, the run's final step, which the job scores itself once training ends."""
    import keras

    from zoo.pretrain.model import find_encoder
    from zoo.verification import lfw_verification

    class View1(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.done = {p["step"] for p in read_curve(run_dir)}

        def on_epoch_end(self, epoch, logs=None):
            now = int(step())
            if now % int(every) or now in self.done or (last is not None and now >= int(last())):
                return
            t = time.perf_counter()
            result = lfw_verification(find_encoder(self.model), root, view=1, max_pairs=max_pairs)
            result["seconds"] = time.perf_counter() - t
            add_point(run_dir, now, result)
            self.done.add(now)
            echo(f"LFW View 1 at step {now}: {100 * result['accuracy']:.2f}% ({result['pairs']} DevTest pairs"
                 f"{', a subset' if result['subset'] else ''}; {result['seconds']:.0f} s)")

    return View1()
