"""The LFW table: verification accuracy of untrained, synthetic-pretrained and LFW-pretrained encoders.

Each encoder is scored by `zoo.verification.lfw_verification` (what `facezoo bench lfw` runs): View 1 for
all, View 2 (10-fold pairs.txt) for those whose release says they never saw LFW. Writes
RESULTS/lfw_table.json and .md with the git commit, and prints the table beside published references.

Examples:
    python benchmarks/lfw_table.py --encoder random=random:mobilenet-face \\
        --encoder synthetic=facezoo/mobilenet-face@synthetic-v1 --encoder lfw=facezoo/mobilenet-face@lfw-v1
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._provenance import git_commit  # noqa: E402



def render(rows: list[dict], commit: str) -> str:
    from zoo.verification import format_reference

    lines = ["| encoder | ref | trained on | View 1 (DevTest pairs) | View 2 (10-fold pairs.txt) |",
             "|---|---|---|---|---|"]
    for r in rows:
        v1 = f"{100 * r['view1']['accuracy']:.2f}%"
        v2 = r.get("view2")
        v2s = f"{100 * v2['accuracy']:.2f}% ± {100 * v2['std']:.2f}" if v2 else f"n/a ({r.get('view2_skipped')})"
        lines.append(f"| {r['label']} | `{r['ref']}` | {r['corpus']} | {v1} | {v2s} |")
    lines += ["", "Embedding: the encoder's last feature map, global-average-pooled and L2-normalised; cosine "
              "similarity; the threshold is chosen on held-out pairs (View 1: pairsDevTrain; View 2: the other "
              "nine folds). Chance is 50%.", "",
              f"Published View 2 accuracies for scale: {format_reference()}.", "", f"Commit: `{commit}`."]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--encoder", action="append", required=True, metavar="LABEL=REF",
                   help="an encoder to score: a hub ref, a path, or random:NAME (repeatable)")
    p.add_argument("--size", type=int, default=64, help="input size of random:NAME encoders")
    p.add_argument("--lfw", default=None, help="LFW root (default: $FACEZOO_FACE_DATA/lfw or ../shared/face_data/lfw)")
    p.add_argument("--hub", default=None)
    p.add_argument("--results", default=str(ROOT / "benchmarks" / "results"))
    args = p.parse_args(argv)
    from recipes.bench_lfw import open_encoder
    from zoo.io import atomic_write, write_json
    from zoo.verification import lfw_verification, view2_valid

    lfw = Path(args.lfw) if args.lfw else \
        Path(os.environ.get("FACEZOO_FACE_DATA") or ROOT.parent / "shared" / "face_data") / "lfw"
    rows = []
    for item in args.encoder:
        label, _, ref = item.partition("=")
        encoder, manifest = open_encoder(ref, size=args.size, hub=args.hub)
        corpus = (manifest.get("corpus") or {}) if manifest else {}
        row = {"label": label, "ref": ref, "corpus": corpus.get("name") or ("none (random init)"
                                                                          if ref.startswith("random:") else "?"),
               "training": manifest.get("training"), "view1": lfw_verification(encoder, lfw, view=1)}
        ok, why = view2_valid(manifest)
        if ok:
            row["view2"] = lfw_verification(encoder, lfw, view=2, manifest=manifest)
        else:
            row["view2_skipped"] = "trained on LFW"
        rows.append(row)
        print(f"{label}: View 1 {100 * row['view1']['accuracy']:.2f}%"
              + (f", View 2 {100 * row['view2']['accuracy']:.2f}%" if "view2" in row else ""), flush=True)
    commit = git_commit()
    out = Path(args.results)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "lfw_table.json", {"commit": commit, "rows": rows,
                                        "command": "python benchmarks/lfw_table.py " + " ".join(sys.argv[1:])})
    text = render(rows, commit)
    with atomic_write(out / "lfw_table.md", "w") as f:
        f.write(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
