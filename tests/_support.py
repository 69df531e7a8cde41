"""Helpers shared by several test modules, imported by name (`from _support import face_folders`): pytest
puts tests/ on the import path of the test modules, so no test module imports another one, and the
benchmarks are loaded from their files (`load_benchmark`) instead of through `sys.path`.
"""
from __future__ import annotations

import importlib.util
import struct
import sys
import zlib
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def load_benchmark(name: str):
    """The module `benchmarks/NAME.py`, loaded from its file (benchmarks/ is not a package)."""
    key = f"_facezoo_benchmark_{name}"
    if key in sys.modules:
        return sys.modules[key]
    spec = importlib.util.spec_from_file_location(key, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[key] = module
    spec.loader.exec_module(module)
    return module


# --- images of every awkward kind (test_images, test_extract) ---------------------------------------------

def exif_segment(orientation: int) -> bytes:
    """A minimal JPEG APP1 EXIF segment holding only the orientation tag."""
    tiff = (b"MM\x00\x2a\x00\x00\x00\x08" + struct.pack(">H", 1)
            + struct.pack(">HHIHH", 0x0112, 3, 1, orientation, 0) + struct.pack(">I", 0))
    payload = b"Exif\x00\x00" + tiff
    return b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload


def huge_png_header(w=20000, h=20000) -> bytes:
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    chunk = struct.pack(">I", len(ihdr)) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    return b"\x89PNG\r\n\x1a\n" + chunk + b"\x00\x00\x00\x00IEND\xaeB`\x82"


def huge_jpeg_header(w=20000, h=20000) -> bytes:
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 17, 8, h, w, 3) + b"\x01\x22\x00\x02\x11\x01\x03\x11\x01"
    return b"\xff\xd8" + sof + b"\xff\xd9"


