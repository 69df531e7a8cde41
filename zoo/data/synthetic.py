"""Procedural synthetic faces: seeded, deterministic, any number of identities, with ground truth.

An identity is a parameter vector (face outline, skin tone, eye shape, spacing and iris colour, brows,
nose, mouth, hair colour and style, ears, glasses, beard); every image of it varies pose (yaw, pitch, roll), expression, lighting, background,
scale, blur and noise. Each render records its ground truth: the face box and five landmarks (image-left
eye, image-right eye, nose tip, image-left mouth corner, image-right mouth corner), (x, y) in pixels.

Everything is a pure function of (seed, identity, index): identity 42 looks the same whether the generator
has 50 or 50,000 identities, and identities ``>= n_train`` make a held-out set with no overlap.

Examples:
    >>> faces = SyntheticFaces(10_000, size=128, seed=0)
    >>> image, truth = faces.render(42, 3)          # RGB uint8 (128, 128, 3), dict
    >>> train, held_out = faces.split(held_out=1_000)
    >>> images, ids, truths = next(faces.stream(32, rng=0, identities=train))
    >>> write_corpus("corpus", faces, images_per_identity=20)   # root/id00042/00003.png + landmarks.jsonl

No TensorFlow here: numpy and OpenCV only.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np

from zoo.data.synthetic_params import (FIELD_INDEX, IDENTITY_FIELDS, IMAGE_FIELD_INDEX, IMAGE_FIELDS,
                                      identity_table, image_table)
from zoo.errors import DataError

__all__ = ["SyntheticFaces", "Identity", "LANDMARK_NAMES", "IDENTITY_FIELDS", "identity_name",
           "write_corpus", "write_preview_grid", "GENERATOR_VERSION"]

LANDMARK_NAMES = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")
GENERATOR_VERSION = 1
LANDMARKS_FILE = "landmarks.jsonl"
MANIFEST_FILE = "synth.json"


def identity_name(identity: int) -> str:
    """Folder name of an identity: ``id00042``."""
    return f"id{int(identity):05d}"


@dataclass(frozen=True, eq=False)
class Identity:
    """One identity's parameters: `vector` (float64, fields in `IDENTITY_FIELDS` order) and named access."""

    index: int
    vector: np.ndarray

    def __getattr__(self, name: str) -> float:
        try:
            return float(self.vector[FIELD_INDEX[name]])
        except KeyError:
            raise AttributeError(f"Identity has no field {name!r}; fields: {', '.join(IDENTITY_FIELDS)}") from None

    def as_dict(self) -> dict[str, float]:
        return dict(zip(IDENTITY_FIELDS, self.vector.tolist()))


