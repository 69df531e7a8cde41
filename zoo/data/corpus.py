"""Pretraining corpora: many identities, read the same way whatever the layout on disk.

`open_corpus(spec)` turns a corpus spec into a `Corpus`: a sorted list of identities, their image
counts, a way to read aligned faces, and `sampler(...)`, a deterministic batch sampler that never
draws a held-out identity.

Specs:
    synthetic:N[:seed=S]        the procedural generator with N identities, streamed, never written;
                                aligned with its ground-truth landmarks.
    folder:ROOT  (or ROOT)      an identity-folder tree, ROOT/<identity>/*.jpg|png (VGGFace2, CASIA).
    celeba:ROOT  (or ROOT)      CelebA: ROOT/img_align_celeba/*.jpg + ROOT/identity_CelebA.txt
                                ("000001.jpg 2880" a line).
    flat:ROOT    (or ROOT)      a flat folder of faces with no identities (FFHQ): identity "all".
    lfw:ROOT[:split=S][:people=N]  Labeled Faces in the Wild by its View 1 people files
                                (`zoo.data.lfw`); DevTest people are the evaluation identities.
    tar:PATTERN  (or *.tar)     WebDataset shards: KEY.jpg|png + KEY.cls (an integer or a name) or
                                KEY.json ({"identity": ..} / {"label": ..} / {"cls": ..}); PATTERN is
                                a file, `shard-{000000..000009}.tar` or a folder of .tar files. Read
                                with `tarfile`, streaming, one member at a time.

Identities are sorted by id (numerically when every id is an integer, else by name); `--holdout K`
holds out the last K. Corpora that are not aligned to facezoo's template go through the same
alignment as `facezoo extract` once (`ensure_aligned`), cached in a folder.

No TensorFlow here: numpy and OpenCV only.

Examples:
    >>> corpus = open_corpus("synthetic:1000")
    >>> sampler = corpus.sampler(batch_size=16, size=64, holdout=50, seed=0)
    >>> x, ids, y = sampler.batch(0)       # warped faces, identity indices, targets + masks
"""
from __future__ import annotations

import glob
import json
import logging
import os
import re
import tarfile
from pathlib import Path

import numpy as np

from zoo.data.images import IMAGE_EXTENSIONS, SkipReason, decode_image, list_images, read_image
from zoo.errors import DataError

log = logging.getLogger(__name__)

__all__ = ["Corpus", "SyntheticCorpus", "FolderCorpus", "CelebACorpus", "FlatCorpus", "TarCorpus", "LFWCorpus",
           "BatchSampler", "HeldOutIdentityError", "open_corpus", "ensure_aligned", "expand_braces",
           "template_mask", "aligned_landmarks"]

SPEC_FORMS = ("synthetic:N[:seed=S]", "folder:ROOT", "celeba:ROOT", "flat:ROOT", "tar:PATTERN",
              "lfw:ROOT[:split=devtrain|devtest|all][:people=N]", "ROOT")
CELEBA_IDENTITIES = "identity_CelebA.txt"
CELEBA_IMAGES = "img_align_celeba"
FLAT_IDENTITY = "all"
ALIGNED_MARKER = "aligned.json"


class HeldOutIdentityError(DataError, AssertionError):
    """A held-out identity reached the training stream (a bug; never silently tolerated)."""


# --- geometry shared by every corpus ---------------------------------------------------------------

def aligned_landmarks(size: int) -> np.ndarray:
    """facezoo's template landmarks in pixels of a `size` crop (any size, unlike `align.template_landmarks`)."""
    from zoo.data.align import template_landmarks
    return template_landmarks(None) * float(size)


_MASKS: dict[int, np.ndarray] = {}


def template_mask(size: int) -> np.ndarray:
    """The face mask of an aligned crop (the same for every aligned face), float32 (size, size)."""
    if size not in _MASKS:
        from zoo.data.masks import landmark_mask
        _MASKS[size] = landmark_mask(aligned_landmarks(size), size)
    return _MASKS[size]


def _to_square(rgb: np.ndarray, size: int) -> np.ndarray:
    """An already-aligned face of any shape -> (size, size, 3): centre-cropped square, area-resized."""
    import cv2

    h, w = rgb.shape[:2]
    if h != w:
        s = min(h, w)
        y0, x0 = (h - s) // 2, (w - s) // 2
        rgb = rgb[y0:y0 + s, x0:x0 + s]
    if rgb.shape[0] != size:
        interp = cv2.INTER_AREA if rgb.shape[0] > size else cv2.INTER_LINEAR
        rgb = cv2.resize(rgb, (size, size), interpolation=interp)
    return np.ascontiguousarray(rgb)


