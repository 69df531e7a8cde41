"""Corpora of image files on disk: identity folders, CelebA, a flat folder, LFW.

    folder:ROOT   ROOT/<identity>/*.jpg|png (VGGFace2, CASIA-WebFace).
    celeba:ROOT   ROOT/img_align_celeba/*.jpg + ROOT/identity_CelebA.txt ("000001.jpg 2880" a line).
    flat:ROOT     a flat folder of faces with no identities (FFHQ): one identity, "all".
    lfw:ROOT      Labeled Faces in the Wild by its View 1 people files (`zoo.data.lfw`).

All share `FileCorpus`: paths per identity, faces read (and squared) on demand through a bounded
cache, unreadable files skipped and reported once. `with_files` swaps in aligned crops
(`zoo.data.aligned_cache.ensure_aligned`) keeping the identity order.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from zoo.data.corpora.base import Corpus, sort_ids
from zoo.data.corpora.faces import to_square
from zoo.data.images import SkipReason, list_images, read_image
from zoo.errors import DataError

log = logging.getLogger(__name__)

__all__ = ["FileCorpus", "FolderCorpus", "CelebACorpus", "FlatCorpus", "LFWCorpus", "CELEBA_IDENTITIES", "CELEBA_IMAGES",
           "FLAT_IDENTITY"]

CELEBA_IDENTITIES = "identity_CelebA.txt"
CELEBA_IMAGES = "img_align_celeba"
FLAT_IDENTITY = "all"


class FileCorpus(Corpus):
    """A corpus of image files with known identities: `files[identity index]` is a list of paths.

    `crops`: a `zoo.data.crop_cache.CropCache` of its files (`with_crop_cache`), read instead of decoding.
    """

    crops = None

    def __init__(self, files: dict[str, list[Path]], spec: str, aligned: bool, cache_items: int = 20000,
                 order: list[str] | None = None):
        order = sort_ids(files) if order is None else list(order)
        self.files = [sorted(files[name]) for name in order]
        self.aligned = bool(aligned)
        self._cache: dict[tuple[str, int], np.ndarray] = {}
        self._cache_items = int(cache_items)
        self.skipped: dict[str, str] = {}
        self._resolution = None
        super().__init__(order, spec)

    def image_count(self):
        return int(sum(len(f) for f in self.files))

    def photo_counts(self):
        return np.array([len(f) for f in self.files], np.int64)

    def content_lines(self):
        """Each file as `identity, file name, byte size` (no folder: a copy elsewhere hashes alike)."""
        for name, paths in zip(self.identities, self.files):
            for path in paths:
                yield f"{name}\t{Path(path).name}\t{os.path.getsize(path)}"

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
        if self.crops is not None and self.crops.size == size and str(path) in self.crops:
            face = self.crops.face(path)
            if face is None and str(path) not in self.skipped:
                self.skipped[str(path)] = self.crops.bad[str(path)]
                log.warning("skipping %s: %s", path, self.skipped[str(path)])
            return face
        key = (str(path), size)
        face = self._cache.get(key)
        if face is None:
            try:
                face = to_square(read_image(path), size)
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

    def with_files(self, files: dict[str, list[Path]], *, aligned: bool = True) -> "FileCorpus":
        """This corpus over other files (its aligned crops): same identity order, empty identities dropped."""
        import copy

        out = copy.copy(self)
        keep = [name for name in self.identities if files.get(name)]
        out.identities = keep
        out.files = [sorted(files[name]) for name in keep]
        out.aligned = bool(aligned)
        out._cache, out.skipped, out._resolution, out.crops = {}, {}, None, None
        if not keep:
            raise DataError(f"corpus {self.spec!r}: no identity has an aligned face.")
        return out


class FolderCorpus(FileCorpus):
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


class CelebACorpus(FileCorpus):
    """CelebA: `ROOT/img_align_celeba/*.jpg` with identities from `ROOT/identity_CelebA.txt`."""

    kind = "celeba"

    def __init__(self, root, spec: str | None = None, aligned: bool = False):
        root = Path(root)
        table = root / CELEBA_IDENTITIES
        images = root / CELEBA_IMAGES
        if not table.exists():
            if any(p.is_dir() and list_images(p) for p in root.iterdir()):
                # An identity-folder subset (ROOT/<identity number>/<image>.jpg, ../shared's celeba/).
                folder = FolderCorpus(root, spec or f"celeba:{root}", aligned)
                super().__init__(folder.source_paths(), folder.spec, aligned)
                return
            raise DataError(f"CelebA corpus {root}: {CELEBA_IDENTITIES} is missing (lines '000001.jpg 2880') "
                            "and no identity folders (ROOT/<identity>/<image>.jpg) are there.")
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


class FlatCorpus(FileCorpus):
    """A flat folder of faces with no identities (FFHQ): one identity, "all"."""

    kind = "flat"

    def __init__(self, root, spec: str | None = None, aligned: bool = False):
        root = Path(root)
        super().__init__({FLAT_IDENTITY: list_images(root, recursive=True)}, spec or f"flat:{root}", aligned)


class UTKFaceCorpus(FlatCorpus):
    """UTKFace crops (`<age>_<sex>_<race>_<timestamp>.jpg.chip.jpg`): faces of all ages with no identities,
    so one identity ("all"); for reconstruction and distillation, not for identity objectives."""

    kind = "utkface"

    def __init__(self, root, spec: str | None = None, aligned: bool = False):
        super().__init__(root, spec or f"utkface:{root}", aligned)
        if not self.image_count():
            raise DataError(f"UTKFace corpus {root}: no images (expected <age>_<sex>_<race>_<time>.jpg.chip.jpg).")


class LFWCorpus(FileCorpus):
    """Labeled Faces in the Wild by its View 1 people files (see `zoo.data.lfw`).

    With split=devtrain the DevTest people follow the DevTrain people as evaluation identities, and
    `split(K)` holds out the K most photographed of them, never a DevTrain person.
    """

    kind = "lfw"
    face_select = "centre"     # each photo is centred on its person, often beside others
    shared_alignment = True

    def __init__(self, root, split: str = "devtrain", people: int | None = None, spec: str | None = None):
        from zoo.data.lfw import find_images_dir, split_people

        self.root = Path(root)
        self.verification_root = self.root
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