class SyntheticFaces:
    """A seeded generator of `num_identities` synthetic people at `size` x `size` pixels.

    Construction is O(1): identity parameters are computed on demand, vectorised over each batch.
    `render`, `batch` and `stream` return RGB uint8 images; identical (seed, identity, index) give
    identical bytes.
    """

    def __init__(self, num_identities: int, size: int = 128, seed: int = 0):
        if int(num_identities) < 1:
            raise DataError(f"num_identities must be >= 1, got {num_identities!r}")
        if not 32 <= int(size) <= 1024:
            raise DataError(f"size must be between 32 and 1024 pixels, got {size!r}")
        self.num_identities = int(num_identities)
        self.size = int(size)
        self.seed = int(seed)

    def __len__(self) -> int:
        return self.num_identities

    def __repr__(self) -> str:
        return f"SyntheticFaces(num_identities={self.num_identities}, size={self.size}, seed={self.seed})"

    # --- identities ----------------------------------------------------------------------------
    def _check_ids(self, ids) -> np.ndarray:
        ids = np.asarray(ids, dtype=np.int64).reshape(-1)
        if ids.size and (ids.min() < 0 or ids.max() >= self.num_identities):
            bad = ids[(ids < 0) | (ids >= self.num_identities)][0]
            raise DataError(f"identity {int(bad)} is out of range: this generator has identities "
                            f"0..{self.num_identities - 1}")
        return ids

    def identity_table(self, ids=None) -> np.ndarray:
        """Parameter vectors of `ids` (default: all), float64 (n, len(IDENTITY_FIELDS)), one vectorised call."""
        ids = np.arange(self.num_identities) if ids is None else self._check_ids(ids)
        return identity_table(self.seed, ids)

    def identity(self, i: int) -> Identity:
        """The parameters of identity `i`."""
        return Identity(int(i), identity_table(self.seed, self._check_ids([i]))[0])

    def split(self, held_out: int | float) -> tuple[range, range]:
        """(train, held_out) identity ranges: the last `held_out` identities (a count, or a fraction < 1)."""
        n = int(round(held_out * self.num_identities)) if isinstance(held_out, float) and held_out < 1 \
            else int(held_out)
        if not 0 <= n < self.num_identities:
            raise DataError(f"held_out={held_out!r} must leave at least one training identity out of "
                            f"{self.num_identities}")
        cut = self.num_identities - n
        return range(0, cut), range(cut, self.num_identities)

    # --- rendering -----------------------------------------------------------------------------
    def _render_many(self, identities, indices, draw: bool):
        from zoo.data.synthetic_geometry import face_geometry, truth_from_geometry
        ids = self._check_ids(identities)
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        if idx.size == 1 and ids.size > 1:
            idx = np.repeat(idx, ids.size)
        if idx.shape != ids.shape:
            raise DataError(f"identities and indices must have the same length, got {ids.size} and {idx.size}")
        if idx.size and idx.min() < 0:
            raise DataError(f"image indices must be >= 0, got {int(idx.min())}")
        if ids.size == 0:
            return []
        id_rows = identity_table(self.seed, ids)
        im_rows = image_table(self.seed, ids, idx)
        geo = face_geometry(self.size, id_rows, im_rows, full=draw)
        poses = im_rows[:, [IMAGE_FIELD_INDEX["yaw"], IMAGE_FIELD_INDEX["pitch"], IMAGE_FIELD_INDEX["roll"]]]
        out = []
        if draw:
            from zoo.data.synthetic_render import render_face
            id_dicts = [dict(zip(IDENTITY_FIELDS, row)) for row in id_rows.tolist()]
            names = [name for name, _, _ in IMAGE_FIELDS]
            im_lists = im_rows[:, :len(names)].tolist()
        for n, (i, j) in enumerate(zip(ids.tolist(), idx.tolist())):
            truth = truth_from_geometry(geo, self.size, n)
            truth.update(pose=poses[n].copy(), identity=i, index=j)
            image = render_face(self.size, id_dicts[n], dict(zip(names, im_lists[n])), im_rows[n, len(names):],
                                geo, n) if draw else None
            out.append((image, truth))
        return out

    def render(self, identity: int, index: int) -> tuple[np.ndarray, dict]:
        """Image `index` of `identity`: (RGB uint8 (size, size, 3), truth).

        truth: ``box`` float (4,) x0, y0, x1, y1 of the face oval; ``landmarks`` float (5, 2) (x, y) in
        `LANDMARK_NAMES` order; ``pose`` (yaw, pitch, roll) degrees; ``identity``; ``index``.
        """
        return self._render_many([identity], [index], draw=True)[0]

    def truth(self, identity: int, index: int) -> dict:
        """The ground truth of an image without drawing it (cheap)."""
        return self._render_many([identity], [index], draw=False)[0][1]

    def batch(self, identities: Sequence[int], indices: Sequence[int] | int) -> tuple[np.ndarray, dict]:
        """Render pairs (identities[k], indices[k]): images uint8 (B, size, size, 3) and stacked truths.

        truths: ``identity`` int64 (B,), ``index`` int64 (B,), ``box`` float32 (B, 4), ``landmarks`` float32
        (B, 5, 2), ``pose`` float32 (B, 3).
        """
        items = self._render_many(identities, indices, draw=True)
        images = np.stack([im for im, _ in items]) if items else \
            np.zeros((0, self.size, self.size, 3), np.uint8)
        return images, _stack_truths([t for _, t in items])

    def stream(self, batch_size: int, rng=None, identities: Sequence[int] | range | None = None,
               images_per_identity: int | None = None) -> Iterator[tuple[np.ndarray, np.ndarray, dict]]:
        """Endless batches (images, identity_ids, truths) of random (identity, index) pairs.

        `rng`: a numpy Generator or an int seed (it picks which images, the images themselves depend only
        on the generator's seed). `identities`: the allowed identity ids (e.g. ``split()[0]``), default all.
        `images_per_identity`: draw indices from ``range(images_per_identity)``, default from 2**31.
        """
        if int(batch_size) < 1:
            raise DataError(f"batch_size must be >= 1, got {batch_size!r}")
        rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        pool = np.arange(self.num_identities) if identities is None else self._check_ids(list(identities))
        if pool.size == 0:
            raise DataError("stream() got an empty identity list")
        top = int(images_per_identity) if images_per_identity else 2 ** 31 - 1
        while True:
            ids = pool[rng.integers(0, pool.size, int(batch_size))]
            idx = rng.integers(0, top, int(batch_size))
            images, truths = self.batch(ids, idx)
            yield images, truths["identity"], truths