def _sort_ids(names) -> list[str]:
    names = list(dict.fromkeys(str(n) for n in names))
    if names and all(re.fullmatch(r"-?\d+", n) for n in names):
        return sorted(names, key=int)
    return sorted(names)


# --- the corpus interface ---------------------------------------------------------------------------

class Corpus:
    """Identities and their aligned faces.

    Attributes:
        identities: identity ids, sorted (see the module doc); an identity's index is its position.
        aligned: True when faces are aligned to facezoo's template (or can be, like synthetic).
        kind: "synthetic", "folder", "celeba", "flat" or "tar".
    """

    kind = "corpus"
    aligned = True
    streaming = False

    def __init__(self, identities, spec: str):
        self.identities = list(identities)
        self.spec = spec
        if not self.identities:
            raise DataError(f"corpus {spec!r} has no identities (no images found). Accepted specs: "
                            f"{', '.join(SPEC_FORMS)}.")

    def __len__(self) -> int:
        return len(self.identities)

    @property
    def num_identities(self) -> int:
        return len(self.identities)

    def image_count(self) -> int | None:
        return None

    def resolution(self) -> int | None:
        return None

    def summary(self) -> dict:
        """Facts for a release's `facezoo.json`: kind, identity and image counts, resolution."""
        return {"name": self.name, "kind": self.kind, "spec": self.spec, "identities": self.num_identities,
                "images": self.image_count(), "resolution": self.resolution(), "aligned": self.aligned}

    @property
    def name(self) -> str:
        return f"{self.kind}:{Path(str(self.spec).split(':', 1)[-1]).name or self.spec}"

    def split(self, holdout: int) -> tuple[np.ndarray, np.ndarray]:
        """(training identity indices, held-out indices): the last `holdout` identities are held out."""
        n, k = self.num_identities, int(holdout or 0)
        if k < 0 or k >= n:
            raise DataError(f"--holdout {k} must leave at least one training identity: corpus {self.spec!r} "
                            f"has {n} identities.")
        return np.arange(0, n - k, dtype=np.int64), np.arange(n - k, n, dtype=np.int64)

    def faces(self, identity: int, count: int, size: int) -> np.ndarray:
        """The first `count` aligned faces of identity index `identity`, uint8 (n <= count, size, size, 3)."""
        raise NotImplementedError

    def draw(self, ids: np.ndarray, rng: np.random.Generator, size: int) -> np.ndarray:
        """One random aligned face of each identity index in `ids`: uint8 (B, size, size, 3)."""
        raise NotImplementedError

    def sampler(self, batch_size: int, size: int, *, holdout: int = 0, seed: int = 0, augment: bool = True,
                train_ids=None) -> "BatchSampler":
        train, held = self.split(holdout)
        if train_ids is not None:
            train = np.asarray(train_ids, np.int64)
        return BatchSampler(self, train, held, batch_size, size, seed=seed, augment=augment)


class SyntheticCorpus(Corpus):
    """`synthetic:N`: the procedural generator, streamed, aligned with its ground-truth landmarks."""

    kind = "synthetic"

    def __init__(self, num_identities: int, seed: int = 0, spec: str | None = None):
        from zoo.data.synthetic import identity_name
        self.num = int(num_identities)
        self.seed = int(seed)
        self._gens = {}
        self._names = identity_name
        super().__init__(_LazyNames(self.num, identity_name), spec or f"synthetic:{self.num}")

    @property
    def name(self) -> str:
        return f"facezoo-synthetic-{self.num}"

    def _gen(self, size: int):
        render = max(64, int(size))
        if render not in self._gens:
            from zoo.data.synthetic import SyntheticFaces
            self._gens[render] = SyntheticFaces(self.num, size=render, seed=self.seed)
        return self._gens[render]

    def _render_aligned(self, ids, indices, size: int) -> np.ndarray:
        import cv2

        from zoo.data.align import estimate_similarity
        images, truths = self._gen(size).batch(np.asarray(ids), np.asarray(indices))
        dst = aligned_landmarks(size)
        out = np.empty((len(images), size, size, 3), np.uint8)
        for k, (image, pts) in enumerate(zip(images, truths["landmarks"])):
            matrix = estimate_similarity(pts, dst)
            out[k] = cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_AREA,
                                    borderMode=cv2.BORDER_REFLECT_101)
        return out

    def faces(self, identity, count, size):
        return self._render_aligned(np.full(count, identity), np.arange(count), size)

    def draw(self, ids, rng, size):
        # Training images come from indices >= 1024; evaluation uses 0..1023 (`faces`).
        return self._render_aligned(ids, rng.integers(1024, 2 ** 31 - 1, len(ids)), size)

    def image_count(self):
        return None  # unbounded

    def resolution(self):
        return None

    def summary(self):
        return {**super().summary(), "images": "unbounded (rendered on the fly)", "seed": self.seed}


