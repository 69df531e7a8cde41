"""Why the identity-scaling curve on LFW is flat: one table and one plot from the runs beside it.

Reads RESULTS/identity_scaling_lfw*.json (the main curve, `python benchmarks/identity_scaling.py --corpus
lfw:ROOT ...`, and the diagnostic runs made with `--tag`: a larger step budget, the classification
objective, people with several photos) and writes RESULTS/identity_scaling_lfw_why.{md,png}: for each run
its objective, budget, people drawn and the scores against N, each beside the untrained encoder's.

    python benchmarks/identity_scaling_summary.py
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "results"


def runs(results: Path) -> list[dict]:
    found = [json.loads(p.read_text()) for p in sorted(results.glob("identity_scaling_lfw*.json"))]
    return sorted(found, key=lambda r: (r.get("objective", "reconstruct"), r.get("min_images", 1), r["steps"]))


def describe(run: dict) -> str:
    people = "people with 5+ photos" if run.get("min_images", 1) >= 5 else "any DevTrain people"
    if run.get("min_images", 1) not in (1, 5):
        people = f"people with {run['min_images']}+ photos"
    return (f"{run.get('objective', 'reconstruct')}, {run['steps']} steps x {run['batch_size']}, {people}, "
            f"lr {run.get('learning_rate', 2e-4):g}")


def render(found: list[dict]) -> str:
    lines = ["| run | N | faces seen per person | transfer SSIM (x untrained) | LFW View 1 | probe |",
             "|---|---|---|---|---|---|"]
    for run in found:
        base = run["rows"][0]
        for row in run["rows"]:
            n = row["identities"]
            seen = "-" if n == 0 else f"{run['steps'] * run['batch_size'] / n:.0f}"
            label = "untrained" if n == 0 else str(n)
            lines.append(f"| {describe(run)} | {label} | {seen} | {row['transfer_ssim']:.3f} "
                         f"({row['transfer_ssim'] / base['transfer_ssim']:.2f}x) | "
                         f"{100 * row['lfw_view1_accuracy']:.1f}% | {row['probe_accuracy']:.2f} |")
    commits = sorted({r["commit"][:10] for r in found})
    lines += ["", "Every run: mobilenet-face at 64 px, scored on the same 10 held-out DevTest people (a fresh "
              "decoder per person, 30 steps, 12 train / 4 test faces) and on LFW View 1 (1,000 DevTest pairs; "
              "one accuracy's standard error is about 1.5 points). N people are a seeded draw from DevTrain.",
              "", "Runs (commits " + ", ".join(f"`{c}`" for c in commits) + "):", ""]
    lines += [f"- `{r['command']}`" for r in found]
    return "\n".join(lines) + "\n"


def plot(found: list[dict], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from zoo.io import atomic_path

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
    for key, ax, label in (("transfer_ssim", axes[0], "transfer SSIM / untrained"),
                           ("lfw_view1_accuracy", axes[1], "LFW View 1 accuracy")):
        for run in found:
            base = run["rows"][0][key]
            rows = run["rows"][1:]
            ys = [r[key] / base if key == "transfer_ssim" else r[key] for r in rows]
            ax.plot([r["identities"] for r in rows], ys, "o-", label=describe(run))
        ax.axhline(1.0 if key == "transfer_ssim" else found[0]["rows"][0][key], color="grey", ls="--",
                   label="untrained encoder")
        ax.set_xscale("log", base=2)
        ax.set_xlabel("pretraining people N (LFW DevTrain)")
        ax.set_ylabel(label)
    axes[1].legend(fontsize=7)
    fig.suptitle("identity scaling on LFW: step budget, objective, photos per person")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp)
    plt.close(fig)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", default=str(RESULTS))
    args = parser.parse_args(argv)
    results = Path(args.results)
    found = runs(results)
    if not found:
        sys.exit(f"no identity_scaling_lfw*.json in {results}: run benchmarks/identity_scaling.py --corpus lfw:ROOT")
    from zoo.io import atomic_write
    with atomic_write(results / "identity_scaling_lfw_why.md", "w") as f:
        f.write(render(found))
    plot(found, results / "identity_scaling_lfw_why.png")
    print(render(found))
    print(f"wrote {results / 'identity_scaling_lfw_why.md'} and .png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
