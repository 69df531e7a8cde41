"""The time-to-quality evidence on real pairs: the split, the claims' verdicts, the README blocks, and the
committed results' provenance (staleness: they must come from the current evaluation code)."""
import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from zoo.bench import evidence, pairs, stats
from zoo.bench.provenance import source_hash

ROOT = Path(__file__).resolve().parents[1]
RESULTS = sorted((ROOT / "benchmarks" / "results").glob("time_to_quality*.json"))


# --- staleness of the committed results -----------------------------------------------------------------

@pytest.mark.parametrize("path", RESULTS, ids=lambda p: p.name)
def test_committed_results_come_from_the_current_evaluation_code(path):
    records = evidence.load_records(path)
    hashes = {r.get("eval_code_hash") for r in records}
    commits = {r.get("git_commit") for r in records}
    assert None not in hashes and None not in commits, f"{path.name}: records without provenance; rerun it"
    assert hashes == {evidence.evaluation_hash()}, (
        f"{path.name} was produced by evaluation code {sorted(hashes)}; the current code hashes to "
        f"{evidence.evaluation_hash()}. The evaluation path changed since (see zoo.bench.evidence.evaluation_path): "
        f"rerun `{evidence.reproduce_command(records)}` and commit the new results.")
    (commit,) = commits
    assert not commit.endswith("-dirty"), f"{path.name} ran on uncommitted code"
    if (ROOT / ".git").exists():
        known = subprocess.run(["git", "cat-file", "-e", f"{commit}^{{commit}}"], cwd=ROOT, capture_output=True)
        assert known.returncode == 0, f"{path.name} names commit {commit}, which this repository does not have"


def test_both_results_files_are_committed():
    names = {p.name for p in RESULTS}
    assert {"time_to_quality.json", "time_to_quality_real.json"} <= names


def test_real_results_hold_the_six_arms_and_name_the_pair():
    path = ROOT / "benchmarks" / "results" / "time_to_quality_real.json"
    records = evidence.load_records(path)
    assert {r["arm"] for r in records} == set(stats.ARMS)
    assert len({r["seed"] for r in records}) == 3
    cfg = records[0]["config"]
    assert len(cfg["pair"]) == 2 and cfg["size"] >= 64 and cfg["pretrained"]
    md = path.with_suffix(".md").read_text()
    for claim in stats.claims(records):
        assert claim["numbers"] in md
    readme = (ROOT / "README.md").read_text()
    start, end = evidence.readme_markers(records)
    assert readme[readme.index(start):readme.index(end)].strip() == evidence.readme_section(records)[:-len(end)].strip()


def test_evaluation_hash_follows_the_source():
    def f(x):
        return x + 1

    def g(x):
        return x + 2

    assert source_hash([f]) != source_hash([g])
    assert source_hash([f, g]) != source_hash([g, f])
    assert len(evidence.evaluation_hash()) == 16
    assert evidence.masked_quality in evidence.evaluation_path()


# --- the real pair's split ------------------------------------------------------------------------------

def test_split_faces_is_disjoint_fixed_and_time_ordered_for_video():
    files = [f"f{i:03d}" for i in range(100)]
    train, probe, ev = pairs.split_faces(files, probe_fraction=0.2, eval_fraction=0.2, seed=3, ordered=False)
    assert len(train) == 60 and len(probe) == 20 and len(ev) == 20
    assert not (set(train) & set(probe)) and not (set(train) & set(ev)) and not (set(probe) & set(ev))
    assert (train, probe, ev) == pairs.split_faces(files, probe_fraction=0.2, eval_fraction=0.2, seed=3,
                                                   ordered=False)
    assert train != files[:60]  # photos are shuffled
    train, probe, ev = pairs.split_faces(files, probe_fraction=0.2, eval_fraction=0.2, seed=3, ordered=True)
    assert train == files[:60] and probe == files[60:80] and ev == files[80:]  # frames: contiguous blocks
    many = [f"f{i:04d}" for i in range(1000)]
    _, probe, ev = pairs.split_faces(many, probe_fraction=0.2, eval_fraction=0.2, seed=0, ordered=True)
    assert len(probe) == pairs.MAX_HELD_OUT and len(ev) == pairs.MAX_HELD_OUT and ev[-1] == many[-1]


def test_real_pair_rejects_bad_people(tmp_path):
    from zoo.errors import InputError

    with pytest.raises(InputError, match="no such file"):
        pairs.real_pair([str(tmp_path / "nobody"), str(tmp_path)], 64)
    with pytest.raises(InputError, match="two people"):
        pairs.real_pair([str(tmp_path)], 64)
    with pytest.raises(InputError, match="Donald_Rumsfeld"):
        pairs.real_pair(["lfw:", "lfw:x"], 64)


