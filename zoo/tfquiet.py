"""Import TensorFlow without the lines that look like failures but are not.

Importing TensorFlow prints, from C++ and before its logging is initialised (so `TF_CPP_MIN_LOG_LEVEL`
cannot hide them, and each twice, once per shared library): the absl "All log messages before
absl::InitializeLog()" banner, "oneDNN custom operations are on", "Could not find cuda drivers",
the CPU-feature notice, and on machines with CUDA libraries but no GPU `cuInit ... UNKNOWN ERROR (303)`.
A new user reads them as errors. `import_tensorflow_quietly()` runs the import (and the first device
query, where cuInit happens) with file descriptor 2 sent to a temporary file, then writes back every
line that is not on the list below: real errors still reach the user. Later C++ warnings (grappler's
"GeneratorDataset iterator" at exit) are below `TF_CPP_MIN_LOG_LEVEL=2`, which is set first unless
the user chose a level. Grappler's "remapper failed" is logged as an ERROR while the first step of each
compile is optimised, and is harmless (the graph runs unfused): `StderrFilter` covers that window
(`zoo.progress.Progress` starts it before the first step and stops it after).
"""
from __future__ import annotations

import contextlib
import importlib.util
import os
import re
import sys
import tempfile

HARMLESS = tuple(re.compile(p) for p in (
    r"^WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR\s*$",
    r"\] oneDNN custom operations are on\.",
    r"\] Could not find cuda drivers on your machine",
    r"\] This TensorFlow binary is optimized to use available CPU instructions",
    r"^To enable the following instructions: .* rebuild TensorFlow with the appropriate compiler flags\.",
    r"failed call to cuInit: .*UNKNOWN ERROR \(303\)",
    r"\] Unable to register cu(DNN|FFT|BLAS) factory",
    r"computation placer already registered",
    r"TF-TRT Warning: Could not find TensorRT",
    r"^E0000 00:00:\d+\.\d+\s+\d+ cuda_executor\.cc:\d+\] failed call to cuInit",
    r"meta_optimizer\.cc:\d+\] remapper failed: ",
    r"\] Local rendezvous is aborting with status: OUT_OF_RANGE",
    r"GeneratorDataset iterator",
))


_ACTIVE: list = []  # filters now holding fd 2, innermost last


def user_stderr_fd() -> int:
    """The file descriptor that reaches the user's stderr now, even while a filter holds fd 2 (for
    messages that must show at once, such as the Ctrl-C notice)."""
    return _ACTIVE[0]._saved if _ACTIVE else 2


def is_harmless(line: str) -> bool:
    return any(p.search(line) for p in HARMLESS)


class StderrFilter:
    """Between `start()` and `stop()`, fd 2 goes to a temporary file; `stop()` writes back every line
    that is not harmless. Idempotent; a temp file (not a pipe) so a writer can never block."""

    def __init__(self):
        self._saved = None
        self._tmp = None

    def start(self) -> None:
        if self._saved is not None:
            return
        try:
            sys.stderr.flush()
            saved = os.dup(2)
        except (OSError, ValueError, AttributeError):  # no real stderr (embedded, some notebooks)
            return
        self._tmp = tempfile.TemporaryFile()
        self._saved = saved
        os.dup2(self._tmp.fileno(), 2)
        _ACTIVE.append(self)

    def stop(self) -> None:
        if self._saved is None:
            return
        with contextlib.suppress(OSError, ValueError):
            sys.stderr.flush()
        os.dup2(self._saved, 2)
        os.close(self._saved)
        self._saved = None
        if self in _ACTIVE:
            _ACTIVE.remove(self)
        tmp, self._tmp = self._tmp, None
        with tmp:
            tmp.seek(0)
            kept = [line for line in tmp.read().decode("utf-8", "replace").splitlines(keepends=True)
                    if line.strip() and not is_harmless(line)]
        if kept:
            os.write(2, "".join(kept).encode())


@contextlib.contextmanager
def filtered_stderr():
    """Send fd 2 to a temporary file inside the block; afterwards write back the lines that matter."""
    filt = StderrFilter()
    filt.start()
    try:
        yield
    finally:
        filt.stop()


def _keras_backend() -> str:
    """The backend Keras will pick, without importing it: $KERAS_BACKEND, else keras.json, else TF."""
    if os.environ.get("KERAS_BACKEND"):
        return os.environ["KERAS_BACKEND"]
    import json
    from pathlib import Path
    home = Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras")
    try:
        return json.loads((home / "keras.json").read_text()).get("backend", "tensorflow")
    except (OSError, ValueError, AttributeError):
        return "tensorflow"


def import_tensorflow_quietly() -> bool:
    """Import TensorFlow (if it is the Keras backend and installed) without its harmless start-up lines.

    Returns True when TensorFlow is loaded afterwards. A no-op when it is already imported.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")  # see zoo/__init__.py
    if "tensorflow" in sys.modules:
        return True
    if _keras_backend() != "tensorflow" or importlib.util.find_spec("tensorflow") is None:
        return False
    with filtered_stderr():
        import tensorflow as tf
        with contextlib.suppress(Exception):  # the first device query is where cuInit runs
            tf.config.list_physical_devices()
    return True
