"""The LFW table: verification accuracy of untrained, synthetic-pretrained and LFW-pretrained encoders.

Each encoder is scored by `zoo.verification.lfw_verification` (what `facezoo bench lfw` runs): View 1 for
all, View 2 (10-fold pairs.txt) for those whose release says they never saw LFW. Writes
RESULTS/lfw_table.json and .md with the git commit, and prints the table beside published references.

`judge:dlib` is the judge (`zoo.judge`, the `judge` extra), scored by the same protocol code on its own
dlib chips. `--merge` keeps the rows already in RESULTS/lfw_table.json (each with the commit it was
scored at) and scores only the encoders given: the judge takes tens of minutes on a CPU.

Examples:
    python benchmarks/lfw_table.py --encoder random=random:mobilenet-face \\
        --encoder synthetic=facezoo/mobilenet-face@synthetic-v1 --encoder lfw=facezoo/mobilenet-face@lfw-v1
    python benchmarks/lfw_table.py --merge --encoder judge=judge:dlib --processes 2
"""
from __future__ import annotations

import argparse
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
        if v2 and v2.get("folds", 10) != 10:
            v2s += f" ({v2['folds']} folds)"
        lines.append(f"| {r['label']} | `{r['ref']}` | {r['corpus']} | {v1} | {v2s} |")
    lines += ["", "Embedding: the encoder's last feature map, global-average-pooled and L2-normalised; cosine "
              "similarity; the threshold is chosen on held-out pairs (View 1: pairsDevTrain; View 2: the other "
              "nine folds). Chance is 50%."]
    if any(r["ref"].startswith("judge:") for r in rows):
        lines += ["", "`judge:dlib` is the judge (`zoo.judge`): dlib's face recognition ResNet on its own 5-point "
                  "150 px chips (dlib HOG detection), no jitter, L2-normalised descriptors, cosine; the same "
                  "protocol code. dlib's published figure is 99.38% (99.13% without jitter)."]
    by_commit: dict[str, list[str]] = {}
    for r in rows:
        by_commit.setdefault(r.get("commit") or commit, []).append(r["label"])
    lines += ["", f"Published View 2 accuracies for scale: {format_reference()}.", ""]
    if len(by_commit) == 1:
        lines.append(f"Commit: `{next(iter(by_commit))}`.")
    else:
        lines.append("Commits: " + "; ".join(f"`{c}` ({', '.join(dict.fromkeys(labels))})"
                                             for c, labels in by_commit.items()) + ".")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--encoder", action="append", required=True, metavar="LABEL=REF",
                   help="an encoder to score: a hub ref, a path, or random:NAME (repeatable)")
    p.add_argument("--size", type=int, default=64, help="input size of random:NAME encoders")
    p.add_argument("--lfw", default=None, help="LFW root (default: ../shared/face_data/lfw beside the project, then $FACEZOO_FACE_DATA/lfw)")
    p.add_argument("--hub", default=None)
    p.add_argument("--results", default=str(ROOT / "benchmarks" / "results"))
    p.add_argument("--merge", action="store_true",
                   help="keep the rows already in RESULTS/lfw_table.json; (re)score only the encoders given")
    p.add_argument("--processes", type=int, default=1, help="judge:dlib: worker processes")
    p.add_argument("--folds", type=int, default=None, help="judge:dlib: score only the first N View 2 folds")
    args = p.parse_args(argv)
    from recipes.bench_lfw import open_encoder
    from zoo.io import atomic_write, write_json
    from zoo.verification import lfw_verification, view2_valid

    from zoo.data.lfw import find_face_data
    lfw = Path(args.lfw) if args.lfw else (find_face_data() or ROOT.parent / "shared" / "face_data") / "lfw"
    import json

    out = Path(args.results)
    old = json.loads((out / "lfw_table.json").read_text()) if args.merge and (out / "lfw_table.json").is_file() else None
    rows = [{**r, "commit": r.get("commit") or old["commit"]} for r in old["rows"]] if old else []
    commit = git_commit()
    for item in args.encoder:
        label, _, ref = item.partition("=")
        if ref.startswith("judge:"):
            from zoo.judge import judge_lfw_verification
            row = {"label": label, "ref": ref, "corpus": "dlib's own (~3M faces, 7,485 people; no LFW person)",
                   "training": None, "commit": commit,
                   "view1": judge_lfw_verification(lfw, view=1, processes=args.processes),
                   "view2": judge_lfw_verification(lfw, view=2, folds=args.folds, processes=args.processes)}
            rows = [r for r in rows if r["label"] != label] + [row]
            print(f"{label}: View 1 {100 * row['view1']['accuracy']:.2f}%, View 2 {100 * row['view2']['accuracy']:.2f}%",
                  flush=True)
            continue
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
        row["commit"] = commit
        rows = [r for r in rows if r["label"] != label or r["ref"] != ref] + [row]
        print(f"{label}: View 1 {100 * row['view1']['accuracy']:.2f}%"
              + (f", View 2 {100 * row['view2']['accuracy']:.2f}%" if "view2" in row else ""), flush=True)
    out.mkdir(parents=True, exist_ok=True)
    command = "python benchmarks/lfw_table.py " + " ".join(sys.argv[1:] if argv is None else argv)
    commands = (old.get("commands") or [old.get("command")] if old else []) + [command]
    write_json(out / "lfw_table.json", {"commit": commit, "rows": rows, "command": commands[0],
                                        "commands": [c for c in commands if c]})
    text = render(rows, commit)
    with atomic_write(out / "lfw_table.md", "w") as f:
        f.write(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
