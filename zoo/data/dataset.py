"""Training datasets: aligned face folders (or arrays) -> augmented batches, as `keras.utils.PyDataset`.

No TensorFlow here: the same pipeline feeds the JAX and PyTorch backends. Every batch is a pure function
of (seed, epoch, index), so threads, processes and worker counts never change the data.

Sources (one per identity) are a folder of aligned square RGB crops, optionally with the
`alignments.jsonl` that `facezoo extract` writes (its `landmarks_crop` give each crop's mask; crops
without one are taken as aligned to the canonical template), or an in-memory `ArraySource`.

Batch structure of `FaceDataset(sources=[A, B, ...])`, batch `i` (B = batch_size, S = size):
    x = (inputs_A, inputs_B, ...)      each (B, S, S, 3) float32 in [0, 1], the warped faces
    y = (targets_A, targets_B, ...)    each (B, S, S, 4) float32: RGB target (channels 0:3) and
                                        face mask (channel 3); `split_targets(y_k)` splits them.
The tuples always have one entry per source, even for a single source.

Examples:
    >>> ds = FaceDataset(["faces/alice", "faces/bob"], batch_size=16, size=64, seed=1)
    >>> (x_a, x_b), (y_a, y_b) = ds[0]
    >>> target_a, mask_a = split_targets(y_a)
    >>> ds = FaceDataset([ArraySource(faces_uint8)], batch_size=8, size=64)   # no files at all
"""
from __future__ import annotations

import dataclasses
import logging
import math
import os
import threading
from pathlib import Path

import cv2
import keras
import numpy as np

from zoo.data.align import template_landmarks as _align_template
from zoo.data.alignments import ALIGNMENTS_FILE, read_alignments
from zoo.data.augment import NONE, AugmentConfig, augment_pair
from zoo.data.images import IMAGE_EXTENSIONS
from zoo.data.masks import landmark_mask
from zoo.errors import DataError, InputError

log = logging.getLogger(__name__)


def template_landmarks(size: int) -> np.ndarray:
    """The canonical 5-point template (`zoo.data.align`) in pixels of a `size` crop, any size."""
    # align.py accepts crop sizes 64..512 only; training sizes can be smaller, so scale its 256 px points.
    unit = np.asarray(_align_template(256), dtype=np.float64).reshape(5, 2) / 256.0
    return unit * float(size)


