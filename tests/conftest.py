"""Test isolation: Keras, facezoo and Hugging Face caches live in temp folders, never in $HOME."""
import os
import tempfile

import pytest

_SESSION_HOME = tempfile.mkdtemp(prefix="facezoo-tests-")
os.environ["KERAS_HOME"] = os.path.join(_SESSION_HOME, "keras")
os.environ["FACEZOO_HOME"] = os.path.join(_SESSION_HOME, "facezoo")
os.environ["HF_HOME"] = os.path.join(_SESSION_HOME, "hf")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.pop("FACEZOO_HUB", None)
os.environ.pop("HF_TOKEN", None)


@pytest.fixture
def isolated_home(tmp_path, monkeypatch):
    """A fresh FACEZOO_HOME/HF_HOME per test, for tests that must start from a cold cache."""
    monkeypatch.setenv("FACEZOO_HOME", str(tmp_path / "facezoo"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("FACEZOO_HUB", raising=False)
    return tmp_path
