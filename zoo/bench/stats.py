"""Time-to-quality statistics: thresholds, per-arm summaries, the claims' verdicts, the results schema.

Part of `zoo.bench`. Pure functions over the results records (a list of dicts, one per arm and seed,
as `zoo.bench.evidence.run_benchmark` returns and the results JSON holds).
"""
from __future__ import annotations

import numpy as np

from zoo.errors import InputError

ARMS = ("scratch", "frozen-random", "frozen", "open", "staged-steps", "staged-plateau")
REQUIRED_KEYS = ("arm", "seed", "steps_to_threshold", "final_ssim", "curve")


def steps_to_threshold(curve, threshold: float, key: str = "ssim"):
    """(step, seconds) of the first curve point whose `key` >= threshold; (None, None) if none."""
    for point in curve:
        if point.get(key) is not None and point[key] >= threshold:
            return point["step"], point.get("seconds")
    return None, None


def apply_threshold(records: list[dict], fraction: float = 0.95, reference: str = "scratch") -> list[dict]:
    """Set `threshold`, `steps_to_threshold` and `seconds_to_threshold` of every record.

    The threshold of a seed is the `reference` arm's SSIM at step 0 plus `fraction` of its gain by the end:
    `s0 + fraction * (final - s0)` ("95% of scratch's final quality", measured on the gain, because an
    untrained model already scores ~0.2 SSIM and a plain 95% of the final value can be met at step 0).
    Returns the records.
    """
    refs = {}
    for r in records:
        if r["arm"] == reference:
            start = r["curve"][0]["ssim"] if r["curve"] and r["curve"][0]["step"] == 0 else 0.0
            refs[r["seed"]] = start + fraction * (r["final_ssim"] - start)
    for r in records:
        ref = refs.get(r["seed"])
        if ref is None:
            r["threshold"] = r["steps_to_threshold"] = r["seconds_to_threshold"] = None
            continue
        r["threshold"] = round(ref, 5)
        r["threshold_fraction"] = fraction
        r["steps_to_threshold"], secs = steps_to_threshold(r["curve"], r["threshold"])
        r["seconds_to_threshold"] = None if secs is None else round(secs, 1)
    return records


def _stats(values) -> dict:
    vals = [float(v) for v in values if v is not None]
    if not vals:
        return {"mean": None, "std": None, "min": None, "max": None, "n": 0}
    return {"mean": float(np.mean(vals)), "std": float(np.std(vals, ddof=1)) if len(vals) > 1 else 0.0,
            "min": min(vals), "max": max(vals), "n": len(vals)}


def summarize(records: list[dict]) -> dict:
    """Per arm: stats of steps/seconds to threshold (reached runs only), final SSIM/PSNR/swap_b, counts."""
    out = {}
    for arm in [a for a in ARMS if any(r["arm"] == a for r in records)] + \
            sorted({r["arm"] for r in records} - set(ARMS)):
        rs = [r for r in records if r["arm"] == arm]
        out[arm] = {"runs": len(rs),
                    "reached": sum(r.get("steps_to_threshold") is not None for r in rs),
                    "steps_to_threshold": _stats(r.get("steps_to_threshold") for r in rs),
                    "seconds_to_threshold": _stats(r.get("seconds_to_threshold") for r in rs),
                    "final_ssim": _stats(r["final_ssim"] for r in rs),
                    "final_psnr": _stats(r.get("final_psnr") for r in rs),
                    "final_swap_b": _stats(r.get("final_swap_b") for r in rs),
                    "final_swap_contrast": _stats(r.get("final_swap_contrast") for r in rs),
                    "seconds": _stats(r.get("seconds") for r in rs)}
    return out


def validate_records(records) -> list[dict]:
    """Check the JSON schema (a list of dicts with REQUIRED_KEYS and a curve of step/ssim points)."""
    if not isinstance(records, list) or not records:
        raise InputError("time-to-quality results must be a non-empty list of records")
    for i, r in enumerate(records):
        missing = [k for k in REQUIRED_KEYS if k not in r]
        if missing:
            raise InputError(f"record {i} lacks {missing}")
        st = r["steps_to_threshold"]
        if st is not None and not isinstance(st, int):
            raise InputError(f"record {i}: steps_to_threshold must be an int or null, got {st!r}")
        if not r["curve"] or not all("step" in p and "ssim" in p for p in r["curve"]):
            raise InputError(f"record {i}: curve must be a list of {{step, ssim, ...}} points")
    return records


