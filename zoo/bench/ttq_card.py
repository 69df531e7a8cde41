"""Time-to-quality evidence for a model card: per-arm rows, flat metrics and the claims' verdicts, read
from a results file (`facezoo publish --evidence`, the quickstart's report). Part of `zoo.bench`."""
from __future__ import annotations

import math
from pathlib import Path

from zoo.bench.stats import claims, summarize
from zoo.bench.ttq_report import load_records, reproduce_command, results_stem, verdict


def card_metrics(records: list[dict]) -> dict:
    """Flat numeric metrics for a model card's `metadata["metrics"]` (`hub.publish`), from the records."""
    out = {}
    for arm, s in summarize(records).items():
        key = arm.replace("-", "_")
        out[f"ttq_{key}_final_ssim_mean"] = round(s["final_ssim"]["mean"], 5)
        out[f"ttq_{key}_final_ssim_std"] = round(s["final_ssim"]["std"], 5)
        if s["steps_to_threshold"]["mean"] is not None:
            out[f"ttq_{key}_steps_to_threshold_mean"] = round(s["steps_to_threshold"]["mean"], 1)
        out[f"ttq_{key}_reached"] = s["reached"]
        if s["final_swap_b"]["mean"] is not None:
            out[f"ttq_{key}_swap_b_mean"] = round(s["final_swap_b"]["mean"], 4)
        if s["final_swap_contrast"]["mean"] is not None:
            out[f"ttq_{key}_swap_contrast_mean"] = round(s["final_swap_contrast"]["mean"], 4)
    return {k: v for k, v in out.items() if v is not None and not (isinstance(v, float) and math.isnan(v))}


def card_rows(records: list[dict]) -> list[dict]:
    """One JSON-safe row per arm for a model card's evidence table (`evidence_metadata`)."""
    def r(value, digits):
        return None if value is None else round(value, digits)

    rows = []
    for arm, s in summarize(records).items():
        rows.append({"arm": arm, "runs": s["runs"], "reached": s["reached"],
                     "steps_to_threshold": r(s["steps_to_threshold"]["mean"], 1),
                     "final_ssim": r(s["final_ssim"]["mean"], 4), "final_ssim_std": r(s["final_ssim"]["std"], 4),
                     "swap_b": r(s["final_swap_b"]["mean"], 3)})
    return rows


def evidence_metadata(path) -> dict:
    """The time-to-quality evidence for a card, read from the results file at `path`: the benchmark's
    per-arm metrics, the file they come from, the command that reproduces them, and a `title` naming the
    pair ("synthetic pair", "real pair X and Y"); {} when the file does not exist.

    Only a caller that has a results file passes one (`facezoo publish --evidence`, the quickstart
    report): release metadata never looks for `benchmarks/results/` by itself. These numbers describe
    facezoo's staged-unfreezing recipe as measured by the benchmark, not the weights of the release
    they are attached to, so cards show them in their own section and never in the `model-index`.
    """
    path = Path(path)
    if not path.exists():
        return {}
    records = load_records(path)
    cfg = records[0].get("config", {})
    stem = results_stem(records)
    source = f"benchmarks/results/{stem}.json" if path.as_posix().endswith(f"benchmarks/results/{stem}.json") \
        else path.name
    seeds = len({r["seed"] for r in records})
    if cfg.get("pair"):
        names = " and ".join((records[0].get("pair_sources") or {}).get(k, {}).get("person") or p
                             for k, p in zip("ab", cfg["pair"]))
        title = f"real pair {names}"
        about = (f"The pretrained arms used `{cfg.get('pretrained')}`, pretrained on people other than the pair; "
                 f"ran on commit `{records[0].get('git_commit', 'unknown')}`.")
    else:
        title = "synthetic pair"
        about = "These numbers measure the recipe on the benchmark's own encoder, not the weights of this release."
    setup = f"{title}, {cfg.get('encoder')} at {cfg.get('size')} px, {cfg.get('steps')} steps, {seeds} seeds"
    word = {True: "held", False: "not held", None: "not tested"}
    return {"benchmark": "time-to-quality", "source": source, "command": reproduce_command(records),
            "title": title, "setup": setup, "about": about,
            "threshold": f"{records[0].get('threshold_fraction', 0.95):.0%} of the scratch arm's SSIM gain "
                         "(step 0 to its end), per seed",
            "arms": card_rows(records), "verdict": verdict(records), "metrics": card_metrics(records),
            "claims": [f"{c['claim']}: {word[c['held']]} ({c['numbers']})" for c in claims(records)]}