def split_targets(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Split a (..., 4) target into the RGB target (..., 3) and the mask (..., 1)."""
    return y[..., :3], y[..., 3:]


def read_face(path) -> np.ndarray:
    """Read an image file as RGB uint8, converting grey, alpha and 16-bit; raises ValueError(reason)."""
    path = Path(path)
    try:
        if path.stat().st_size == 0:
            raise InputError("zero-byte file")
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}") from None
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise InputError("not a readable image (corrupt, truncated, too large or unknown format)")
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    elif image.dtype != np.uint8:
        raise InputError(f"unsupported pixel type {image.dtype}")
    if image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 1):
        return cv2.cvtColor(image.reshape(image.shape[:2]), cv2.COLOR_GRAY2RGB)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2RGB)
    if image.shape[2] == 3:
        return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    raise InputError(f"unsupported channel count {image.shape[2]}")


def _resize_landmarks(landmarks: np.ndarray, shape, size: int) -> np.ndarray:
    """Landmarks of an (h, w) crop in the pixels of the same crop resized to size x size."""
    h, w = shape[:2]
    scale = np.array([size / w, size / h])
    return (np.asarray(landmarks, np.float64) + 0.5) * scale - 0.5


@dataclasses.dataclass
class ArraySource:
    """In-memory aligned faces: `images` (N, H, W, 3) RGB uint8 (or a list of such arrays).

    `landmarks`: None (template-aligned), one (5, 2) set for all, or (N, 5, 2), in each image's pixels.
    """

    images: object
    landmarks: object = None
    name: str = "array"

    def __post_init__(self):
        if len(self.images) == 0:
            raise DataError(f"ArraySource {self.name!r} holds no images; give it (N, H, W, 3) faces")
        if self.landmarks is not None:
            lms = np.asarray(self.landmarks, np.float64)
            if lms.shape == (5, 2):
                lms = np.broadcast_to(lms, (len(self.images), 5, 2))
            if lms.shape != (len(self.images), 5, 2):
                raise DataError(f"ArraySource {self.name!r}: landmarks must be (5, 2) or "
                                f"({len(self.images)}, 5, 2); received {lms.shape}")
            self.landmarks = lms

    def __len__(self) -> int:
        return len(self.images)

    def read(self, index: int) -> tuple[np.ndarray, np.ndarray | None]:
        image = np.asarray(self.images[index])
        if image.dtype != np.uint8:
            image = np.clip(np.asarray(image, np.float32) * 255.0 + 0.5, 0, 255).astype(np.uint8)
        if image.ndim != 3 or image.shape[2] != 3:
            raise InputError(f"image {index} has shape {image.shape}; expected (H, W, 3) RGB")
        return image, None if self.landmarks is None else self.landmarks[index]

    def describe(self, index: int) -> str:
        return f"{self.name}[{index}]"


class FolderSource:
    """A folder of aligned crops, with `alignments.jsonl` landmarks where the folder has them."""

    def __init__(self, folder):
        self.folder = Path(folder)
        self.name = str(folder)
        if not self.folder.is_dir():
            raise DataError(f"face folder {str(folder)!r} does not exist (or is not a folder); "
                            "point at a folder of aligned faces, e.g. the output of `facezoo extract`")
        self.landmarks: dict[str, np.ndarray] = {}
        alignments = self.folder / ALIGNMENTS_FILE
        if alignments.is_file():
            self._read_alignments(alignments)
        names = {p.name for p in self.folder.iterdir()
                 if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file()}
        names.update(crop for crop in self.landmarks if (self.folder / crop).is_file())
        self.files = sorted(names)
        if not self.files:
            raise DataError(f"face folder {str(folder)!r} has no images "
                            f"({', '.join(sorted(IMAGE_EXTENSIONS))}); run `facezoo extract` into it first")

    def _read_alignments(self, path: Path) -> None:
        for record in read_alignments(path):
            if "crop" not in record:
                continue  # skip/done records
            lms = np.asarray(record.get("landmarks_crop", ()), np.float64)
            if lms.shape != (5, 2):
                log.warning("%s: %s has no 5-point landmarks_crop, using the template", path, record["crop"])
                continue
            self.landmarks[os.path.normpath(record["crop"])] = lms

    def __len__(self) -> int:
        return len(self.files)

    def read(self, index: int) -> tuple[np.ndarray, np.ndarray | None]:
        name = self.files[index]
        return read_face(self.folder / name), self.landmarks.get(os.path.normpath(name))

    def describe(self, index: int) -> str:
        return str(self.folder / self.files[index])


def as_source(source):
    """A folder path, an `ArraySource`, or a (N, H, W, 3) array -> a source object."""
    if isinstance(source, (ArraySource, FolderSource)):
        return source
    if isinstance(source, (str, os.PathLike)):
        return FolderSource(source)
    if isinstance(source, np.ndarray):
        return ArraySource(source)
    raise DataError(f"unsupported face source {type(source).__name__}; give a folder path, "
                    "an ArraySource or a (N, H, W, 3) uint8 array")


class _FaceStore:
    """Loads (and caches) faces resized to `size` with their uint8 masks; skips unreadable files."""

    def __init__(self, sources, size: int, cache: bool, feather: float):
        self.sources = [as_source(s) for s in sources]
        self.size = int(size)
        self.cache = cache
        self.feather = feather
        self._cache: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}
        self._bad: dict[tuple[int, int], str] = {}
        self._lock = threading.Lock()
        self._template_mask = None

    @property
    def skipped(self) -> list[tuple[str, str]]:
        """(file, reason) for each face skipped so far in this process."""
        return [(self.sources[k].describe(i), why) for (k, i), why in sorted(self._bad.items())]

    def _mask_for(self, landmarks, shape) -> np.ndarray:
        if landmarks is None:
            if self._template_mask is None:
                mask = landmark_mask(template_landmarks(self.size), self.size, self.feather)
                self._template_mask = np.round(mask * 255).astype(np.uint8)
            return self._template_mask
        lms = _resize_landmarks(landmarks, shape, self.size)
        return np.round(landmark_mask(lms, self.size, self.feather) * 255).astype(np.uint8)

    def _load(self, k: int, index: int) -> tuple[np.ndarray, np.ndarray]:
        key = (k, index)
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        image, landmarks = self.sources[k].read(index)
        mask = self._mask_for(landmarks, image.shape)
        if image.shape[:2] != (self.size, self.size):
            shrink = image.shape[0] > self.size or image.shape[1] > self.size
            image = cv2.resize(image, (self.size, self.size),
                               interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)
        if self.cache:
            self._cache[key] = (image, mask)
        return image, mask

    def get(self, k: int, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Face `index` of source `k`, or the next readable one (deterministic: depends on files only)."""
        source = self.sources[k]
        n = len(source)
        for step in range(n):
            i = (index + step) % n
            if (k, i) in self._bad:
                continue
            try:
                return self._load(k, i)
            except ValueError as exc:
                with self._lock:
                    if (k, i) not in self._bad:
                        self._bad[(k, i)] = str(exc)
                        log.warning("skipping face %s: %s", source.describe(i), exc)
        raise DataError(f"face source {source.name!r} has no readable images "
                        f"(first problem: {source.describe(0)}: {self._bad.get((k, 0), '?')})")


def _augment_config(augment) -> AugmentConfig | None:
    if augment is True:
        return AugmentConfig()
    if augment is False or augment is None:
        return None
    if isinstance(augment, AugmentConfig):
        return augment
    raise InputError(f"augment must be True, False or an AugmentConfig. Received: augment={augment!r}")


class _Base(keras.utils.PyDataset):
    _stream = 0  # distinguishes the random streams of dataset kinds

    def __init__(self, sources, batch_size, size, steps_per_epoch, seed, augment, workers,
                 use_multiprocessing, max_queue_size, cache, mask_feather):
        super().__init__(workers=workers, use_multiprocessing=use_multiprocessing,
                         max_queue_size=max_queue_size)
        if isinstance(sources, (str, os.PathLike, ArraySource, np.ndarray)):
            sources = [sources]
        if not sources:
            raise DataError("no face sources given; pass a list of folders (one per identity)")
        if int(batch_size) < 1 or int(size) < 8:
            raise DataError(f"batch_size must be >= 1 and size >= 8; received batch_size="
                            f"{batch_size!r}, size={size!r}")
        if steps_per_epoch is not None and int(steps_per_epoch) < 1:
            raise DataError(f"steps_per_epoch must be >= 1 or None; received {steps_per_epoch!r}")
        self.store = _FaceStore(sources, size, cache, mask_feather)
        self.batch_size = int(batch_size)
        self.size = int(size)
        self.steps_per_epoch = None if steps_per_epoch is None else int(steps_per_epoch)
        self.seed = int(seed)
        self.config = _augment_config(augment)
        self.epoch = 0
        if cache and use_multiprocessing and workers > 0:
            # Keras forks a fresh worker pool every epoch: a cache filled inside the workers would be
            # lost each time, so fill it here once and let the workers share it copy-on-write.
            self.preload()

    def preload(self) -> int:
        """Read (and cache) every face now, in this process; returns how many are usable."""
        usable = 0
        for k, source in enumerate(self.sources):
            for i in range(len(source)):
                self.store.get(k, i)
                usable += (k, i) not in self.store._bad
        return usable

    @property
    def sources(self):
        return self.store.sources

    @property
    def skipped(self):
        """(file, reason) for each face skipped so far (in this process)."""
        return self.store.skipped

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def on_epoch_end(self):
        self.epoch += 1

    def _rng(self, *keys) -> np.random.Generator:
        return np.random.default_rng([self.seed, self._stream, self.epoch, *keys])

    def _check_index(self, index: int) -> int:
        n = len(self)
        if not -n <= index < n:
            raise IndexError(f"batch {index} out of range for {n} batches per epoch")
        return index % n

    def _sample(self, k: int, index: int, rng: np.random.Generator):
        image, mask = self.store.get(k, index)
        if self.config is None:
            return augment_pair(image, mask, rng, self.size, NONE, warp=False)
        return augment_pair(image, mask, rng, self.size, self.config)

    @staticmethod
    def _stack(samples):
        inputs = np.stack([s[0] for s in samples])
        targets = np.stack([np.concatenate([s[1], s[2]], axis=-1) for s in samples])
        return inputs, targets


class FaceDataset(_Base):
    """Swap-training batches: one stream of augmented faces per source (identity).

    Args:
        sources: list of folders / `ArraySource`s / (N, H, W, 3) arrays, one per identity (A, B, ...).
        batch_size: faces per identity per batch.
        size: output side in pixels (faces are resized to it once, then augmented).
        steps_per_epoch: batches per epoch; default: enough for the largest source to be seen once.
        seed: with the epoch and batch index, fixes every batch.
        augment: True (faceswap defaults), False (input == target, e.g. validation), or AugmentConfig.
        workers, use_multiprocessing, max_queue_size: `keras.utils.PyDataset` parallelism.
        cache: keep each resized face (uint8) and mask in memory after its first read; with
            `use_multiprocessing` every face is read at construction (`preload`), as Keras forks
            new worker processes each epoch.
        mask_feather: the landmark mask's Gaussian feather, fraction of `size`.

    Returns per batch `(x, y)`: `x` a tuple of (B, S, S, 3) warped inputs per source, `y` a tuple of
    (B, S, S, 4) = RGB target + mask per source. Each epoch walks every source in a fresh order.
    """

    _stream = 1

    def __init__(self, sources, batch_size, size, steps_per_epoch=None, seed=0, augment=True,
                 workers=1, use_multiprocessing=False, max_queue_size=10, cache=True,
                 mask_feather=0.04):
        super().__init__(sources, batch_size, size, steps_per_epoch, seed, augment, workers,
                         use_multiprocessing, max_queue_size, cache, mask_feather)
        self._orders: dict[tuple, np.ndarray] = {}

    def __len__(self) -> int:
        if self.steps_per_epoch is not None:
            return self.steps_per_epoch
        return math.ceil(max(len(s) for s in self.sources) / self.batch_size)

    def _order(self, k: int, cycle: int) -> np.ndarray:
        key = (self.epoch, k, cycle)
        order = self._orders.get(key)
        if order is None:
            if len(self._orders) > 64:
                self._orders.clear()
            order = self._rng(k, cycle, 0).permutation(len(self.sources[k]))
            self._orders[key] = order
        return order

    def _indices(self, k: int, index: int) -> list[int]:
        n = len(self.sources[k])
        out = []
        for position in range(index * self.batch_size, (index + 1) * self.batch_size):
            cycle, offset = divmod(position, n)
            out.append(int(self._order(k, cycle)[offset]))
        return out

    def __getitem__(self, index):
        index = self._check_index(index)
        xs, ys = [], []
        for k in range(len(self.sources)):
            samples = [self._sample(k, face, self._rng(k, index, j, 1))
                       for j, face in enumerate(self._indices(k, index))]
            inputs, targets = self._stack(samples)
            xs.append(inputs)
            ys.append(targets)
        return tuple(xs), tuple(ys)