def unfreeze_dips(records: list[dict]) -> list[float]:
    """For every stage change after step 0 that opens more of the encoder: held-out SSIM at the last
    evaluation before it minus the lowest SSIM in the next two evaluations (positive: quality fell)."""
    dips = []
    for r in records:
        curve = sorted(r.get("curve") or [], key=lambda p: p["step"])
        for stage in (r.get("stages") or [])[1:]:
            before = [p["ssim"] for p in curve if p["step"] <= stage["step"]]
            after = [p["ssim"] for p in curve if p["step"] > stage["step"]][:2]
            if before and after:
                dips.append(before[-1] - min(after))
    return dips



def _per_seed(records: list[dict], arm: str, key: str = "final_ssim") -> dict:
    return {r["seed"]: r.get(key) for r in records if r["arm"] == arm and r.get(key) is not None}


def paired_difference(records: list[dict], arm: str, other: str, key: str = "final_ssim") -> dict:
    """`arm` minus `other` on `key`, over the seeds both ran: {"mean", "std", "n", "per_seed"}."""
    a, b = _per_seed(records, arm, key), _per_seed(records, other, key)
    diffs = {s: a[s] - b[s] for s in sorted(a) if s in b}
    st = _stats(diffs.values())
    return {"mean": st["mean"], "std": st["std"], "n": st["n"], "per_seed": diffs}


def _noise(records: list[dict], *arms) -> float:
    """Seed noise of final SSIM: the largest sample std among `arms`; an arm that ran once has no std of
    its own and counts with the pooled std (root mean square) of the arms that ran on several seeds."""
    s = summarize(records)
    stds = [v["final_ssim"]["std"] or 0.0 for v in s.values() if v["final_ssim"]["n"] > 1]
    pooled = float(np.sqrt(np.mean(np.square(stds)))) if stds else 0.0
    return max([(s[a]["final_ssim"]["std"] if s[a]["final_ssim"]["n"] > 1 else pooled) or 0.0
                for a in arms if a in s] or [0.0])


