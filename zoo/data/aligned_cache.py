"""Aligning a corpus of photos to facezoo's template once, into a cache folder that corpora and runs share.

`ensure_aligned(corpus)` returns the corpus itself when it is aligned, else the same identities over
their photos' aligned crops; `align_sources(paths, cache)` runs `zoo.data.extract.extract` (MTCNN and
the 5-point alignment) on the photos not yet in the cache's alignments file; `default_aligned_cache`
names one cache per photo set under `$FACEZOO_HOME/aligned/`. `ALIGNED_MARKER` records the crop size.

One rule sizes the crops, `crop_size(size)`: at least `MIN_CROP` px, so a 64 px pretraining and the
128 px LFW verification share one cache (smaller sizes are downscaled from it, never upscaled). The
default folder is named by that same size, and a cache whose crops have another size is refused
(`DataError`), never silently resized.
"""
from __future__ import annotations

import json
import logging
import re
from pathlib import Path

from fzcore.errors import DataError
from fzcore.paths import facezoo_home
from zoo.data.alignments import face_records, read_alignments
from zoo.data.corpora.base import Corpus
from zoo.data.corpora.files import FileCorpus
from zoo.data.corpora.tar import TarCorpus

log = logging.getLogger(__name__)

__all__ = ["ALIGNED_MARKER", "MIN_CROP", "crop_size", "ensure_aligned", "default_aligned_cache", "align_sources"]

ALIGNED_MARKER = "aligned.json"
MIN_CROP = 128   # px: the LFW verification's size, so every user of a photo set reads one cache


def crop_size(size: int) -> int:
    """The size of the crops a cache holds for faces wanted at `size` px: max(MIN_CROP, size), checked."""
    from zoo.data.align import check_size

    return check_size(max(MIN_CROP, int(size)))


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
        root = getattr(corpus, "root", None) or corpus.source_root or corpus.spec
        cache_dir = default_aligned_cache(corpus.kind, root, size)
    cache = Path(cache_dir)
    select = corpus.face_select
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
    if isinstance(corpus, FileCorpus):
        result = corpus.with_files(files)
    else:
        result = FileCorpus({k: v for k, v in files.items() if v}, corpus.spec, aligned=True)
        result.kind, result.face_select = corpus.kind, corpus.face_select
        result.shared_alignment, result.verification_root = corpus.shared_alignment, corpus.verification_root
    # Each crop's original photo: a teacher (`zoo.distil`) aligns the original its own way.
    result.source_of = {str(c): str(p) for paths in sources.values() for p in paths
                        for c in crops.get(Path(p).resolve(), [])}
    return result


def default_aligned_cache(kind: str, root, size: int = 128) -> Path:
    """`$FACEZOO_HOME/aligned/<kind>-<hash of the photos' root>-<crop px>`: one cache per photo set, named by
    the size of the crops `align_sources` writes into it (`crop_size(size)`)."""
    import hashlib

    crop = crop_size(size)
    key = hashlib.sha256(str(Path(root).expanduser().resolve()).encode()).hexdigest()[:12]
    return facezoo_home() / "aligned" / f"{kind}-{key}-{crop}"


def align_sources(paths, cache_dir, size: int = 128, *, select: str = "largest", detector=None,
                  progress=None) -> dict[Path, list[Path]]:
    """Align photos into `cache_dir` once: {resolved photo path: its face crops ([] when none was found)}.

    Photos already in the cache's alignments file are not read again; when all are, MTCNN never starts.
    Prints the share of photos with a face and the speed when it had to extract.
    """
    from zoo.data.extract import extract
    from zoo.io import write_json

    cache = Path(cache_dir)
    crop = crop_size(size)
    marker = cache / ALIGNED_MARKER
    records = read_alignments(cache)
    _check_crop_size(cache, crop, records)
    wanted = [Path(p).resolve() for p in paths]
    done = {Path(r["source"]) for r in records if r.get("type") == "done"}
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


def _check_crop_size(cache: Path, crop: int, records) -> None:
    """Raise DataError when the cache already holds crops of another size than `crop` (its marker or any
    face record says so): using them would resize every face, adding a new size would mix two."""
    made = set()
    marker = cache / ALIGNED_MARKER
    if marker.is_file():
        try:
            value = json.loads(marker.read_text(encoding="utf-8")).get("size")
        except (OSError, ValueError):
            value = None
        if value:
            made.add(int(value))
    made |= {int(r["size"]) for r in face_records(records) if r.get("size")} if records else set()
    wrong = sorted(made - {crop})
    if wrong:
        raise DataError(f"aligned cache {cache} holds {', '.join(map(str, wrong))} px crops, but {crop} px crops "
                        "belong there (see zoo.data.aligned_cache.crop_size); its faces would be resized. Delete "
                        "the folder (it is rebuilt from the photos) or pass another cache folder.")


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", str(name)) or "_"
