"""The swap pair of the time-to-quality experiment: each person's faces, split once into train/probe/eval.

Part of `zoo.bench` (the library never imports it). Two kinds of pair:

- synthetic: the last two identities of a `SyntheticCorpus`, held out of pretraining; renders are
  unlimited, so the three sets are fixed index ranges (`synthetic_pair`);
- real (`real_pair`): two people, each given as
      lfw:NAME or lfw:ROOT:NAME   a person of LFW (ROOT defaults to $FACEZOO_FACE_DATA/lfw)
      a folder                    photos (any layout, searched recursively), or faces already extracted
                                  by `facezoo extract` (a folder with alignments.jsonl: used as they are)
      a video file                every frame's largest face
  Photos and videos go once through facezoo's own detection and 5-point alignment into the shared
  alignment cache (`zoo.data.corpus.align_sources`; LFW's is the one `facezoo bench lfw` fills), one face
  per photo (LFW: the one nearest the centre; otherwise the largest).

Each person's faces are split once, the same way for every arm and seed: photos are shuffled by
`split_seed` and cut into train, probe and eval shares; video frames stay in time order and are cut
into contiguous blocks (train first, then probe, then eval), so near-identical neighbouring frames never
sit on both sides of the split. Probe and eval sets are thinned evenly to at most `MAX_HELD_OUT` faces.
Nothing here is written to the repository: faces stay in the user's alignment cache.
"""
from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from zoo.errors import InputError

log = logging.getLogger("facezoo.evidence")

MAX_HELD_OUT = 64      # faces per person in the probe set and in the eval set, at most
MIN_FACES = 10         # faces a real person needs: a few to train on, a few to probe, a few to score


@dataclass
class PairData:
    """The pair's faces (uint8, (N, size, size, 3)): `train` (what arms train on), `eval` (scored every
    evaluation), `probe` (the identity probe's), keyed "a" and "b"; `names` says who A and B are."""

    train: dict
    eval: dict
    probe: dict
    mask: np.ndarray
    identities: tuple = ("a", "b")
    names: tuple = ("a", "b")
    sources: dict = field(default_factory=dict)

    def counts(self) -> dict:
        return {k: {"train": len(self.train[k]), "probe": len(self.probe[k]), "eval": len(self.eval[k])}
                for k in self.identities}


def synthetic_pair(corpus, ids, size: int, *, train_images: int, eval_images: int, probe_images: int) -> PairData:
    """Aligned renders of the two held-out identities `ids` (corpus indices), three disjoint index ranges."""
    from zoo.data.corpus import template_mask

    def faces(ident, start, count):
        return corpus._render_aligned(np.full(count, ident), np.arange(start, start + count), size)

    keys = ("a", "b")
    return PairData(train={n: faces(i, 0, train_images) for n, i in zip(keys, ids)},
                    eval={n: faces(i, 100, eval_images) for n, i in zip(keys, ids)},
                    probe={n: faces(i, 200, probe_images) for n, i in zip(keys, ids)},
                    mask=template_mask(size).astype(np.float32),
                    names=tuple(f"synthetic identity {int(i)}" for i in ids),
                    sources={k: {"kind": "synthetic", "identity": int(i)} for k, i in zip(keys, ids)})


def split_faces(files: list, *, probe_fraction: float, eval_fraction: float, seed: int, ordered: bool,
                cap: int = MAX_HELD_OUT) -> tuple[list, list, list]:
    """(train, probe, eval) of one person's faces; see the module docstring for the rule."""
    files = list(files)
    n = len(files)
    if not ordered:
        files = [files[i] for i in np.random.default_rng(seed).permutation(n)]
    n_eval = max(1, int(round(n * eval_fraction)))
    n_probe = max(1, int(round(n * probe_fraction)))
    train = files[:n - n_eval - n_probe]
    probe = files[n - n_eval - n_probe:n - n_eval]
    evaluation = files[n - n_eval:]

    def thin(xs):
        if len(xs) <= cap:
            return xs
        return [xs[int(i)] for i in np.linspace(0, len(xs) - 1, cap).round().astype(int)]

    return train, thin(probe), thin(evaluation)


