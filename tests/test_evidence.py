"""zoo.bench.evidence: evaluation (SSIM/PSNR/probe), thresholds, results schema, tables, plots, README block."""
import json

import numpy as np
import pytest

from zoo.bench import evidence


def _faces(n, seed, level):
    rng = np.random.default_rng(seed)
    x = np.full((n, 16, 16, 3), level, np.float32)
    return np.clip(x + rng.normal(0, 0.05, x.shape), 0, 1).astype(np.float32)


def test_masked_quality_orders_reconstructions():
    rng = np.random.default_rng(0)
    true = rng.random((4, 32, 32, 3)).astype(np.float32)
    mask = np.ones((32, 32), np.float32)
    s_same, p_same = evidence.masked_quality(true, true, mask)
    s_noisy, p_noisy = evidence.masked_quality(true, np.clip(true + rng.normal(0, 0.2, true.shape), 0, 1), mask)
    assert s_same == pytest.approx(1.0, abs=1e-4) and p_same > 60
    assert s_noisy < 0.9 and p_noisy < 20
    # uint8 input is scaled like float input; a zero mask outside the face ignores the outside
    s_u8, _ = evidence.masked_quality((true * 255).astype(np.uint8), true, mask)
    assert s_u8 > 0.99
    half = np.zeros((32, 32), np.float32)
    half[:, :16] = 1
    bad = true.copy()
    bad[:, :, 16:] = 0
    assert evidence.masked_quality(true, bad, half)[0] > evidence.masked_quality(true, bad, mask)[0]


def test_identity_probe_tells_two_identities_apart():
    a, b = _faces(20, 0, 0.3), _faces(20, 1, 0.7)
    probe = evidence.IdentityProbe().fit(np.concatenate([a[:10], b[:10]]), np.repeat([0, 1], 10))
    assert probe.accuracy(np.concatenate([a[10:], b[10:]]), np.repeat([0, 1], 10)) == 1.0
    assert (probe.predict(b[10:]) == 1).all() and (probe.predict((a[10:] * 255).astype(np.uint8)) == 0).all()


def test_steps_to_threshold_and_apply_threshold(ttq_records):
    from _support import ttq_curve
    curve = ttq_curve([0.1, 0.4, 0.8])
    assert evidence.steps_to_threshold(curve, 0.4) == (10, 2.0)
    assert evidence.steps_to_threshold(curve, 0.9) == (None, None)
    recs = ttq_records()
    by = {(r["arm"], r["seed"]): r for r in recs}
    # threshold: scratch's step-0 SSIM plus 95% of its gain
    assert by["scratch", 0]["threshold"] == pytest.approx(0.2 + 0.95 * 0.4)
    assert by["scratch", 0]["steps_to_threshold"] == 30
    assert by["staged-steps", 0]["steps_to_threshold"] == 10 and by["staged-steps", 0]["seconds_to_threshold"] == 2.0
    assert by["frozen", 1]["steps_to_threshold"] is None
    s = evidence.summarize(recs)
    assert s["frozen"]["reached"] == 0 and s["staged-steps"]["final_ssim"]["n"] == 2
    assert s["staged-steps"]["final_ssim"]["std"] > 0