def test_real_pair_from_extracted_faces_folders(tmp_path):
    """Folders written by `facezoo extract` are used as they are (no detector runs)."""
    import cv2

    from zoo.data.extract import ALIGNMENTS_FILE

    rng = np.random.default_rng(0)
    for person, level in (("a", 60), ("b", 190)):
        folder = tmp_path / person
        folder.mkdir()
        with open(folder / ALIGNMENTS_FILE, "w") as f:
            for i in range(15):
                img = np.clip(level + rng.normal(0, 20, (96, 96, 3)), 0, 255).astype(np.uint8)
                cv2.imwrite(str(folder / f"{i:03d}.png"), img)
                f.write(json.dumps({"type": "face", "source": f"{i}.jpg", "sha256": str(i), "crop": f"{i:03d}.png"})
                        + "\n")
                f.write(json.dumps({"type": "done", "source": f"{i}.jpg", "sha256": str(i)}) + "\n")
    data = pairs.real_pair([str(tmp_path / "a"), str(tmp_path / "b")], 64)
    assert data.counts() == {k: {"train": 9, "probe": 3, "eval": 3} for k in "ab"}
    assert data.train["a"].shape == (9, 64, 64, 3) and data.train["a"].dtype == np.uint8
    assert data.eval["a"].mean() < 100 < data.eval["b"].mean()
    assert data.sources["a"]["kind"] == "extracted"


def test_real_pair_from_lfw_people(face_data):
    """Two LFW people (about 20 photos each) through facezoo's own MTCNN alignment, split and probed."""
    lfw = face_data / "lfw"
    data = pairs.real_pair([f"lfw:{lfw}:Angelina_Jolie", f"lfw:{lfw}:Hamid_Karzai"], 64)
    assert data.names == ("Angelina_Jolie", "Hamid_Karzai")
    c = data.counts()
    assert c["a"] == {"train": 12, "probe": 4, "eval": 4} and c["b"]["train"] >= 12
    assert data.sources["a"]["faces"] == 20
    probe = evidence.IdentityProbe().fit(np.concatenate([data.probe["a"], data.probe["b"]]),
                                         np.repeat([0, 1], [c["a"]["probe"], c["b"]["probe"]]))
    acc = probe.accuracy(np.concatenate([data.eval["a"], data.eval["b"]]),
                         np.repeat([0, 1], [c["a"]["eval"], c["b"]["eval"]]))
    assert acc >= 0.6  # the pixel probe tells two real people apart on faces it never saw


# --- claims ---------------------------------------------------------------------------------------------

def _rec(arm, seed, final, steps):
    curve = [{"step": 0, "ssim": 0.2}, {"step": 100, "ssim": final}]
    return {"arm": arm, "seed": seed, "final_ssim": final, "steps_to_threshold": steps, "curve": curve,
            "final_swap_contrast": 0.5 if arm != "frozen-random" else 0.1}


def test_claims_verdicts_follow_the_numbers():
    recs = []
    for seed in (0, 1, 2):
        d = 0.001 * seed
        recs += [_rec("scratch", seed, 0.60 + d, 800), _rec("frozen-random", seed, 0.50 + d, 900),
                 _rec("frozen", seed, 0.55 + d, 300), _rec("staged-plateau", seed, 0.62 + d, 150)]
    c = stats.claims(recs)
    assert [x["held"] for x in c] == [True, True, True, False]
    assert "0.19x" in c[0]["numbers"]
    eff = stats.pretraining_effect(recs)
    assert eff["final_ssim"]["mean"] == pytest.approx(0.05) and eff["final_ssim"]["n"] == 3
    # frozen within noise of staged: claim 2 fails; frozen within 2%: the stretch holds
    for r in recs:
        if r["arm"] == "frozen":
            r["final_ssim"] += 0.065
    c = stats.claims(recs)
    assert c[1]["held"] is False and c[3]["held"] is True
    # an arm missing: not tested
    assert stats.claims([r for r in recs if r["arm"] != "staged-plateau"])[0]["held"] is None


def test_readme_keeps_one_block_per_results_file(tmp_path, ttq_records):
    ttq_records = ttq_records()
    readme = tmp_path / "README.md"
    readme.write_text("# x\n\n## Results\n\nold\n\n## Next\n")
    evidence.update_readme(readme, ttq_records)
    real = [dict(r, config={**r["config"], "pair": ["lfw:A", "lfw:B"], "pretrained": "rel"}) for r in ttq_records]
    evidence.update_readme(readme, real)
    text = readme.read_text()
    s_real, _ = evidence.readme_markers(real)
    assert text.index(s_real) < text.index(evidence.README_START) < text.index("## Next")
    evidence.update_readme(readme, real)  # regenerated in place, not duplicated
    assert readme.read_text().count(s_real) == 1 and "time_to_quality_real.png" in readme.read_text()
