"""MTCNN face detection that works whatever Keras backend the user picked.

mtcnn 1.0 runs only on TensorFlow (under KERAS_BACKEND=jax its `.numpy()` calls fail) and accepts BGR
without complaint. `FaceDetector` feeds it RGB, batches images of equal size into one call, and when
the process' Keras backend is not TensorFlow runs MTCNN in a worker process (a fresh interpreter,
`python -m zoo.data.detect --worker`) whose environment says KERAS_BACKEND=tensorflow. mtcnn (and so
TensorFlow) is imported only when a detector starts.

Landmarks come in facezoo's template order (`zoo.data.align.POINT_NAMES`): left eye, right eye, nose,
left mouth corner, right mouth corner, where "left" is image-left (mtcnn's `left_eye` is image-left).

Examples:
    >>> with FaceDetector(min_face_size=40) as detector:
    ...     faces_per_image = detector.detect([rgb1, rgb2])
    >>> faces_per_image[0][0].box, faces_per_image[0][0].landmarks   # (4,) x0 y0 x1 y1, (5, 2) x y
"""
from __future__ import annotations

import os
import pickle
import struct
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from zoo.errors import DataError, InputError


@dataclass(frozen=True)
class Face:
    box: np.ndarray          # (4,) float: x0, y0, x1, y1 in source pixels
    score: float
    landmarks: np.ndarray    # (5, 2) float: (x, y) in POINT_NAMES order

    @property
    def width(self) -> float:
        return float(self.box[2] - self.box[0])

    @property
    def height(self) -> float:
        return float(self.box[3] - self.box[1])

    @property
    def area(self) -> float:
        return max(self.width, 0.0) * max(self.height, 0.0)


def _rows_to_faces(rows: np.ndarray) -> list[Face]:
    """mtcnn numpy rows without the image id: x0 y0 x1 y1 score, 5 xs, 5 ys (mtcnn's own layout)."""
    faces = []
    for r in np.asarray(rows, dtype=np.float64).reshape(-1, 15):
        landmarks = np.stack([r[5:10], r[10:15]], axis=1)
        faces.append(Face(box=r[0:4].copy(), score=float(r[4]), landmarks=landmarks))
    faces.sort(key=lambda f: -f.score)
    return faces


def _as_rgb_uint8(image) -> np.ndarray:
    img = np.asarray(image)
    if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
        raise InputError(f"detector input must be RGB uint8 (H, W, 3). Received: {img.dtype} {img.shape}")
    return np.ascontiguousarray(img)


class _MtcnnCore:
    """The in-process MTCNN; returns per image an (n, 15) float array (see `_rows_to_faces`)."""

    def __init__(self, min_face_size: int, options: dict, device: str):
        import logging

        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        logging.getLogger("absl").setLevel(logging.ERROR)
        from mtcnn import MTCNN
        from mtcnn.stages import StageONet, StageRNet

        from zoo.data.pnet import make_pnet_stage
        # mtcnn's own PNet pyramid falls below 12 px for large min_face_size (see zoo.data.pnet)
        self.mtcnn = MTCNN(stages=[make_pnet_stage(), StageRNet, StageONet], device=device)
        self.kwargs = dict(options, min_face_size=int(min_face_size))
        self.min_side = max(int(min_face_size), 12)

    def __call__(self, images: list[np.ndarray], min_face_size: int | None = None) -> list[np.ndarray]:
        kwargs, min_side = self.kwargs, self.min_side
        if min_face_size is not None:  # one call's own search minimum (zoo.data.track: face-sized crops)
            kwargs, min_side = dict(kwargs, min_face_size=int(min_face_size)), max(int(min_face_size), 12)
        out: list[np.ndarray] = [np.empty((0, 15))] * len(images)
        groups: dict[tuple, list[int]] = {}
        for i, img in enumerate(images):
            if min(img.shape[:2]) >= min_side:  # smaller images cannot hold a detectable face
                groups.setdefault(img.shape, []).append(i)
        # One call per image size: mtcnn pads a mixed batch to the largest image, wasting work.
        for idx in groups.values():
            rows = self.mtcnn.detect_faces([images[i] for i in idx], box_format="xyxy",
                                           output_type="numpy", **kwargs)
            rows = np.asarray(rows, dtype=np.float64)
            if rows.size == 0:
                continue
            for j, i in enumerate(idx):
                mine = rows[rows[:, 0] == j]
                out[i] = mine[:, 1:16].copy()
        return out


def _send(stream, obj) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(struct.pack("<Q", len(data)))
    stream.write(data)
    stream.flush()


def _recv(stream):
    head = stream.read(8)
    if len(head) < 8:
        raise EOFError
    (n,) = struct.unpack("<Q", head)
    data = stream.read(n)
    if len(data) < n:
        raise EOFError
    return pickle.loads(data)