def test_results_files_table_plot_and_cards(tmp_path, ttq_records):
    recs = ttq_records()
    paths = evidence.write_results(recs, tmp_path / "time_to_quality")
    loaded = evidence.load_records(paths["json"])
    assert isinstance(loaded, list) and {r["arm"] for r in loaded} == {"scratch", "staged-steps", "frozen"}
    for r in loaded:
        assert {"arm", "seed", "steps_to_threshold", "final_ssim", "curve"} <= set(r)
    md = paths["md"].read_text()
    assert "| staged-steps |" in md and "never" in md and "0.7050 ± 0.0071" in md
    assert paths["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    metrics = evidence.card_metrics(recs)
    assert metrics["ttq_staged_steps_steps_to_threshold_mean"] == 10.0 and metrics["ttq_frozen_reached"] == 0
    assert all(isinstance(v, (int, float)) for v in metrics.values())
    with pytest.raises(ValueError):
        evidence.validate_records([{"arm": "x"}])


def test_readme_section_is_generated_and_regenerated(tmp_path, ttq_records):
    readme = tmp_path / "README.md"
    readme.write_text("# x\n\n## Results\n\nold words\n\n## After\n\nkept\n")
    recs = ttq_records()
    text = evidence.update_readme(readme, recs)
    assert "old words" not in text and "## After\n\nkept" in text and "## Results" in text
    assert evidence.README_START in text and "facezoo bench time-to-quality" in text
    assert "| staged-steps |" in text
    recs[1]["final_ssim"] = 0.123  # regenerate from changed records: block replaced, nothing duplicated
    again = evidence.update_readme(readme, recs)
    assert again.count(evidence.README_START) == 1 and again.count("## After") == 1
    assert again == readme.read_text()


def test_cli_from_json_regenerates(tmp_path, monkeypatch, capsys, ttq_records):
    from recipes.cli import main

    recs = ttq_records()
    src = tmp_path / "in.json"
    src.write_text(json.dumps(recs))
    readme = tmp_path / "README.md"
    readme.write_text("# x\n\n## Results\n\nplaceholder\n")
    code = main(["bench", "time-to-quality", "--from-json", str(src), "--results", str(tmp_path / "r"),
                 "--update-readme", str(readme)])
    assert code == 0
    assert (tmp_path / "r" / "time_to_quality.png").exists()
    assert "placeholder" not in readme.read_text()
    assert main(["bench", "time-to-quality", "--from-json", str(tmp_path / "nope.json")]) == 2


@pytest.mark.slow
def test_micro_run_writes_the_schema(tmp_path):
    """2 arms x 1 seed x 6 steps at 32 px, with a 4-step pretraining. faceswap's conv encoder: TensorFlow
    traces its steps in seconds, where mobilenet-face's take about a minute each on 2 CPUs."""
    cfg = evidence.BenchConfig(encoder="fs-original", steps=6, eval_every=3, seeds=(0,),
                               arms=("scratch", "staged-steps"),
                               pretrain_steps=4, identities=6, train_images=8, eval_images=4, probe_images=8,
                               pretrain_batch=4)
    recs = evidence.run_benchmark(cfg, tmp_path / "out", progress=lambda s: None)
    paths = evidence.write_results(recs, tmp_path / "results" / "time_to_quality")
    loaded = json.loads(paths["json"].read_text())
    assert [r["arm"] for r in loaded] == ["scratch", "staged-steps"]
    for r in loaded:
        assert [p["step"] for p in r["curve"]] == [0, 3, 6]
        assert r["steps_to_threshold"] is None or isinstance(r["steps_to_threshold"], int)
        assert 0 <= r["final_ssim"] <= 1 and 0 <= r["final_swap_b"] <= 1
    staged = loaded[1]
    assert [s["trainable"] for s in staged["stages"]] == ["none", "top2", "all"]


def test_published_card_carries_the_evidence_table_outside_model_index(tmp_path, ttq_records):
    from hub.cards import card_data, render_card
    from zoo.bench.evidence import evidence_metadata

    assert evidence_metadata(tmp_path / "missing.json") == {}
    (tmp_path / "r.json").write_text(json.dumps(ttq_records()))
    ev = evidence_metadata(tmp_path / "r.json")
    assert [row["arm"] for row in ev["arms"]][0] == "scratch" and ev["command"].startswith(evidence.COMMAND)
    meta = {"metrics": {"transfer_ssim": 0.5}, "evidence": ev}
    card = render_card("team/enc", meta)
    section = card[card.index("## Does staged unfreezing pay?"):card.index("## Lineage")]
    for row in ev["arms"]:
        line = next(ln for ln in section.splitlines() if ln.startswith(f"| {row['arm']} |"))
        assert f"{row['reached']}/{row['runs']}" in line and str(row["final_ssim"]) in line
    assert ev["command"] in section
    # the release's model-index holds only this release's own measurements
    index = card_data("team/enc", meta).to_dict()["model-index"][0]["results"]
    assert [r["metrics"][0]["type"] for r in index] == ["transfer_ssim"]
    assert "Does staged unfreezing pay?" not in render_card("team/enc", {"metrics": {"transfer_ssim": 0.5}})


def test_interpretation_explains_a_frozen_arm_that_does_not_stall(ttq_records):
    recs = ttq_records()
    assert not any(n.startswith("Frozen did not end below staged") for n in evidence.interpretation(recs))
    # staged-steps unfreezes at step 10: 0.6 there, 0.5 next -> a dip of 0.1 for seed 0
    for r in recs:
        if r["arm"] == "staged-steps":
            r["curve"][2]["ssim"] = 0.5
        if r["arm"] == "frozen":
            r["curve"][-1]["ssim"] = r["final_ssim"] = 0.75
    assert evidence.unfreeze_dips([r for r in recs if r["arm"] == "staged-steps"]) == pytest.approx([0.1, 0.1])
    notes = evidence.interpretation(evidence.apply_threshold(recs, 0.95))
    frozen_note = next(n for n in notes if n.startswith("Frozen did not end below staged"))
    assert "0.750" in frozen_note and "fell by 0.100" in frozen_note and "lr=0.1" in frozen_note
