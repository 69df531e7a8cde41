"""Test isolation: Keras, facezoo and Hugging Face caches live in temp folders, never in $HOME."""
import os
import tempfile
from pathlib import Path

import pytest

_SESSION_HOME = tempfile.mkdtemp(prefix="facezoo-tests-")
os.environ["KERAS_HOME"] = os.path.join(_SESSION_HOME, "keras")
os.environ["FACEZOO_HOME"] = os.path.join(_SESSION_HOME, "facezoo")
os.environ["HF_HOME"] = os.path.join(_SESSION_HOME, "hf")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.pop("FACEZOO_HUB", None)
os.environ.pop("HF_TOKEN", None)

# The hub fixtures are session-scoped and defined once, here (after the
# environment above, which huggingface_hub reads on import): imported into each test module they were one
# `facezoo hub serve` process (~600 MB) per module.
from test_hub_support import served, tiny_keras  # noqa: E402,F401  (session fixtures)


FACE_DATA = Path(os.environ.get("FACEZOO_FACE_DATA")
                 or Path(__file__).resolve().parents[1].parent / "shared" / "face_data")


@pytest.fixture
def face_data() -> Path:
    """The real faces beside the project (`../shared/face_data` or $FACEZOO_FACE_DATA): LFW and clips."""
    if not (FACE_DATA / "lfw" / "pairsDevTest.txt").is_file():
        pytest.skip(f"real face data is absent ({FACE_DATA}; set $FACEZOO_FACE_DATA to a folder with lfw/ "
                    "and videos/ to run this test)")
    return FACE_DATA


@pytest.fixture
def isolated_home(tmp_path, monkeypatch):
    """A fresh FACEZOO_HOME/HF_HOME per test, for tests that must start from a cold cache."""
    monkeypatch.setenv("FACEZOO_HOME", str(tmp_path / "facezoo"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("FACEZOO_HUB", raising=False)
    return tmp_path


# --- time-to-quality records (zoo.bench.evidence schema) for the evidence, card and report tests ---------------

def _ttq_curve(values, every=10):
    return [{"step": i * every, "ssim": v, "psnr": 10 + v, "swap_b": v, "swap_contrast": v - 0.5, "seconds": i * 2.0}
            for i, v in enumerate(values)]


def _ttq_records():
    from zoo.bench import evidence

    recs = []
    for seed in (0, 1):
        recs.append({"arm": "scratch", "seed": seed, "schedule": "all", "curve": _ttq_curve([0.2, 0.3, 0.5, 0.6]),
                     "final_ssim": 0.6, "final_psnr": 10.6, "final_swap_b": 0.6, "steps_to_threshold": None,
                     "stages": [{"step": 0, "trainable": "all", "reason": "start"}],
                     "config": evidence.BenchConfig(steps=30, eval_every=10, seeds=(0, 1)).to_dict(),
                     "probe_accuracy": 1.0, "total_seconds": 60})
        recs.append({"arm": "staged-steps", "seed": seed, "schedule": "frozen; all@10",
                     "curve": _ttq_curve([0.2, 0.6, 0.65, 0.7 + 0.01 * seed]), "final_ssim": 0.7 + 0.01 * seed,
                     "final_psnr": 10.7, "final_swap_b": 0.9, "steps_to_threshold": None,
                     "stages": [{"step": 0, "trainable": "none", "reason": "start"},
                                {"step": 10, "trainable": "all", "reason": "step"}],
                     "config": recs[0]["config"], "probe_accuracy": 1.0, "total_seconds": 60})
        recs.append({"arm": "frozen", "seed": seed, "schedule": "frozen", "curve": _ttq_curve([0.2, 0.25, 0.3, 0.35]),
                     "final_ssim": 0.35, "final_psnr": 10.35, "final_swap_b": 0.1, "steps_to_threshold": None,
                     "stages": [{"step": 0, "trainable": "none", "reason": "start"}],
                     "config": recs[0]["config"], "probe_accuracy": 1.0, "total_seconds": 60})
    return evidence.apply_threshold(recs, 0.95)


@pytest.fixture
def ttq_records():
    """A builder of small time-to-quality records: scratch, staged-steps and frozen arms over 2 seeds."""
    return _ttq_records