class _LazyNames:
    """A read-only list of `fn(i)` for i < n, without building n strings up front."""

    def __init__(self, n, fn):
        self.n, self.fn = n, fn

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self.fn(j) for j in range(*i.indices(self.n))]
        if i < 0:
            i += self.n
        if not 0 <= i < self.n:
            raise IndexError(i)
        return self.fn(i)

    def __iter__(self):
        return (self.fn(i) for i in range(self.n))


class _FileCorpus(Corpus):
    """A corpus of image files with known identities: `files[identity index]` is a list of paths."""

    def __init__(self, files: dict[str, list[Path]], spec: str, aligned: bool, cache_items: int = 20000,
                 order: list[str] | None = None):
        order = _sort_ids(files) if order is None else list(order)
        self.files = [sorted(files[name]) for name in order]
        self.aligned = bool(aligned)
        self._cache: dict[tuple[str, int], np.ndarray] = {}
        self._cache_items = int(cache_items)
        self.skipped: dict[str, str] = {}
        self._resolution = None
        super().__init__(order, spec)

    def image_count(self):
        return int(sum(len(f) for f in self.files))

    def resolution(self):
        if self._resolution is None:
            for paths in self.files:
                for p in paths[:1]:
                    try:
                        h, w = read_image(p).shape[:2]
                        self._resolution = [int(w), int(h)] if w != h else int(w)
                    except SkipReason:
                        continue
                    return self._resolution
        return self._resolution

    def _read(self, path: Path, size: int) -> np.ndarray | None:
        key = (str(path), size)
        face = self._cache.get(key)
        if face is None:
            try:
                face = _to_square(read_image(path), size)
            except SkipReason as exc:
                if str(path) not in self.skipped:
                    self.skipped[str(path)] = exc.reason
                    log.warning("skipping %s: %s", path, exc)
                return None
            if len(self._cache) < self._cache_items:
                self._cache[key] = face
        return face

    def faces(self, identity, count, size):
        out = []
        for path in self.files[identity]:
            if len(out) >= count:
                break
            face = self._read(path, size)
            if face is not None:
                out.append(face)
        return np.stack(out) if out else np.zeros((0, size, size, 3), np.uint8)

    def draw(self, ids, rng, size):
        out = np.empty((len(ids), size, size, 3), np.uint8)
        for k, i in enumerate(np.asarray(ids).tolist()):
            paths = self.files[i]
            for _ in range(8):
                face = self._read(paths[int(rng.integers(len(paths)))], size) if paths else None
                if face is not None:
                    break
            else:
                raise DataError(f"identity {self.identities[i]!r} of {self.spec!r}: no readable image "
                                f"({len(paths)} files, e.g. {paths[:1]}).")
            out[k] = face
        return out

    def source_paths(self) -> dict[str, list[Path]]:
        return dict(zip(self.identities, self.files))

    def with_files(self, files: dict[str, list[Path]], *, aligned: bool = True) -> "_FileCorpus":
        """This corpus over other files (its aligned crops): same identity order, empty identities dropped."""
        import copy

        out = copy.copy(self)
        keep = [name for name in self.identities if files.get(name)]
        out.identities = keep
        out.files = [sorted(files[name]) for name in keep]
        out.aligned = bool(aligned)
        out._cache, out.skipped, out._resolution = {}, {}, None
        if not keep:
            raise DataError(f"corpus {self.spec!r}: no identity has an aligned face.")
        return out


class FolderCorpus(_FileCorpus):
    """`ROOT/<identity>/*.jpg|png` (VGGFace2 / CASIA-WebFace layout)."""

    kind = "folder"

    def __init__(self, root, spec: str | None = None, aligned: bool = False):
        root = Path(root)
        files = {}
        for sub in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
            imgs = list_images(sub, recursive=True)
            if imgs:
                files[sub.name] = imgs
        super().__init__(files, spec or f"folder:{root}", aligned)