def make_bad_files(folder, rgb):
    """Write one file of every awkward kind; return {name: expected reason or None (readable)}."""
    import cv2

    bgr = np.ascontiguousarray(rgb[:, :, ::-1])
    png = cv2.imencode(".png", bgr)[1].tobytes()
    jpg = cv2.imencode(".jpg", bgr)[1].tobytes()
    # Stored turned 90 degrees clockwise; EXIF orientation 8 tells viewers to turn it back.
    jpg_cw = cv2.imencode(".jpg", np.ascontiguousarray(np.rot90(bgr, -1)))[1].tobytes()
    files = {
        "zero.png": (b"", "zero-byte"),
        "trunc.png": (png[: len(png) // 2], "truncated"),
        "trunc.jpg": (jpg[: len(jpg) // 2], "truncated"),
        "text.jpg": (b"this is not a picture\n" * 20, "not-an-image"),
        "huge.png": (huge_png_header(), "too-large"),
        "huge.jpg": (huge_jpeg_header(), "too-large"),
        "grey.png": (cv2.imencode(".png", cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY))[1].tobytes(), None),
        "deep16.png": (cv2.imencode(".png", bgr.astype(np.uint16) * 257)[1].tobytes(), None),
        "rgba.png": (cv2.imencode(".png", np.dstack([bgr, np.full(bgr.shape[:2], 255, np.uint8)]))[1]
                     .tobytes(), None),
        "rotated.jpg": (jpg_cw[:2] + exif_segment(8) + jpg_cw[2:], None),  # stored sideways, shown upright
    }
    for name, (data, _) in files.items():
        (folder / name).write_bytes(data)
    return {name: reason for name, (_, reason) in files.items()}


# --- synthetic face folders and a tiny encoder (training, first hour, pretraining) -----------------------

def face_folders(root: Path, size=64, images=12):
    """Two identities "a" and "b" of synthetic faces, `images` PNGs each, in root/a and root/b."""
    import cv2

    from zoo.data.synthetic import SyntheticFaces

    faces = SyntheticFaces(2, size=size, seed=3)
    folders = {}
    for ident, name in enumerate("ab"):
        folder = root / name
        folder.mkdir(parents=True)
        for i in range(images):
            rgb, _ = faces.render(ident, i)
            cv2.imwrite(str(folder / f"{i:03d}.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        folders[name] = folder
    return folders


def tiny_encoder(size=32):
    """A BatchNorm-free conv encoder: exact data-parallel equivalence needs no per-replica statistics."""
    import keras
    from keras import layers
    inp = keras.Input((size, size, 3), name="face")
    x = layers.Conv2D(16, 3, strides=2, padding="same", activation="relu", name="c1")(inp)
    x = layers.Conv2D(32, 3, strides=2, padding="same", activation="relu", name="c2")(x)
    x = layers.Conv2D(32, 3, strides=2, padding="same", activation="relu", name="c3")(x)
    return keras.Model(inp, x, name="tiny_encoder")


# --- time-to-quality records (zoo.bench.evidence schema) for the evidence, card and report tests -----------

def ttq_curve(values, every=10):
    """One arm's curve: a record every `every` steps with these SSIM values."""
    return [{"step": i * every, "ssim": v, "psnr": 10 + v, "swap_b": v, "swap_contrast": v - 0.5, "seconds": i * 2.0}
            for i, v in enumerate(values)]


def ttq_records():
    """Small time-to-quality records: scratch, staged-steps and frozen arms over 2 seeds (the `ttq_records`
    fixture of conftest.py returns this builder)."""
    from zoo.bench import evidence

    recs = []
    for seed in (0, 1):
        recs.append({"arm": "scratch", "seed": seed, "schedule": "all", "curve": ttq_curve([0.2, 0.3, 0.5, 0.6]),
                     "final_ssim": 0.6, "final_psnr": 10.6, "final_swap_b": 0.6, "steps_to_threshold": None,
                     "stages": [{"step": 0, "trainable": "all", "reason": "start"}],
                     "config": evidence.BenchConfig(steps=30, eval_every=10, seeds=(0, 1)).to_dict(),
                     "probe_accuracy": 1.0, "total_seconds": 60})
        recs.append({"arm": "staged-steps", "seed": seed, "schedule": "frozen; all@10",
                     "curve": ttq_curve([0.2, 0.6, 0.65, 0.7 + 0.01 * seed]), "final_ssim": 0.7 + 0.01 * seed,
                     "final_psnr": 10.7, "final_swap_b": 0.9, "steps_to_threshold": None,
                     "stages": [{"step": 0, "trainable": "none", "reason": "start"},
                                {"step": 10, "trainable": "all", "reason": "step"}],
                     "config": recs[0]["config"], "probe_accuracy": 1.0, "total_seconds": 60})
        recs.append({"arm": "frozen", "seed": seed, "schedule": "frozen", "curve": ttq_curve([0.2, 0.25, 0.3, 0.35]),
                     "final_ssim": 0.35, "final_psnr": 10.35, "final_swap_b": 0.1, "steps_to_threshold": None,
                     "stages": [{"step": 0, "trainable": "none", "reason": "start"}],
                     "config": recs[0]["config"], "probe_accuracy": 1.0, "total_seconds": 60})
    return evidence.apply_threshold(recs, 0.95)


# --- swap-training helpers (tests/test_training.py, tests/test_training_followable.py) ---------------------

SIZE = 32


class RandomPairs:
    """Deterministic random batches: enough to check which weights move."""

    def __init__(self, batch=2, size=SIZE):
        self.batch, self.size = batch, size

    def __getitem__(self, i):
        rng = np.random.default_rng(i)
        x = tuple(rng.random((self.batch, self.size, self.size, 3), dtype=np.float32) for _ in range(2))
        y = tuple(np.concatenate([a, np.ones(a.shape[:3] + (1,), np.float32)], -1) for a in x)
        return x, y


def _values(variables):
    import keras
    return {v.path: keras.ops.convert_to_numpy(v).copy() for v in variables}


def _changed(before, after, paths):
    return {p for p in paths if not np.array_equal(before[p], after[p])}
