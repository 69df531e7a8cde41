"""Preview grids and loss plots for training runs (PNG, written atomically).

A training preview is meant to be read by a person at a glance: each face is scaled up (pixel-true,
nearest neighbour) to at least `PREVIEW_TILE` px, every column carries a label in a header row
("A", "A rebuilt", "A->B", "A->B mask", ...), and the swap's mask (what `convert` blends with) is shown
as its own grey column beside each swap.
"""
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


PREVIEW_TILE = 128   # each face is scaled up to at least this many pixels
HEADER_PX = 22       # height of the label row at the tile size


def preview_columns(model, faces: dict) -> list:
    """[(label, (N, H, W, 3) float images)] for the first two identities X, Y (shown as A, B): X, X rebuilt,
    X->Y, X->Y mask, Y, Y rebuilt, Y->X, Y->X mask. With one identity: A, A rebuilt, A mask."""
    ids = list(model.identities)[:2]
    names = dict(zip(ids, "AB"))
    columns = []
    for k, src in enumerate(ids):
        faces_src = np.asarray(faces[src], "float32")
        columns.append((names[src], faces_src))
        rebuilt = model.decode(faces_src, src)
        columns.append((f"{names[src]} rebuilt", rebuilt[..., :3]))
        last = rebuilt
        if len(ids) > 1:
            dst = ids[1 - k]
            last = model.decode(faces_src, dst)
            columns.append((f"{names[src]}->{names[dst]}", last[..., :3]))
        label = f"{columns[-1][0]} mask" if len(ids) > 1 else f"{names[src]} mask"
        columns.append((label, np.repeat(last[..., 3:4], 3, axis=-1)))
    return columns


def _label_row(labels, tile: int, height: int) -> np.ndarray:
    """A white row of black column labels, each centred over its tile (shrunk to fit the tile)."""
    import cv2

    row = np.full((height, tile * len(labels), 3), 255, np.uint8)
    for i, text in enumerate(labels):
        scale = height / 40.0
        (w, h), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
        if w > tile - 4:
            scale *= (tile - 4) / w
            (w, h), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
        x = i * tile + (tile - w) // 2
        cv2.putText(row, text, (x, (height + h) // 2), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 1, cv2.LINE_AA)
    return row


def preview_grid(model, faces: dict, *, tile: int = PREVIEW_TILE) -> np.ndarray:
    """The labelled preview (module docstring): a header row of column labels, then one row per sample;
    faces scaled up by a whole factor to at least `tile` px. RGB uint8."""
    columns = preview_columns(model, faces)
    size = columns[0][1].shape[1]
    factor = max(1, -(-int(tile) // size))
    rows = min(len(images) for _, images in columns)
    body = np.concatenate([np.concatenate([to_uint8(images[r]) for _, images in columns], axis=1)
                           for r in range(rows)], axis=0)
    body = np.repeat(np.repeat(body, factor, axis=0), factor, axis=1)
    header = _label_row([label for label, _ in columns], size * factor, max(HEADER_PX, size * factor // 6))
    return np.concatenate([header, body], axis=0)


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
