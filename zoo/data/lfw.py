"""Labeled Faces in the Wild: the corpus and its protocol files.

LFW (Huang et al., UMass TR 07-49, 2007) is 13,233 photos of 5,749 people, 250x250, roughly centred by
deep funneling but not cropped. facezoo reads the layout the LFW site ships:

    ROOT/images_deepfunneled/<Person_Name>/<Person_Name>_0001.jpg   (or ROOT/lfw-deepfunneled/, ROOT/lfw/)
    ROOT/peopleDevTrain.txt, peopleDevTest.txt   View 1: 4,038 and 1,711 people, disjoint
    ROOT/pairsDevTrain.txt, pairsDevTest.txt     View 1: 2,200 and 1,000 verification pairs
    ROOT/pairs.txt                               View 2: 10 folds of 300 matched + 300 mismatched pairs

Corpus spec: `lfw:ROOT[:split=devtrain|devtest|all][:people=N]`.
    devtrain (default)  the 4,038 DevTrain people train; the DevTest people follow as evaluation
                        identities, most photographed first, so `--holdout K` evaluates on K people the
                        encoder never saw (the View 1 split), not on the last K DevTrain names.
    devtest             the 1,711 DevTest people (e.g. to pick a pair to swap).
    all                 every person in the image folder.
    people=N            the first N people of each list by name (evaluation people among those with
                        2+ photos): a small subset for tests.

Photos are not aligned: `zoo.data.corpus.ensure_aligned` runs them once through facezoo's detection and
5-point alignment, keeping in each photo the face nearest the image centre (LFW photos are framed on
their subject; a bystander's face may be larger).
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from zoo.errors import DataError

__all__ = ["IMAGE_DIRS", "SPLITS", "Pair", "find_images_dir", "image_path", "read_people", "read_pairs",
           "parse_lfw_spec", "LFW_REFERENCE_ACCURACY", "face_data_dir", "find_face_data"]

IMAGE_DIRS = ("images_deepfunneled", "lfw-deepfunneled", "lfw_funneled", "lfw")
SPLITS = ("devtrain", "devtest", "all")
PEOPLE_FILES = {"devtrain": "peopleDevTrain.txt", "devtest": "peopleDevTest.txt"}
PAIRS_FILES = {"view1-train": "pairsDevTrain.txt", "view1-test": "pairsDevTest.txt", "view2": "pairs.txt"}
FACE_DATA_ENV = "FACEZOO_FACE_DATA"

# Published 10-fold accuracies on pairs.txt (View 2), as SOURCES.md lists them.
LFW_REFERENCE_ACCURACY = {"Eigenfaces": 0.600, "high-dim LBP": 0.952, "DeepFace": 0.9735,
                          "dlib ResNet": 0.9938, "FaceNet": 0.9963, "ArcFace": 0.9983}


def face_data_dir() -> Path | None:
    """`$FACEZOO_FACE_DATA` when set (a folder holding `lfw/` and `videos/`), else None."""
    value = os.environ.get(FACE_DATA_ENV)
    return Path(value) if value else None


def find_face_data() -> Path | None:
    """The real-face folder tools use when none is named, in this order (docs/real-faces.md):
    `../shared/face_data` beside the project checkout, then `$FACEZOO_FACE_DATA`; None when neither exists."""
    beside = Path(__file__).resolve().parents[2].parent / "shared" / "face_data"
    for candidate in (beside, face_data_dir()):
        if candidate is not None and candidate.is_dir():
            return candidate
    return None


@dataclass(frozen=True)
class Pair:
    """One verification pair: (name_a, number_a) and (name_b, number_b); `same` when one person."""
    name_a: str
    num_a: int
    name_b: str
    num_b: int

    @property
    def same(self) -> bool:
        return self.name_a == self.name_b


def find_images_dir(root) -> Path:
    """The folder of per-person image folders under an LFW root (or the root itself)."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DataError(f"LFW root {root} does not exist. Download LFW (deep-funneled images and the "
                        "protocol files) from its official site and pass lfw:PATH.")
    for name in IMAGE_DIRS:
        if (root / name).is_dir():
            return root / name
    if any(root.glob("*/*_0001.jpg")):
        return root
    raise DataError(f"LFW root {root} has none of {', '.join(IMAGE_DIRS)} and no <Person>/<Person>_0001.jpg "
                    "folders. Point lfw:PATH at the folder holding images_deepfunneled/ and pairs.txt.")


