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


# --- time-to-quality records: the builder lives in tests/_support.py (shared helpers, imported by name) ---

@pytest.fixture
def ttq_records():
    """A builder of small time-to-quality records: scratch, staged-steps and frozen arms over 2 seeds."""
    from _support import ttq_records
    return ttq_records
