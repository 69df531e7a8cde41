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
    utkface:ROOT                UTKFace crops (no identities: identity "all"); celeba:ROOT also takes an
                                identity-folder subset (ROOT/<identity number>/*.jpg).
    lfw:ROOT[:split=S][:people=N]  Labeled Faces in the Wild by its View 1 people files
                                (`zoo.data.lfw`); DevTest people are the evaluation identities.
    tar:PATTERN  (or *.tar)     WebDataset shards: KEY.jpg|png + KEY.cls (an integer or a name) or
                                KEY.json ({"identity": ..} / {"label": ..} / {"cls": ..}); PATTERN is
                                a file, `shard-{000000..000009}.tar` or a folder of .tar files. Read
                                with `tarfile`, streaming, one member at a time.

Identities are sorted by id (numerically when every id is an integer, else by name); `--holdout K`
holds out the last K. Corpora that are not aligned to facezoo's template go through the same
alignment as `facezoo extract` once (`ensure_aligned`), cached in a folder.

This module parses the spec and is the one import point; the parts live by job:
    zoo/data/corpora/     the corpora, one module per storage (base, synthetic, files, tar) and the
                          aligned-face geometry they share (faces)
    zoo/data/sampler.py   the deterministic batch samplers and the augmentation of a batch
    zoo/data/aligned_cache.py  aligning unaligned photos once into a shared cache folder

No TensorFlow here: numpy and OpenCV only.

Examples:
    >>> corpus = open_corpus("synthetic:1000")
    >>> sampler = corpus.sampler(batch_size=16, size=64, holdout=50, seed=0)
    >>> x, ids, y = sampler.batch(0)       # warped faces, identity indices, targets + masks
"""
from __future__ import annotations

import re
from pathlib import Path

from zoo.data import aligned_cache
from zoo.data.aligned_cache import ALIGNED_MARKER, align_sources, default_aligned_cache, ensure_aligned
from zoo.data.corpora.base import SPEC_FORMS, Corpus
from zoo.data.corpora.faces import aligned_landmarks, template_mask, to_square
from zoo.data.corpora.files import (CELEBA_IDENTITIES, CELEBA_IMAGES, FLAT_IDENTITY, CelebACorpus, FileCorpus,
                                    FlatCorpus, FolderCorpus, LFWCorpus)
from zoo.data.corpora.synthetic import SyntheticCorpus
from zoo.data.corpora.tar import TarCorpus, expand_braces, is_tar_target, tar_shards
from zoo.data.images import list_images
from zoo.data.sampler import BatchSampler, HeldOutIdentityError, StreamSampler, augment_faces
from zoo.errors import DataError

__all__ = ["Corpus", "SyntheticCorpus", "FileCorpus", "FolderCorpus", "CelebACorpus", "FlatCorpus", "TarCorpus",
           "LFWCorpus", "BatchSampler", "StreamSampler", "HeldOutIdentityError", "open_corpus", "ensure_aligned",
           "align_sources", "default_aligned_cache", "augment_faces", "expand_braces", "template_mask",
           "aligned_landmarks", "to_square", "SPEC_FORMS", "ALIGNED_MARKER", "CELEBA_IDENTITIES", "CELEBA_IMAGES",
           "FLAT_IDENTITY"]

# Private names other code imports from here under their old spelling.
_to_square = to_square
_safe = aligned_cache._safe


def open_corpus(spec: str, *, aligned: bool | None = None) -> Corpus:
    """Open a corpus from its spec (see the module doc). `aligned`: the faces are already aligned.

    The spec is parsed here and only here; the corpus keeps what later code needs from it as attributes
    (`source_root`, the photos' root that names its alignment cache; the capabilities on `Corpus`)."""
    spec = str(spec)
    kind, sep, rest = spec.partition(":")
    if not sep or len(kind) == 1 or kind not in ("synthetic", "folder", "celeba", "flat", "tar", "lfw",
                                                    "utkface"):
        kind, rest = "", spec  # a plain path (or a Windows drive letter)
    corpus = _open(spec, kind, rest, bool(aligned))
    corpus.source_root = str(getattr(corpus, "root", None) or rest)
    return corpus


def _open(spec: str, kind: str, rest: str, flag: bool) -> Corpus:
    if kind == "synthetic":
        m = re.fullmatch(r"(\d+)(?::seed=(\d+))?", rest)
        if not m or int(m.group(1)) < 1:
            raise DataError(f"corpus spec {spec!r}: expected synthetic:N or synthetic:N:seed=S with N >= 1.")
        return SyntheticCorpus(int(m.group(1)), int(m.group(2) or 0), spec=spec)
    if kind == "lfw":
        from zoo.data.lfw import parse_lfw_spec
        root, split, people = parse_lfw_spec(rest)
        return LFWCorpus(root, split, people, spec=spec)
    if kind == "tar" or (not kind and is_tar_target(rest)):
        return TarCorpus(tar_shards(rest), spec=spec, aligned=flag)
    root = Path(rest).expanduser()
    if not root.exists():
        raise DataError(f"corpus {spec!r}: {root} does not exist. Accepted specs: {', '.join(SPEC_FORMS)}.")
    if kind == "celeba" or (not kind and (root / CELEBA_IDENTITIES).exists()):
        return CelebACorpus(root, spec=spec, aligned=flag)
    if kind == "utkface":
        from zoo.data.corpora.files import UTKFaceCorpus
        return UTKFaceCorpus(root, spec=spec, aligned=flag)
    if kind == "flat":
        return FlatCorpus(root, spec=spec, aligned=flag)
    if kind == "folder":
        return FolderCorpus(root, spec=spec, aligned=flag)
    subdirs = [p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")]
    if any(list_images(p, recursive=True) for p in subdirs[:50]):
        return FolderCorpus(root, spec=spec, aligned=flag)
    return FlatCorpus(root, spec=spec, aligned=flag)
