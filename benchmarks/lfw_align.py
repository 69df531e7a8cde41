"""Align all of LFW once with facezoo's detection + 5-point alignment; record the share of photos with a face.

Runs `zoo.data.corpus.ensure_aligned` on `lfw:ROOT:split=all` into the shared alignment cache
($FACEZOO_HOME/aligned/...; resumable, so a second run only re-reads the journal), then writes
RESULTS/lfw_alignment.json: photos, faces found, share (goal >= 99%), the photos without a face, the
seconds and faces/s of the extraction when it ran, and the git commit.

Example:
    FACEZOO_HOME=/data/facezoo python benchmarks/lfw_align.py
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--lfw", default=None, help="LFW root (default: $FACEZOO_FACE_DATA/lfw or ../shared/face_data/lfw)")
    p.add_argument("--results", default=str(ROOT / "benchmarks" / "results"))
    args = p.parse_args(argv)
    from benchmarks._provenance import git_commit
    from zoo.data.corpus import align_sources, default_aligned_cache, open_corpus
    from zoo.io import write_json

    lfw = Path(args.lfw) if args.lfw else \
        Path(os.environ.get("FACEZOO_FACE_DATA") or ROOT.parent / "shared" / "face_data") / "lfw"
    corpus = open_corpus(f"lfw:{lfw}:split=all")
    cache = default_aligned_cache("lfw", corpus.root, 128)
    photos = [p for paths in corpus.files for p in paths]
    start = time.perf_counter()
    crops = align_sources(photos, cache, 128, select="centre")
    seconds = time.perf_counter() - start
    found = sum(1 for v in crops.values() if v)
    missing = sorted(str(p.relative_to(corpus.images_dir)) for p, v in crops.items() if not v)
    result = {"commit": git_commit(), "photos": len(photos), "people": corpus.num_identities, "faces_found": found,
              "share": round(found / len(photos), 5), "no_face": missing, "select": "face nearest the image centre",
              "crop_size": 128, "seconds_this_run": round(seconds, 1),
              "command": "python benchmarks/lfw_align.py " + " ".join(sys.argv[1:])}
    write_json(Path(args.results) / "lfw_alignment.json", result)
    print(f"LFW: a face in {found} of {len(photos)} photos ({100 * result['share']:.2f}%); "
          f"{len(missing)} without: {', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