def _worker_main() -> None:
    """`python -m zoo.data.detect --worker`: MTCNN on TensorFlow, framed pickles over stdin/stdout."""
    proto_out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # anything the libraries print goes to stderr, not into the protocol
    proto_in = sys.stdin.buffer
    try:
        import keras
        if keras.backend.backend() != "tensorflow":
            keras.config.set_backend("tensorflow")
        config = _recv(proto_in)
        core = _MtcnnCore(**config)
    except BaseException as exc:  # noqa: BLE001 - reported to the parent
        _send(proto_out, ("error", f"{type(exc).__name__}: {exc}"))
        return
    _send(proto_out, ("ready", None))
    while True:
        try:
            msg = _recv(proto_in)
        except EOFError:
            return
        if msg is None:
            return
        try:
            images, min_face_size = msg if isinstance(msg, tuple) else (msg, None)
            _send(proto_out, ("ok", core(images, min_face_size)))
        except Exception as exc:  # noqa: BLE001
            _send(proto_out, ("error", f"{type(exc).__name__}: {exc}"))


def keras_backend_is_tensorflow() -> bool:
    """Whether Keras in this process runs (or will run) on TensorFlow."""
    keras = sys.modules.get("keras")
    if keras is None:
        env = os.environ.get("KERAS_BACKEND")
        if env:
            return env == "tensorflow"
        import keras
    return keras.backend.backend() == "tensorflow"


@dataclass
class FaceDetector:
    """MTCNN over RGB uint8 images, in this process or a TensorFlow worker process.

    Args:
        min_face_size: smallest face side to look for, in pixels (mtcnn's pyramid starts there).
        mode: "auto" (a worker only when the Keras backend is not TensorFlow), "inprocess" or "worker".
        device: TensorFlow device for mtcnn, e.g. "CPU:0" or "GPU:0".
        options: extra mtcnn stage options (threshold_pnet, threshold_rnet, threshold_onet, ...).
    """

    min_face_size: int = 20
    mode: str = "auto"
    device: str = "CPU:0"
    options: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.mode not in ("auto", "inprocess", "worker"):
            raise InputError(f"mode must be 'auto', 'inprocess' or 'worker'. Received: mode={self.mode!r}")
        self._core = None
        self._proc = None

    @property
    def uses_worker(self) -> bool:
        if self.mode == "auto":
            self.mode = "inprocess" if keras_backend_is_tensorflow() else "worker"
        return self.mode == "worker"

    def start(self) -> "FaceDetector":
        """Load the networks now (otherwise the first `detect` does). Idempotent."""
        if self._core is not None or self._proc is not None:
            return self
        if not self.uses_worker:
            self._core = _MtcnnCore(self.min_face_size, self.options, self.device)
            return self
        import subprocess

        import zoo
        env = dict(os.environ, KERAS_BACKEND="tensorflow")
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        root = str(Path(zoo.__file__).resolve().parent.parent)  # so the worker imports this zoo
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
        # A fresh interpreter, not multiprocessing: spawn would re-run the user's __main__ module.
        self._proc = subprocess.Popen([sys.executable, "-m", "zoo.data.detect", "--worker"], env=env,
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        try:
            _send(self._proc.stdin, dict(min_face_size=self.min_face_size, options=self.options,
                                         device=self.device))
        except OSError:
            pass  # died at once; _receive reports it
        status, detail = self._receive()
        if status != "ready":
            self.close()
            raise DataError(f"the MTCNN worker process failed to start: {detail}")
        return self

    def _receive(self):
        try:
            return _recv(self._proc.stdout)
        except (EOFError, OSError):
            proc = self._proc
            code = proc.poll() if proc is not None else None
            self.close()
            raise DataError(f"the MTCNN worker process died (exit code {code}); check memory, or set "
                            "KERAS_BACKEND=tensorflow to detect in-process") from None

    def detect_raw(self, images, min_face_size: int | None = None) -> list[np.ndarray]:
        images = [_as_rgb_uint8(im) for im in images]
        if not images:
            return []
        self.start()
        if self._core is not None:
            return self._core(images, min_face_size)
        try:
            _send(self._proc.stdin, (images, min_face_size))
        except OSError:
            pass  # the worker died; _receive says so
        status, payload = self._receive()
        if status != "ok":
            raise RuntimeError(f"MTCNN failed: {payload}")
        return payload

    def detect(self, images, min_face_size: int | None = None) -> list[list[Face]]:
        """Faces per image (RGB uint8 arrays), each list sorted by score, best first. `min_face_size`
        overrides the detector's own for this call."""
        return [_rows_to_faces(rows) for rows in self.detect_raw(images, min_face_size)]

    def close(self) -> None:
        proc, self._proc, self._core = self._proc, None, None
        if proc is None:
            return
        try:
            _send(proc.stdin, None)
            proc.stdin.close()
        except (OSError, ValueError):
            pass
        try:
            proc.wait(timeout=10)
        except Exception:  # noqa: BLE001
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass


def detect_faces(images, **kwargs) -> list[list[Face]]:
    """One-shot convenience: a detector for one call (loads MTCNN each time; prefer FaceDetector)."""
    with FaceDetector(**kwargs) as detector:
        return detector.detect(images)


if __name__ == "__main__" and sys.argv[1:] == ["--worker"]:
    _worker_main()