def _lfw_person(spec: str):
    """(LFW root, person) of `lfw:NAME` / `lfw:ROOT:NAME`."""
    from zoo.data.lfw import face_data_dir

    body = spec[4:]
    root, _, name = body.rpartition(":")
    if not name:
        raise InputError(f"pair {spec!r}: name a person, as lfw:NAME (for example lfw:Donald_Rumsfeld).")
    if not root:
        base = face_data_dir()
        root = str(base / "lfw") if base else ""
        if not root:
            raise InputError(f"pair {spec!r}: say where LFW is, as lfw:ROOT:{name} or with $FACEZOO_FACE_DATA "
                             "(the folder holding lfw/).")
    return Path(root).expanduser(), name


def person_faces(spec: str, *, detector=None) -> tuple[list[Path], bool, dict]:
    """(aligned face files, in time order?, source info) of one person spec (see the module docstring)."""
    from zoo.data.corpus import align_sources, default_aligned_cache
    from zoo.data.extract import ALIGNMENTS_FILE, expand_inputs, face_records, read_alignments
    from zoo.data.images import IMAGE_EXTENSIONS
    from zoo.data.video import is_video_path

    if spec.startswith("lfw:"):
        root, name = _lfw_person(spec)
        from zoo.data.lfw import find_images_dir

        folder = find_images_dir(root) / name
        photos = sorted(folder.glob("*.jpg")) if folder.is_dir() else []
        if not photos:
            raise InputError(f"pair {spec!r}: LFW at {root} has no photos of {name!r}. Names are folder names "
                             "under the LFW images folder, for example Donald_Rumsfeld.")
        crops = align_sources(photos, default_aligned_cache("lfw", root, 128), 128, select="centre",
                              detector=detector)
        faces = [c for p in photos for c in crops[p.resolve()][:1]]
        return faces, False, {"kind": "lfw", "person": name, "photos": len(photos)}
    path = Path(spec).expanduser()
    if not path.exists():
        raise InputError(f"pair person {spec!r}: no such file or folder. Give lfw:NAME, a folder of photos or "
                         "of extracted faces, or a video.")
    if path.is_dir() and (path / ALIGNMENTS_FILE).exists():
        faces = [path / r["crop"] for r in face_records(read_alignments(path)) if (path / r["crop"]).exists()]
        return faces, False, {"kind": "extracted", "path": str(path)}
    inputs = expand_inputs(path)
    videos = [p for p in inputs if is_video_path(p)]
    photos = [p for p in inputs if p.suffix.lower() in IMAGE_EXTENSIONS]
    if not inputs:
        raise InputError(f"pair person {spec!r}: no photos or videos in it.")
    crops = align_sources(inputs, default_aligned_cache("pair", path, 128), 128, select="largest",
                          detector=detector)
    faces = [c for p in inputs for c in (crops[p.resolve()] if is_video_path(p) else crops[p.resolve()][:1])]
    return faces, bool(videos) and not photos, {"kind": "video" if videos and not photos else "photos",
                                                 "path": str(path), "inputs": len(inputs)}


def real_pair(specs, size: int, *, probe_fraction: float = 0.2, eval_fraction: float = 0.2,
              split_seed: int = 0, detector=None) -> PairData:
    """The two people of `specs` as a `PairData` at `size` px (see the module docstring)."""
    from zoo.data.corpus import _to_square, template_mask
    from zoo.data.images import read_image

    if len(specs) != 2:
        raise InputError(f"a pair is two people; got {len(specs)}: {list(specs)}")
    out = {"train": {}, "probe": {}, "eval": {}}
    names, sources = [], {}
    for key, spec in zip(("a", "b"), specs):
        faces, ordered, info = person_faces(str(spec), detector=detector)
        if len(faces) < MIN_FACES:
            raise InputError(f"pair person {spec!r}: {len(faces)} faces found, at least {MIN_FACES} are needed "
                             "(to train on, fit the identity probe, and score on held-out faces).")
        parts = split_faces(faces, probe_fraction=probe_fraction, eval_fraction=eval_fraction,
                            seed=split_seed + (0 if key == "a" else 1), ordered=ordered)
        for part, files in zip(("train", "probe", "eval"), parts):
            out[part][key] = np.stack([_to_square(read_image(f), size) for f in files])
        info.update(faces=len(faces), split_order="time" if ordered else f"shuffled (seed {split_seed})",
                    files_sha256=hashlib.sha256("\n".join(sorted(os.path.basename(str(f)) for f in faces))
                                                .encode()).hexdigest()[:16])
        sources[key] = {"spec": str(spec), **info}
        names.append(info.get("person") or Path(str(spec)).name)
    return PairData(train=out["train"], eval=out["eval"], probe=out["probe"],
                    mask=template_mask(size).astype(np.float32), names=tuple(names), sources=sources)