class CelebACorpus(_FileCorpus):
    """CelebA: `ROOT/img_align_celeba/*.jpg` with identities from `ROOT/identity_CelebA.txt`."""

    kind = "celeba"

    def __init__(self, root, spec: str | None = None, aligned: bool = False):
        root = Path(root)
        table = root / CELEBA_IDENTITIES
        images = root / CELEBA_IMAGES
        if not table.exists():
            raise DataError(f"CelebA corpus {root}: {CELEBA_IDENTITIES} is missing (lines '000001.jpg 2880').")
        if not images.is_dir():
            images = root
        files: dict[str, list[Path]] = {}
        missing = 0
        for n, line in enumerate(table.read_text().splitlines(), 1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) != 2:
                raise DataError(f"{table}: line {n} is {line!r}; expected 'IMAGE IDENTITY', e.g. '000001.jpg 2880'.")
            path = images / parts[0]
            if not path.exists():
                missing += 1
                continue
            files.setdefault(parts[1], []).append(path)
        if missing:
            log.warning("%s: %d listed images are missing from %s", table, missing, images)
        super().__init__(files, spec or f"celeba:{root}", aligned)


class FlatCorpus(_FileCorpus):
    """A flat folder of faces with no identities (FFHQ): one identity, "all"."""

    kind = "flat"

    def __init__(self, root, spec: str | None = None, aligned: bool = False):
        root = Path(root)
        super().__init__({FLAT_IDENTITY: list_images(root, recursive=True)}, spec or f"flat:{root}", aligned)


class LFWCorpus(_FileCorpus):
    """Labeled Faces in the Wild by its View 1 people files (see `zoo.data.lfw`).

    With split=devtrain the DevTest people follow the DevTrain people as evaluation identities, and
    `split(K)` holds out the K most photographed of them, never a DevTrain person.
    """

    kind = "lfw"

    def __init__(self, root, split: str = "devtrain", people: int | None = None, spec: str | None = None):
        from zoo.data.lfw import find_images_dir, split_people

        self.root = Path(root)
        self.images_dir = find_images_dir(self.root)
        self.lfw_split, self.people = split, people
        train, evaluation = split_people(self.root, self.images_dir, split, people)
        files = {}
        for name in train + evaluation:
            imgs = sorted((self.images_dir / name).glob("*.jpg")) if (self.images_dir / name).is_dir() else []
            if imgs:
                files[name] = imgs
        missing = [n for n in train + evaluation if n not in files]
        if missing:
            log.warning("LFW %s: %d people of the %s list have no images (e.g. %s)", self.images_dir,
                        len(missing), split, missing[0])
        self.evaluation_people = [n for n in evaluation if n in files]
        order = [n for n in train if n in files] + self.evaluation_people
        super().__init__(files, spec or f"lfw:{root}:split={split}", aligned=False, order=order)

    @property
    def name(self) -> str:
        return f"lfw-{self.lfw_split}" + (f"-{self.people}" if self.people else "")

    def split(self, holdout: int):
        held_names = set(self.evaluation_people)
        if not held_names:
            return super().split(holdout)
        idx = np.arange(self.num_identities, dtype=np.int64)
        is_eval = np.array([n in held_names for n in self.identities])
        k = int(holdout or 0)
        if k < 0 or k > int(is_eval.sum()):
            raise DataError(f"--holdout {k}: {self.spec!r} has {int(is_eval.sum())} evaluation (DevTest) people.")
        return idx[~is_eval], idx[is_eval][:k]

    def summary(self):
        train = self.num_identities - len(self.evaluation_people)
        return {**super().summary(), "split": self.lfw_split, "train_identities": train,
                "evaluation_identities": len(self.evaluation_people),
                "train_images": int(sum(len(f) for f in self.files[:train]))}


# --- WebDataset tar shards ---------------------------------------------------------------------------

def expand_braces(pattern: str) -> list[str]:
    """`shard-{000000..000003}.tar` -> the four names (zero padding kept); several ranges multiply."""
    m = re.search(r"\{(\d+)\.\.(\d+)\}", pattern)
    if not m:
        return [pattern]
    a, b = m.group(1), m.group(2)
    width = len(a) if a.startswith("0") else 0
    out = []
    for i in range(int(a), int(b) + 1):
        out.extend(expand_braces(pattern[:m.start()] + str(i).zfill(width) + pattern[m.end():]))
    return out


def _split_member(name: str) -> tuple[str, str]:
    """WebDataset key/extension: everything up to the first dot of the base name is the key."""
    base = name.rsplit("/", 1)
    folder, leaf = (base[0] + "/", base[1]) if len(base) == 2 else ("", base[0])
    key, _, ext = leaf.partition(".")
    return folder + key, ext.lower()


