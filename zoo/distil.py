"""Distillation targets for `facezoo pretrain --teacher dlib[:weight=W]`: a teacher's face embedding of
every training photo, computed once and cached, served beside each training batch.

Why: the zoo's reconstruction-pretrained encoders barely tell people apart (LFW View 1 ~60%); dlib's
face recognition ResNet (trained on about 3 million faces of 7,485 people, none in LFW; public domain,
CC0 by its author Davis King) does (99.38%). The student learns the teacher's 128-d embedding through a
small projection head on its pooled features (cosine loss, weight W; `zoo.pretrain.model`); the head is
not part of the published encoder.

The teacher sees its own 150 px chip of the ORIGINAL photo (dlib's detector, 5 points, `get_face_chip`),
not facezoo's aligned crop: the labels come from `zoo.judge.batch.judge_items`, whose records are cached
under $FACEZOO_HOME/judge/ keyed by each file's content (never in the repository), written as they are
computed, so an interrupted labelling resumes and a second run labels nothing. Photos where the teacher
finds no face get a zero target, which gives the cosine loss no gradient.

This module is the only way from pretraining to the judge's models; swap training (`zoo.training`)
never imports it, so no swap loss can learn to please the judge.
"""
from __future__ import annotations

import logging
import sys
from pathlib import Path

import numpy as np

from zoo.errors import InputError

__all__ = ["TEACHERS", "TEACHER_DIM", "parse_teacher", "teacher_card", "label_photos", "TeacherSampler",
           "teacher_sampler", "MATCH_DISTANCE", "devtest_photos", "drop_matches"]

log = logging.getLogger("facezoo.pretrain")

TEACHER_DIM = 128
TEACHERS = {
    "dlib": {"name": "dlib face recognition ResNet v1 (dlib_face_recognition_resnet_model_v1.dat)",
             "licence": "public domain (CC0 1.0), released by its author Davis King",
             "trained_on": "about 3 million faces of 7,485 people (no LFW person)",
             "embedding_dim": TEACHER_DIM, "chip": "dlib 5-point alignment, 150 px chip of the original photo"},
}


def parse_teacher(spec: str | None) -> tuple[str, float]:
    """'none' -> ('none', 0.0); 'dlib' -> ('dlib', 1.0); 'dlib:weight=0.5' -> ('dlib', 0.5)."""
    text = (spec or "none").strip()
    name, _, rest = text.partition(":")
    if name == "none" and not rest:
        return "none", 0.0
    if name not in TEACHERS:
        raise InputError(f"--teacher {text!r}: unknown teacher {name!r}; choose none or "
                         f"{', '.join(TEACHERS)} (e.g. --teacher dlib:weight=1).")
    weight = 1.0
    for part in filter(None, rest.split(",")):
        key, eq, value = part.partition("=")
        try:
            if key != "weight" or not eq:
                raise ValueError
            weight = float(value)
        except ValueError:
            raise InputError(f"--teacher {text!r}: expected {name}[:weight=W] with W a number, "
                             f"e.g. {name}:weight=0.5.") from None
    if not weight > 0:
        raise InputError(f"--teacher {text!r}: the weight must be > 0 (or use --teacher none).")
    return name, weight


def teacher_card(name: str, weight: float) -> dict | None:
    """What a release's metadata says of its teacher (None: no teacher)."""
    if name == "none":
        return None
    return {**TEACHERS[name], "id": name, "loss": "cosine, on a projection head not in the release",
            "weight": float(weight)}


def _require():
    from zoo.judge.models import JudgeUnavailableError, available

    ok, why = available()
    if not ok:
        raise JudgeUnavailableError(f"--teacher dlib: {why}")


def label_photos(paths, *, select: str = "largest", aligned: bool = False, fallback_box=None,
                 processes: int = 1, progress: bool = True, stats: dict | None = None) -> dict[str, np.ndarray]:
    """{str(path): the teacher's L2-normalised float32 (128,) embedding, zeros where it found no face}.

    Cached by file content (`zoo.judge.batch`), so only photos never labelled before cost time; `stats`
    gets {"cached", "computed", "no_face"}."""
    _require()
    from zoo.judge.batch import Item, judge_items

    paths = [Path(p) for p in dict.fromkeys(str(p) for p in paths)]
    bar = _bar("teacher labels") if progress else None
    counts: dict = {}
    faces = judge_items([Item(str(p), p.stem, p) for p in paths], select=select, aligned=aligned,
                        fallback_box=fallback_box, processes=processes, progress=bar, stats=counts)
    if bar is not None and counts.get("computed"):
        sys.stderr.write("\n")
    out = {}
    for p, face in zip(paths, faces):
        emb = face.embedding if face.found and face.embedding is not None else np.zeros(TEACHER_DIM)
        out[str(p)] = np.asarray(emb, np.float32)
    counts["no_face"] = sum(not f.found for f in faces)
    if stats is not None:
        stats.update(counts)
    return out


def _bar(label: str):
    def show(done: int, total: int):
        width = 30
        fill = int(width * done / max(1, total))
        sys.stderr.write(f"\r{label} [{'#' * fill}{'.' * (width - fill)}] {done}/{total}")
        sys.stderr.flush()
    return show


