"""`tar:PATTERN`: WebDataset shards as a corpus, streamed with `tarfile`, one member at a time.

A sample is KEY.jpg|png plus KEY.cls (an integer or a name) or KEY.json ({"identity": ..} / {"label": ..}
/ {"cls": ..}); PATTERN is a file, `shard-{000000..000009}.tar` or a folder of .tar files. Opening scans
headers and labels only; training streams shards in a seeded order through a shuffle buffer, so its
sampler (`zoo.data.sampler.StreamSampler`) serves batches in order and a resume skips ahead.
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

from zoo.data.corpora.base import Corpus, sort_ids
from zoo.data.corpora.faces import to_square
from zoo.data.images import IMAGE_EXTENSIONS, SkipReason, decode_image
from zoo.data.sampler import StreamSampler
from zoo.errors import DataError

log = logging.getLogger(__name__)

__all__ = ["TarCorpus", "expand_braces", "is_tar_target", "tar_shards"]


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
        order = sort_ids(counts)
        self._index = {name: i for i, name in enumerate(order)}
        self.skipped: dict[str, str] = {}
        self._streams: dict = {}
        super().__init__(order, spec or f"tar:{self.shards[0]}")

    def image_count(self):
        return int(sum(self.counts.values()))

    def content_lines(self):
        """Each shard as `file name, byte size`, then each identity with its image count."""
        for shard in self.shards:
            yield f"{os.path.basename(shard)}\t{os.path.getsize(shard)}"
        for name in self.identities:
            yield f"{name}\t{self.counts[name]}"

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
                    face = to_square(decode_image(data, f"{shard}:{key}"), size)
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

    def photo_counts(self):
        return np.array([self.counts[name] for name in self.identities], np.int64)

    def sampler(self, batch_size, size, *, holdout=0, seed=0, augment=True, train_ids=None, min_photos=0):
        train, held = self.split(holdout)
        if train_ids is not None:
            train = np.asarray(train_ids, np.int64)
        kept = self.with_min_photos(train, min_photos)
        return StreamSampler(self, kept, held, batch_size, size, seed=seed, augment=augment,
                             min_photos=min_photos, dropped=train.size - kept.size)


def is_tar_target(path: str) -> bool:
    if path.endswith(".tar") or "{" in path:
        return True
    p = Path(path)
    return p.is_dir() and any(p.glob("*.tar")) and not any(x.is_dir() for x in p.iterdir())


def tar_shards(pattern: str) -> list[str]:
    p = Path(pattern)
    if p.is_dir():
        return sorted(str(s) for s in p.glob("*.tar"))
    out = []
    for name in expand_braces(pattern):
        out.extend(sorted(glob.glob(name)) if any(c in name for c in "*?[") else [name])
    return out