def _label(ext: str, data: bytes, where: str) -> str:
    text = data.decode("utf-8", errors="replace").strip()
    if ext == "json":
        try:
            obj = json.loads(text)
        except ValueError:
            raise DataError(f"{where}: not JSON") from None
        for key in ("identity", "label", "cls", "id"):
            if isinstance(obj, dict) and key in obj:
                return str(obj[key])
        raise DataError(f"{where}: JSON has no 'identity' (or 'label'/'cls'/'id') key")
    return text


def _iter_samples(path: str, *, labels_only: bool = False):
    """Stream (key, identity, image bytes or None, image ext) of one shard, member by member.

    A sample's members are adjacent in a WebDataset shard; a sample is yielded when its key changes.
    """
    image_exts = {e.lstrip(".") for e in IMAGE_EXTENSIONS}
    mode = "r:*" if labels_only else "r|*"   # seekable headers-only scan vs pure streaming
    try:
        tar = tarfile.open(path, mode)
    except (OSError, tarfile.TarError) as exc:
        raise DataError(f"tar shard {path}: cannot open ({exc}).") from None
    current, label, image, image_ext = None, None, None, None
    with tar:
        try:
            for member in tar:
                if not member.isfile():
                    continue
                key, ext = _split_member(member.name)
                if key != current:
                    if current is not None and label is not None and (image is not None or image_ext):
                        yield current, label, image, image_ext
                    current, label, image, image_ext = key, None, None, None
                if ext in ("cls", "json", "txt") or ext.endswith(".cls"):
                    label = _label(ext, tar.extractfile(member).read(), f"{path}:{member.name}")
                elif ext.rsplit(".", 1)[-1] in image_exts:
                    image_ext = ext
                    if not labels_only:
                        image = tar.extractfile(member).read()
        except tarfile.TarError as exc:
            log.warning("tar shard %s: stopped early (%s)", path, exc)
        if current is not None and label is not None and (image is not None or image_ext):
            yield current, label, image, image_ext