def image_path(images_dir: Path, name: str, number: int) -> Path:
    return Path(images_dir) / name / f"{name}_{int(number):04d}.jpg"


def _protocol_file(root: Path, name: str) -> Path:
    path = Path(root) / name
    if not path.is_file():
        raise DataError(f"LFW protocol file {path} is missing. It ships with LFW (View 1: "
                        "peopleDevTrain.txt, pairsDevTrain.txt, ...; View 2: pairs.txt); put it beside "
                        "the image folder.")
    return path


def read_people(path) -> list[tuple[str, int]]:
    """(name, image count) rows of a people file; count lines (one field) are headers."""
    path = Path(path)
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8-sig").splitlines(), 1):
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit():
            rows.append((parts[0], int(parts[1])))
        elif len(parts) == 1 and parts[0].isdigit() or not parts:
            continue
        else:
            raise DataError(f"{path}: line {n} is {line!r}; expected 'Name COUNT' or a count.")
    return rows


def read_pairs(path) -> list[list[Pair]]:
    """The folds of a pairs file: each fold is its matched pairs, then its mismatched ones.

    The header is `N` (one fold of N matched + N mismatched: pairsDevTrain/DevTest.txt) or `F N`
    (F folds: pairs.txt).
    """
    path = Path(path)
    lines = [ln for ln in path.read_text(encoding="utf-8-sig").splitlines() if ln.strip()]
    if not lines:
        raise DataError(f"{path}: empty pairs file.")
    head = lines[0].split()
    if not all(h.isdigit() for h in head) or len(head) not in (1, 2):
        raise DataError(f"{path}: first line {lines[0]!r} is not 'N' or 'FOLDS N'.")
    folds, per = (1, int(head[0])) if len(head) == 1 else (int(head[0]), int(head[1]))
    pairs = []
    for n, line in enumerate(lines[1:], 2):
        p = line.split()
        try:
            if len(p) == 3:
                pairs.append(Pair(p[0], int(p[1]), p[0], int(p[2])))
            elif len(p) == 4:
                pairs.append(Pair(p[0], int(p[1]), p[2], int(p[3])))
            else:
                raise ValueError
        except ValueError:
            raise DataError(f"{path}: line {n} is {line!r}; expected 'Name N1 N2' or 'Name1 N1 Name2 N2'.") from None
    if len(pairs) != folds * 2 * per:
        raise DataError(f"{path}: header says {folds} fold(s) of {2 * per} pairs, but the file has {len(pairs)}.")
    return [pairs[f * 2 * per:(f + 1) * 2 * per] for f in range(folds)]


def parse_lfw_spec(rest: str) -> tuple[Path, str, int | None]:
    """`ROOT[:split=S][:people=N]` -> (root, split, people). Options may come in any order."""
    parts = rest.split(":")
    # A Windows drive letter ("C:\\lfw") belongs to the root.
    root_parts = [parts.pop(0)]
    while parts and not re.fullmatch(r"(split|people)=.*", parts[0]):
        root_parts.append(parts.pop(0))
    split, people = "devtrain", None
    for opt in parts:
        key, _, value = opt.partition("=")
        if key == "split" and value in SPLITS:
            split = value
        elif key == "people" and value.isdigit() and int(value) >= 2:
            people = int(value)
        else:
            raise DataError(f"corpus spec lfw:{rest}: bad option {opt!r}. Accepted: split="
                            f"{'|'.join(SPLITS)}, people=N (N >= 2).")
    return Path(":".join(root_parts)).expanduser(), split, people


def split_people(root: Path, images_dir: Path, split: str, people: int | None) -> tuple[list[str], list[str]]:
    """(training people, evaluation people) of a split, as the module doc describes."""
    if split == "all":
        train = sorted(p.name for p in images_dir.iterdir() if p.is_dir() and not p.name.startswith("."))
        evaluation: list[str] = []
    else:
        train = sorted(name for name, _ in read_people(_protocol_file(root, PEOPLE_FILES[split])))
        evaluation = []
        if split == "devtrain":
            rows = read_people(_protocol_file(root, PEOPLE_FILES["devtest"]))
            rows = sorted(r for r in rows if r[1] >= 2)[:people] if people else rows
            evaluation = [name for name, count in sorted(rows, key=lambda r: (-r[1], r[0])) if count >= 2]
    if people:
        train = train[:people]
    return train, evaluation