def _stack_truths(truths: list[dict]) -> dict:
    return {
        "identity": np.array([t["identity"] for t in truths], np.int64),
        "index": np.array([t["index"] for t in truths], np.int64),
        "box": np.array([t["box"] for t in truths], np.float32).reshape(-1, 4),
        "landmarks": np.array([t["landmarks"] for t in truths], np.float32).reshape(-1, 5, 2),
        "pose": np.array([t["pose"] for t in truths], np.float32).reshape(-1, 3),
    }


# --- files --------------------------------------------------------------------------------------
def _encode_png(image_rgb: np.ndarray) -> bytes:
    import cv2
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(image_rgb[..., ::-1]))
    if not ok:
        raise DataError("OpenCV failed to encode a PNG")
    return buf.tobytes()


def _truth_record(rel: str, truth: dict) -> dict:
    return {"path": rel, "identity": identity_name(truth["identity"]), "identity_index": int(truth["identity"]),
            "image_index": int(truth["index"]),
            "box": [round(float(v), 2) for v in truth["box"]],
            "landmarks": [[round(float(x), 2), round(float(y), 2)] for x, y in truth["landmarks"]],
            "pose": [round(float(v), 2) for v in truth["pose"]]}


def write_corpus(root, faces: SyntheticFaces, images_per_identity: int, identities=None,
                 progress: Callable[[int], None] | None = None) -> dict:
    """Write `root/<identity>/<index>.png` and `root/landmarks.jsonl`; return a summary dict.

    Idempotent: images already on disk are kept (they are identical by construction) and only the missing
    ones are rendered; `landmarks.jsonl` and `synth.json` are rewritten atomically. A folder written with
    other settings (seed, size, generator version) is refused rather than mixed. `progress(n)` is called
    after each chunk of n images.
    """
    from zoo.io import atomic_write, write_json
    root = Path(root)
    if int(images_per_identity) < 1:
        raise DataError(f"images_per_identity must be >= 1, got {images_per_identity!r}")
    ids = np.arange(faces.num_identities) if identities is None else faces._check_ids(list(identities))
    settings = {"generator": "zoo.data.synthetic", "version": GENERATOR_VERSION, "seed": faces.seed,
                "size": faces.size}
    manifest = root / MANIFEST_FILE
    if manifest.exists():
        try:
            old = json.loads(manifest.read_text())
        except (OSError, ValueError) as exc:
            raise DataError(f"{manifest} is unreadable ({exc}); delete it or write to another folder") from None
        clash = {k: (old.get(k), v) for k, v in settings.items() if old.get(k) != v}
        if clash:
            what = ", ".join(f"{k}={a!r} (now {b!r})" for k, (a, b) in clash.items())
            raise DataError(f"{root} already holds a synthetic corpus written with {what}; "
                            f"write to another folder or delete it first")
    elif root.exists() and any(root.iterdir()):
        raise DataError(f"{root} exists and is not a synthetic corpus folder (no {MANIFEST_FILE}); "
                        f"choose an empty or new folder")
    root.mkdir(parents=True, exist_ok=True)
    write_json(manifest, {**settings, "status": "incomplete"})
    records, written = [], 0
    pairs = [(i, j) for i in ids.tolist() for j in range(int(images_per_identity))]
    for start in range(0, len(pairs), 64):
        chunk = pairs[start:start + 64]
        paths = [root / identity_name(i) / f"{j:05d}.png" for i, j in chunk]
        done = [p.exists() and p.stat().st_size > 0 for p in paths]
        todo = [n for n, d in enumerate(done) if not d]
        have = [n for n, d in enumerate(done) if d]
        results: dict[int, tuple] = {}
        if todo:
            rendered = faces._render_many([chunk[n][0] for n in todo], [chunk[n][1] for n in todo], draw=True)
            results.update(zip(todo, rendered))
        if have:
            truths = faces._render_many([chunk[n][0] for n in have], [chunk[n][1] for n in have], draw=False)
            results.update(zip(have, truths))
        for n, ((i, j), path) in enumerate(zip(chunk, paths)):
            image, truth = results[n]
            if image is not None:
                data = _encode_png(image)
                with atomic_write(path, "wb") as f:
                    f.write(data)
                written += 1
            records.append(_truth_record(f"{identity_name(i)}/{j:05d}.png", truth))
        if progress is not None:
            progress(len(chunk))
    with atomic_write(root / LANDMARKS_FILE, "w") as f:
        for rec in records:
            f.write(json.dumps(rec) + "\n")
    summary = {**settings, "status": "complete", "identities": int(ids.size),
               "images_per_identity": int(images_per_identity), "images": len(records),
               "landmark_names": list(LANDMARK_NAMES), "box": "face oval x0, y0, x1, y1"}
    write_json(manifest, summary)
    return {**summary, "written": written, "root": str(root)}