class TarCorpus(Corpus):
    """WebDataset-style `.tar` shards, streamed; identities from `KEY.cls` or `KEY.json`.

    Opening scans the shards' headers and label members once (image bytes are seeked over, not read)
    to list identities and count images. Training streams shards in a seeded order through a shuffle
    buffer; held-out identities are filtered out before the buffer.
    """

    kind = "tar"
    streaming = True

    def __init__(self, shards, spec: str | None = None, aligned: bool = False):
        self.shards = [str(s) for s in shards]
        if not self.shards:
            raise DataError(f"tar corpus {spec!r}: no .tar shards found. Use tar:/path/shard-{{000000..000009}}.tar "
                            "or a folder of .tar files.")
        for s in self.shards:
            if not os.path.isfile(s):
                raise DataError(f"tar corpus {spec!r}: shard {s} does not exist.")
        self.aligned = bool(aligned)
        counts: dict[str, int] = {}
        for shard in self.shards:
            for _, label, _, _ in _iter_samples(shard, labels_only=True):
                counts[label] = counts.get(label, 0) + 1
        self.counts = counts
        order = _sort_ids(counts)
        self._index = {name: i for i, name in enumerate(order)}
        self.skipped: dict[str, str] = {}
        self._streams: dict = {}
        super().__init__(order, spec or f"tar:{self.shards[0]}")

    def image_count(self):
        return int(sum(self.counts.values()))

    def iter_faces(self, size: int, *, allowed=None, shard_order=None):
        """Stream (identity index, aligned face uint8) over the shards, skipping unreadable images."""
        allowed = None if allowed is None else set(int(i) for i in allowed)
        for s in (range(len(self.shards)) if shard_order is None else shard_order):
            shard = self.shards[s]
            for key, label, data, _ in _iter_samples(shard):
                idx = self._index.get(label)
                if idx is None or (allowed is not None and idx not in allowed):
                    continue
                try:
                    face = _to_square(decode_image(data, f"{shard}:{key}"), size)
                except SkipReason as exc:
                    self.skipped[f"{shard}:{key}"] = exc.reason
                    continue
                yield idx, face

    def iter_raw(self):
        """(identity name, key, image bytes, ext) of every sample, for alignment."""
        for shard in self.shards:
            for key, label, data, ext in _iter_samples(shard):
                yield label, key, data, ext

    def faces(self, identity, count, size):
        out = []
        for idx, face in self.iter_faces(size, allowed=[identity]):
            out.append(face)
            if len(out) >= count:
                break
        return np.stack(out) if out else np.zeros((0, size, size, 3), np.uint8)

    def faces_of(self, identities, count: int, size: int) -> dict[int, np.ndarray]:
        """Up to `count` faces of each identity index, in one streaming pass."""
        want = {int(i): [] for i in identities}
        for idx, face in self.iter_faces(size, allowed=list(want)):
            if len(want[idx]) < count:
                want[idx].append(face)
            if all(len(v) >= count for v in want.values()):
                break
        return {i: (np.stack(v) if v else np.zeros((0, size, size, 3), np.uint8)) for i, v in want.items()}

    def resolution(self):
        for key, _, data, _ in _iter_samples(self.shards[0]):
            try:
                h, w = decode_image(data, key).shape[:2]
            except SkipReason:
                continue
            return int(w) if w == h else [int(w), int(h)]
        return None

    def stream_batches(self, batch_size: int, size: int, allowed, seed: int, start_step: int = 0,
                       buffer: int = 1000):
        """Endless (ids, faces) batches: shards in a seeded order per epoch, through a shuffle buffer.

        The stream is a pure function of `seed`; `start_step` skips that many batches (resume).
        """
        rng = np.random.default_rng([int(seed), 7])
        pool_ids: list[int] = []
        pool_faces: list[np.ndarray] = []
        step = 0
        epoch = 0
        while True:
            order = np.random.default_rng([int(seed), epoch]).permutation(len(self.shards))
            got = False
            for idx, face in self.iter_faces(size, allowed=allowed, shard_order=order):
                got = True
                if len(pool_ids) < buffer:
                    pool_ids.append(idx)
                    pool_faces.append(face)
                    if len(pool_ids) < min(buffer, batch_size * 4):
                        continue
                else:
                    j = int(rng.integers(len(pool_ids)))
                    pool_ids[j], pool_faces[j] = idx, face
                pick = rng.integers(0, len(pool_ids), batch_size)
                if step >= start_step:
                    yield (np.array([pool_ids[p] for p in pick], np.int64),
                           np.stack([pool_faces[p] for p in pick]))
                step += 1
            if not got:
                raise DataError(f"tar corpus {self.spec!r}: no readable training images.")
            epoch += 1

    def sampler(self, batch_size, size, *, holdout=0, seed=0, augment=True, train_ids=None):
        train, held = self.split(holdout)
        if train_ids is not None:
            train = np.asarray(train_ids, np.int64)
        return StreamSampler(self, train, held, batch_size, size, seed=seed, augment=augment)


# --- samplers -----------------------------------------------------------------------------------------

class BatchSampler:
    """Deterministic training batches: batch `step` is a pure function of (seed, step).

    Each batch draws `batch_size` identities uniformly from the training identities (so every identity
    is seen equally, whatever its image count) and one random face of each, augmented into a
    (warped input, target, mask) triple. Held-out identities are checked out of every batch.

    `batch(step)` -> (x float32 (B, S, S, 3), ids int32 (B,), y float32 (B, S, S, 4): RGB target + mask).
    """

    def __init__(self, corpus: Corpus, train_ids, held_ids, batch_size: int, size: int, *, seed: int = 0,
                 augment: bool = True):
        self.corpus = corpus
        self.train_ids = np.asarray(train_ids, np.int64)
        self.held_ids = np.asarray(held_ids, np.int64)
        if np.intersect1d(self.train_ids, self.held_ids).size:
            raise HeldOutIdentityError("training and held-out identities overlap: "
                                       f"{np.intersect1d(self.train_ids, self.held_ids)[:5].tolist()}")
        if self.train_ids.size == 0:
            raise DataError(f"corpus {corpus.spec!r}: no training identities left.")
        self.batch_size = int(batch_size)
        self.size = int(size)
        self.seed = int(seed)
        self.augment = bool(augment)
        self.drawn = 0
        if self.batch_size < 1:
            raise DataError(f"batch size must be >= 1. Received: {batch_size}")

    def check(self, ids) -> None:
        """Raise `HeldOutIdentityError` if any of `ids` is held out."""
        ids = np.asarray(ids)
        if self.held_ids.size and np.isin(ids, self.held_ids).any():
            bad = ids[np.isin(ids, self.held_ids)][:5].tolist()
            raise HeldOutIdentityError(f"held-out identities {bad} reached the training stream")

    def _faces(self, step: int, rng):
        ids = self.train_ids[rng.integers(0, self.train_ids.size, self.batch_size)]
        return ids, self.corpus.draw(ids, rng, self.size)

    def batch(self, step: int):
        rng = np.random.default_rng([self.seed, int(step)])
        ids, faces = self._faces(int(step), rng)
        self.check(ids)
        self.drawn += len(ids)
        x, y = augment_faces(faces, rng, self.size, self.augment)
        return x, ids.astype(np.int32), y

    def describe(self) -> dict:
        return {"train_identities": int(self.train_ids.size), "held_out_identities": int(self.held_ids.size),
                "batch_size": self.batch_size, "size": self.size, "seed": self.seed}


