"""Several corpora trained on as one (`--corpus A --corpus B`, spec "A + B"): their files side by side.

Why: no single corpus here has it all (LFW has names, CelebA identities, UTKFace ages but no
identities). Each part is opened and aligned on its own (`zoo.pretrain.job.open_pretrain_corpus`), then
its identities are prefixed with the part's number ("1/Aaron_Eckhart") so that equal names in two
corpora stay two identities. LFW parts keep only their training people: DevTest people (LFW View 1's
evaluation identities) never enter a combined training set.
"""
from __future__ import annotations

from zoo.data.corpora.files import FileCorpus
from zoo.errors import DataError

__all__ = ["SEPARATOR", "split_spec", "combine"]

SEPARATOR = " + "


def split_spec(spec: str) -> list[str]:
    """'A + B' -> ['A', 'B'] (one part: [spec])."""
    parts = [p.strip() for p in str(spec).split(SEPARATOR)]
    if any(not p for p in parts):
        raise DataError(f"corpus spec {spec!r}: an empty part; combine corpora as 'A{SEPARATOR}B' "
                        "(or repeat --corpus).")
    return parts


def combine(corpora: list, spec: str) -> FileCorpus:
    """One `FileCorpus` over the files of aligned file corpora (identity names prefixed by part number)."""
    files, source_of = {}, {}
    for n, corpus in enumerate(corpora):
        if not isinstance(corpus, FileCorpus):
            raise DataError(f"corpus {corpus.spec!r} cannot be combined: only image-file corpora can "
                            "(folder:, celeba:, utkface:, flat:, lfw:).")
        skip = set(getattr(corpus, "evaluation_people", []) or [])
        for name, paths in zip(corpus.identities, corpus.files):
            if name not in skip and paths:
                files[f"{n}/{name}"] = list(paths)
        source_of.update(getattr(corpus, "source_of", None) or {})
    if not files:
        raise DataError(f"corpus {spec!r}: no training identity in any part.")
    out = FileCorpus(files, spec, aligned=True, order=list(files))
    out.kind = "combined"
    out.source_of = source_of
    out.parts = [c.summary() for c in corpora]
    return out