def claims(records: list[dict]) -> list[dict]:
    """The seed discussion's three claims and the stretch, each judged from the records.

    Returns dicts {"claim", "held" (True, False, or None when an arm it needs did not run), "numbers"}.
    "Beyond seed noise" means the mean difference exceeds the larger seed std of the two arms; "at or
    above" allows a shortfall within that noise.
    """
    s = summarize(records)
    final = {a: v["final_ssim"]["mean"] for a, v in s.items()}
    once = {a for a, v in s.items() if v["runs"] == 1}

    def arm(a):
        return f"{a} {final[a]:.4f}" + (" (1 run)" if a in once else "")

    out = []

    # (1) a pretrained encoder shortcuts early training
    text = "staged-plateau reaches the threshold in at most 1/4 of scratch's steps"
    if "staged-plateau" in s and "scratch" in s:
        sp, sc = s["staged-plateau"]["steps_to_threshold"], s["scratch"]["steps_to_threshold"]
        if s["staged-plateau"]["reached"] < s["staged-plateau"]["runs"] or not sc["mean"]:
            out.append({"claim": text, "held": False,
                        "numbers": f"staged-plateau reached the threshold in {s['staged-plateau']['reached']} of "
                                   f"{s['staged-plateau']['runs']} runs"})
        else:
            ratio = sp["mean"] / sc["mean"]
            out.append({"claim": text, "held": ratio <= 0.25,
                        "numbers": f"{sp['mean']:.0f} ± {sp['std']:.0f} steps against scratch's "
                                   f"{sc['mean']:.0f} ± {sc['std']:.0f}: {ratio:.2f}x"})
    else:
        out.append({"claim": text, "held": None, "numbers": "staged-plateau or scratch did not run"})

    # (2) a frozen encoder never beats an encoder trained on the pair
    text = "frozen ends below staged and below scratch, beyond seed noise"
    staged = max((a for a in ("staged-plateau", "staged-steps") if a in s), key=final.get, default=None)
    if "frozen" in s and staged and "scratch" in s:
        parts, held = [], True
        for other in (staged, "scratch"):
            d = final["frozen"] - final[other]
            noise = _noise(records, "frozen", other)
            held &= d < -noise
            parts.append(f"{arm('frozen')} vs {arm(other)} ({d:+.4f}, noise {noise:.4f})")
        out.append({"claim": text, "held": bool(held), "numbers": "; ".join(parts)})
    else:
        out.append({"claim": text, "held": None, "numbers": "frozen, a staged arm or scratch did not run"})

    # (3) unfreezing once the decoders catch up gives the best end
    text = "staged ends at or above every other arm"
    if staged:
        others = [a for a in final if a not in ("staged-plateau", "staged-steps")]
        below = [a for a in others if final[staged] < final[a] - _noise(records, staged, a)]
        best_other = max(others, key=final.get) if others else None
        out.append({"claim": text, "held": not below,
                    "numbers": (f"best staged arm {arm(staged)}; best other arm {arm(best_other)}, difference "
                                f"{final[staged] - final[best_other]:+.4f} against noise "
                                f"{_noise(records, staged, best_other):.4f}" if best_other else arm(staged))
                               + (f"; ends measurably below {', '.join(below)}" if below else "")})
    else:
        out.append({"claim": text, "held": None, "numbers": "no staged arm ran"})

    # stretch: a global encoder that, frozen, ends within 2% of the pair-trained encoder
    text = "stretch: frozen ends within 2% of the best pair-trained encoder's final SSIM"
    trained = [a for a in ("scratch", "open", "staged-steps", "staged-plateau") if a in final]
    if "frozen" in final and trained:
        best = max(trained, key=final.get)
        gap = 1 - final["frozen"] / final[best]
        out.append({"claim": text, "held": gap <= 0.02,
                    "numbers": f"{arm('frozen')} vs {arm(best)}: "
                               f"{100 * abs(gap):.1f}% {'below' if gap > 0 else 'above'}"})
    else:
        out.append({"claim": text, "held": None, "numbers": "frozen or a pair-trained arm did not run"})
    return out


def pretraining_effect(records: list[dict]) -> dict | None:
    """What pretraining adds over random features: frozen minus frozen-random (final SSIM, swap contrast),
    paired by seed; None when either arm did not run."""
    if not _per_seed(records, "frozen") or not _per_seed(records, "frozen-random"):
        return None
    return {"final_ssim": paired_difference(records, "frozen", "frozen-random"),
            "final_swap_contrast": paired_difference(records, "frozen", "frozen-random", "final_swap_contrast"),
            "scratch_final_ssim_minus_frozen_random": paired_difference(records, "scratch", "frozen-random")}


def late_gain(record: dict, fraction: float = 0.8, evals: int = 3) -> float | None:
    """Relative SSIM gain of a run over its last (1 - fraction) of steps: the mean of its last `evals`
    evaluations over the mean of the `evals` evaluations nearest the `fraction` point. Under 0.02 means
    the run has flattened (the budget rule of the real-pair experiment)."""
    curve = sorted(record.get("curve") or [], key=lambda p: p["step"])
    if len(curve) < 2 * evals:
        return None
    mark = fraction * curve[-1]["step"]
    near = sorted(curve[:-evals], key=lambda p: abs(p["step"] - mark))[:evals]
    before = float(np.mean([p["ssim"] for p in near]))
    end = float(np.mean([p["ssim"] for p in curve[-evals:]]))
    return end / before - 1 if before > 0 else None


def scratch_late_gains(records: list[dict]) -> list[float]:
    """`late_gain` of every scratch run (the budget rule: each under 0.02 means scratch has flattened)."""
    return [g for g in (late_gain(r) for r in records if r["arm"] == "scratch") if g is not None]
