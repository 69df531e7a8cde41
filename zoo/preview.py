"""Preview grids and loss plots for training runs (PNG, written atomically)."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from zoo.io import atomic_write
from zoo.errors import InputError


def to_uint8(image) -> np.ndarray:
    image = np.asarray(image)
    if image.dtype == np.uint8:
        return image
    return (np.clip(image, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def write_png(path, rgb) -> Path:
    import cv2

    ok, buf = cv2.imencode(".png", cv2.cvtColor(to_uint8(rgb), cv2.COLOR_RGB2BGR))
    if not ok:
        raise InputError(f"Could not encode PNG for {path}")
    with atomic_write(path) as f:
        f.write(buf.tobytes())
    return Path(path)


def preview_grid(model, faces: dict) -> np.ndarray:
    """Rows of samples; columns X, X->X, X->Y, Y, Y->Y, Y->X for the first two identities.

    With one identity, the columns are X, X->X.
    """
    ids = list(model.identities)[:2]
    columns = []
    for k, src in enumerate(ids):
        faces_src = np.asarray(faces[src], "float32")
        columns.append(faces_src)
        columns.append(model.swap(faces_src, to=src))
        if len(ids) > 1:
            columns.append(model.swap(faces_src, to=ids[1 - k]))
    rows = min(len(c) for c in columns)
    grid = np.concatenate([np.concatenate([c[r] for c in columns], axis=1) for r in range(rows)], axis=0)
    return to_uint8(grid)


def plot_losses(csv_path, history, out_path) -> Path | None:
    """Plot losses.csv with a vertical line at every stage change."""
    from zoo.schedule import trainable_label
    csv_path = Path(csv_path)
    if not csv_path.exists():
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with open(csv_path) as f:
        rows = list(csv.DictReader(f))
    if not rows:
        return None
    steps = [int(r["step"]) for r in rows]
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=100)
    for key in [k for k in rows[0] if k.endswith("loss")]:
        ax.plot(steps, [float(r[key]) for r in rows], label=key, linewidth=1.2 if key == "loss" else 0.8)
    for change in history[1:]:
        ax.axvline(change["step"], color="grey", linestyle="--", linewidth=0.8)
        ax.text(change["step"], ax.get_ylim()[1], f" {trainable_label(change['trainable'])} ({change['reason']})",
                rotation=90, va="top", fontsize=7, color="grey")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_yscale("log")
    ax.legend(fontsize=8)
    ax.set_title("training loss (dashed: stage changes)")
    fig.tight_layout()
    out_path = Path(out_path)
    tmp = out_path.with_name(f".{out_path.stem}.tmp.png")
    fig.savefig(tmp)
    plt.close(fig)
    tmp.replace(out_path)
    return out_path