class StreamSampler(BatchSampler):
    """The sampler of streaming (tar) corpora: batches must be asked for in order (a resume skips)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._stream = None
        self._next = None

    def _faces(self, step, rng):
        if self._stream is None or step != self._next:
            self._stream = self.corpus.stream_batches(self.batch_size, self.size, self.train_ids, self.seed,
                                                      start_step=step)
        ids, faces = next(self._stream)
        self._next = step + 1
        return ids, faces


def augment_faces(faces: np.ndarray, rng: np.random.Generator, size: int, augment: bool = True):
    """Aligned uint8 faces (B, S, S, 3) -> (warped x (B, S, S, 3), y = target + mask (B, S, S, 4)), float32."""
    from zoo.data.augment import augment_pair

    mask = template_mask(size)
    n = len(faces)
    x = np.empty((n, size, size, 3), np.float32)
    y = np.empty((n, size, size, 4), np.float32)
    for k in range(n):
        if augment:
            warped, target, tmask = augment_pair(faces[k], mask, rng, size)
        else:
            warped = target = faces[k].astype(np.float32) / 255.0
            tmask = mask[..., None]
        x[k] = warped
        y[k, ..., :3] = target
        y[k, ..., 3:] = tmask
    return x, y


# --- opening and alignment -----------------------------------------------------------------------------

def _is_tar_target(path: str) -> bool:
    if path.endswith(".tar") or "{" in path:
        return True
    p = Path(path)
    return p.is_dir() and any(p.glob("*.tar")) and not any(x.is_dir() for x in p.iterdir())


def _tar_shards(pattern: str) -> list[str]:
    p = Path(pattern)
    if p.is_dir():
        return sorted(str(s) for s in p.glob("*.tar"))
    out = []
    for name in expand_braces(pattern):
        out.extend(sorted(glob.glob(name)) if any(c in name for c in "*?[") else [name])
    return out


def open_corpus(spec: str, *, aligned: bool | None = None) -> Corpus:
    """Open a corpus from its spec (see the module doc). `aligned`: the faces are already aligned."""
    spec = str(spec)
    kind, sep, rest = spec.partition(":")
    if not sep or len(kind) == 1 or kind not in ("synthetic", "folder", "celeba", "flat", "tar", "lfw"):
        kind, rest = "", spec  # a plain path (or a Windows drive letter)
    flag = bool(aligned)
    if kind == "synthetic":
        m = re.fullmatch(r"(\d+)(?::seed=(\d+))?", rest)
        if not m or int(m.group(1)) < 1:
            raise DataError(f"corpus spec {spec!r}: expected synthetic:N or synthetic:N:seed=S with N >= 1.")
        return SyntheticCorpus(int(m.group(1)), int(m.group(2) or 0), spec=spec)
    if kind == "lfw":
        from zoo.data.lfw import parse_lfw_spec
        root, split, people = parse_lfw_spec(rest)
        return LFWCorpus(root, split, people, spec=spec)
    if kind == "tar" or (not kind and _is_tar_target(rest)):
        return TarCorpus(_tar_shards(rest), spec=spec, aligned=flag)
    root = Path(rest).expanduser()
    if not root.exists():
        raise DataError(f"corpus {spec!r}: {root} does not exist. Accepted specs: {', '.join(SPEC_FORMS)}.")
    if kind == "celeba" or (not kind and (root / CELEBA_IDENTITIES).exists()):
        return CelebACorpus(root, spec=spec, aligned=flag)
    if kind == "flat":
        return FlatCorpus(root, spec=spec, aligned=flag)
    if kind == "folder":
        return FolderCorpus(root, spec=spec, aligned=flag)
    subdirs = [p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")]
    if any(list_images(p, recursive=True) for p in subdirs[:50]):
        return FolderCorpus(root, spec=spec, aligned=flag)
    return FlatCorpus(root, spec=spec, aligned=flag)


def ensure_aligned(corpus: Corpus, cache_dir=None, size: int = 128, *, detector=None, progress=None) -> Corpus:
    """The corpus aligned to facezoo's template: itself when aligned, else its photos' crops.

    Every photo goes once through `zoo.data.extract.extract` (MTCNN and the 5-point alignment) into one
    cache folder, keyed by the photo's path and sha256, so corpora and runs over the same photos share it
    and an interrupted alignment resumes (`align_sources`). Each photo gives one face: for LFW the one
    nearest the image centre, else the largest. `cache_dir` defaults to `default_aligned_cache(...)` of the corpus' root.
    """
    if corpus.aligned:
        return corpus
    if cache_dir is None:
        root = getattr(corpus, "root", None) or corpus.spec.split(":", 1)[-1]
        cache_dir = default_aligned_cache(corpus.kind, root, size)
    cache = Path(cache_dir)
    select = "centre" if corpus.kind == "lfw" else "largest"
    if isinstance(corpus, TarCorpus):
        raw = cache / ".raw"
        sources: dict[str, list[Path]] = {}
        for label, key, data, ext in corpus.iter_raw():
            path = raw / _safe(label) / (_safe(key) + "." + ext.rsplit(".", 1)[-1])
            if not path.exists():
                from zoo.io import atomic_write
                path.parent.mkdir(parents=True, exist_ok=True)
                with atomic_write(path, "wb") as f:
                    f.write(data)
            sources.setdefault(label, []).append(path)
    else:
        sources = corpus.source_paths()
    crops = align_sources([p for paths in sources.values() for p in paths], cache, size, select=select,
                          detector=detector, progress=progress)
    files = {name: [c for p in paths for c in crops.get(Path(p).resolve(), [])] for name, paths in sources.items()}
    if isinstance(corpus, _FileCorpus):
        return corpus.with_files(files)
    result = _FileCorpus({k: v for k, v in files.items() if v}, corpus.spec, aligned=True)
    result.kind = corpus.kind
    return result


def default_aligned_cache(kind: str, root, size: int = 128) -> Path:
    """`$FACEZOO_HOME/aligned/<kind>-<hash of the photos' root>-<crop px>`: one cache per photo set."""
    import hashlib

    from hub.base import facezoo_home
    from zoo.data.align import check_size

    crop = check_size(max(128, int(size)))
    key = hashlib.sha256(str(Path(root).expanduser().resolve()).encode()).hexdigest()[:12]
    return facezoo_home() / "aligned" / f"{kind}-{key}-{crop}"


def align_sources(paths, cache_dir, size: int = 128, *, select: str = "largest", detector=None,
                  progress=None) -> dict[Path, list[Path]]:
    """Align photos into `cache_dir` once: {resolved photo path: its face crops ([] when none was found)}.

    Photos already in the cache's alignments file are not read again; when all are, MTCNN never starts.
    Prints the share of photos with a face and the speed when it had to extract.
    """
    from zoo.data.align import check_size
    from zoo.data.extract import extract, face_records, read_alignments
    from zoo.io import write_json

    cache = Path(cache_dir)
    crop = check_size(max(64, int(size)))
    marker = cache / ALIGNED_MARKER
    if marker.exists():
        made = json.loads(marker.read_text()).get("size")
        if made and int(made) != crop:
            log.debug("aligned cache %s holds %s px crops; %s px asked: reusing them (resized)", cache, made, crop)
            crop = int(made)
    wanted = [Path(p).resolve() for p in paths]
    done = {Path(r["source"]) for r in read_alignments(cache) if r.get("type") == "done"}
    todo = [p for p in wanted if p not in done]
    if todo:
        cache.mkdir(parents=True, exist_ok=True)
        report = extract([str(p) for p in todo], cache, size=crop, select=select, detector=detector,
                         progress=progress)
        print(f"aligned {len(todo)} photos into {cache}: {report.summary()}", flush=True)
    faces: dict[Path, list[Path]] = {p: [] for p in wanted}
    for r in face_records(read_alignments(cache)):
        src = Path(r["source"])
        if src in faces:
            faces[src].append(cache / r["crop"])
    found = sum(1 for v in faces.values() if v)
    if todo:
        share = found / max(1, len(wanted))
        print(f"faces found in {found} of {len(wanted)} photos ({100 * share:.2f}%)", flush=True)
        write_json(marker, {"size": crop, "select": select, "photos": len(done | set(wanted)),
                            "last_found_share": round(share, 5)})
    return faces


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", str(name)) or "_"