class TeacherSampler:
    """A `zoo.data.sampler.BatchSampler` over a file corpus whose batches also carry teacher targets:
    `batch(step)` -> (x, ids, y, targets float32 (B, 128)); still a pure function of (seed, step)."""

    def __init__(self, base, targets: dict[str, np.ndarray]):
        self.base = base
        self.targets = targets

    def __getattr__(self, name):
        return getattr(self.base, name)

    def batch(self, step: int):
        from zoo.data.sampler import expand_batch

        return expand_batch(self.compact_batch(step))

    def compact_batch(self, step: int):
        """`batch(step)` with uint8 images (`zoo.data.sampler.BatchSampler.compact_batch`)."""
        from zoo.data.sampler import augment_faces
        from zoo.errors import DataError

        b = self.base
        rng = np.random.default_rng([b.seed, int(step)])
        ids = b.train_ids[rng.integers(0, b.train_ids.size, b.batch_size)]
        b.check(ids)
        faces = np.empty((len(ids), b.size, b.size, 3), np.uint8)
        targets = np.zeros((len(ids), TEACHER_DIM), np.float32)
        for k, i in enumerate(ids.tolist()):
            paths = b.corpus.files[i]
            for _ in range(8):
                path = paths[int(rng.integers(len(paths)))] if paths else None
                face = b.corpus._read(path, b.size) if path is not None else None
                if face is not None:
                    break
            else:
                raise DataError(f"identity {b.corpus.identities[i]!r} of {b.corpus.spec!r}: no readable image.")
            faces[k] = face
            targets[k] = self.targets.get(str(path), 0.0)
        b.drawn += len(ids)
        x, y = augment_faces(faces, rng, b.size, b.augment, compact=True)
        return x, ids.astype(np.int32), y, targets


def teacher_sampler(sampler, corpus, name: str, *, processes: int = 1, progress: bool = True, echo=print):
    """Label the training photos of `corpus` (its originals where it was aligned by facezoo) and wrap
    `sampler` so that its batches carry the targets."""
    if not hasattr(corpus, "files"):
        raise InputError(f"--teacher {name} needs a corpus of image files (folder:, celeba:, lfw:, utkface:); "
                         f"{corpus.spec!r} is not one.")
    source_of = getattr(corpus, "source_of", None) or {}
    crops = [str(p) for i in sampler.train_ids.tolist() for p in corpus.files[i]]
    originals = [source_of.get(c, c) for c in crops]
    options = {"select": corpus.face_select, "aligned": not source_of}
    if corpus.face_select == "centre":   # LFW-like photos: where no face is found, the centre box
        from zoo.judge.lfw import LFW_FALLBACK_BOX
        options["fallback_box"] = LFW_FALLBACK_BOX
    stats: dict = {}
    labels = label_photos(originals, processes=processes, progress=progress, stats=stats, **options)
    echo(f"teacher {name}: {len(labels)} photos ({stats['cached']} from the cache, {stats['computed']} "
         f"labelled now, {stats['no_face']} without a face: zero target)")
    targets = {c: labels[o] for c, o in zip(crops, originals)}
    wrapped = TeacherSampler(sampler, targets)
    wrapped.stats = stats
    return wrapped


# Teacher distance (L2 of L2-normalised embeddings) from a person's centroid under which a photo is taken
# for that person. Measured on LFW photos: same-person pairs 0.16-0.45, different people 0.55-0.70, and a
# photo sits nearer its person's centroid than to any one photo of them.
MATCH_DISTANCE = 0.45


def devtest_photos(lfw_root) -> dict[str, list[Path]]:
    """{person: photos} of LFW's View 1 DevTest people (`peopleDevTest.txt`)."""
    from zoo.data.lfw import find_images_dir

    root = Path(lfw_root)
    images = find_images_dir(root)
    table = root / "peopleDevTest.txt"
    if not table.is_file():
        raise InputError(f"{table} is missing: --teacher's DevTest filter needs LFW's View 1 people files.")
    names = [line.split()[0] for line in table.read_text().splitlines()[1:] if len(line.split()) == 2]
    return {n: sorted((images / n).glob("*.jpg")) for n in names}


def drop_matches(corpus, reference: dict, *, processes: int = 1, progress: bool = True,
                 distance: float = MATCH_DISTANCE, echo=print):
    """`corpus` without the photos whose teacher embedding lies within `distance` of the centroid of a
    `reference` person ({name: photos}; LFW DevTest people must stay out of every training set);
    returns (corpus, dropped paths)."""
    if not hasattr(corpus, "files"):
        raise InputError(f"dropping DevTest look-alikes needs a corpus of image files; {corpus.spec!r} is not one.")
    source_of = getattr(corpus, "source_of", None) or {}
    crops = [str(p) for files in corpus.files for p in files]
    originals = [source_of.get(c, c) for c in crops]
    own = label_photos(originals, aligned=not source_of, processes=processes, progress=progress)
    from zoo.judge.lfw import LFW_FALLBACK_BOX   # the reference is LFW: aligned as `bench lfw` aligns it
    ref = label_photos([p for ps in reference.values() for p in ps], select="centre", fallback_box=LFW_FALLBACK_BOX,
                       processes=processes, progress=progress)
    centroids = []
    for ps in reference.values():
        found = [ref[str(p)] for p in ps if ref[str(p)].any()]
        if found:
            c = np.mean(found, axis=0)
            centroids.append(c / (np.linalg.norm(c) + 1e-12))
    bank = np.stack(centroids) if centroids else np.zeros((0, TEACHER_DIM), np.float32)
    dropped = set()
    if len(bank):
        for c, o in zip(crops, originals):
            e = own[o]
            if e.any() and float(np.min(np.linalg.norm(bank - e, axis=1))) < distance:
                dropped.add(c)
    echo(f"teacher: {len(dropped)} of {len(crops)} photos match an LFW DevTest person (distance < {distance}) "
         "and are left out")
    if not dropped:
        return corpus, []
    files = {n: [p for p in fs if str(p) not in dropped] for n, fs in zip(corpus.identities, corpus.files)}
    out = corpus.with_files(files, aligned=corpus.aligned)
    out.source_of = source_of
    if hasattr(corpus, "evaluation_people"):
        out.evaluation_people = [n for n in corpus.evaluation_people if n in out.identities]
    return out, sorted(dropped)