def preview_grid(identities: int = 8, images: int = 6, size: int = 128, seed: int = 0,
                 landmarks: bool = False, first_identity: int = 0) -> np.ndarray:
    """An RGB grid: one row per identity (`first_identity` onwards), `images` renders of it across the row.

    `landmarks=True` marks the ground-truth landmarks (green) and box (yellow).
    """
    import cv2
    faces = SyntheticFaces(first_identity + identities, size=size, seed=seed)
    ids = np.repeat(np.arange(first_identity, first_identity + identities), images)
    ims, truths = faces.batch(ids, np.tile(np.arange(images), identities))
    if landmarks:
        r = max(1, size // 64)
        for im, pts, box in zip(ims, truths["landmarks"], truths["box"]):
            x0, y0, x1, y1 = (int(round(v)) for v in box)
            cv2.rectangle(im, (x0, y0), (x1 - 1, y1 - 1), (255, 220, 0), 1)
            for x, y in pts:
                cv2.circle(im, (int(round(x)), int(round(y))), r, (0, 255, 0), -1, cv2.LINE_AA)
    return ims.reshape(identities, images, size, size, 3).transpose(0, 2, 1, 3, 4).reshape(
        identities * size, images * size, 3)


def write_preview_grid(path, identities: int = 8, images: int = 6, size: int = 128, seed: int = 0,
                       landmarks: bool = False, first_identity: int = 0) -> Path:
    """Write `preview_grid(...)` (rows: identities, columns: images of each) as a PNG; return its path."""
    from zoo.io import atomic_write
    grid = preview_grid(identities, images, size, seed, landmarks, first_identity)
    path = Path(path)
    with atomic_write(path, "wb") as f:
        f.write(_encode_png(grid))
    return path
