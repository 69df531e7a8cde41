"""Load the pickles of other tools' face sets without ever running their code.

faceswap's `.fsa` alignments (zlib-compressed pickle) and DeepFaceLab's aligned JPEGs (a pickled dict in
the JPEG's APP15 segment) are Python pickles, and unpickling runs whatever callable a file names: a
shared `.fsa` could run any program. `safe_loads` admits plain data only (dict, list, tuple, str, bytes,
int, float, bool, None, which pickle builds without naming any callable) and numpy arrays, scalars and
dtypes of numeric types through a fixed allow-list (older faceswap files and DFL's masks hold arrays);
any other global a pickle names is refused with `UnsafePickleError` before it is called.
"""
from __future__ import annotations

import io
import pickle

from zoo.errors import DataError


class UnsafePickleError(DataError):
    """A pickle names a callable outside the allow-list: refused, nothing was run."""


def _numpy_allowed() -> dict:
    import numpy as np

    def reconstruct(subtype, shape, dtype):
        if subtype is not np.ndarray:
            raise UnsafePickleError(f"only plain numpy arrays are admitted, not {subtype!r}")
        return np.ndarray.__new__(np.ndarray, shape, dtype)

    def dtype(spec, align=False, copy=True):
        d = np.dtype(spec, align, copy)
        if d.hasobject:
            raise UnsafePickleError(f"numpy dtype {spec!r} holds Python objects; only numeric arrays are admitted")
        return d

    def scalar(dt, data=None):
        if not isinstance(dt, np.dtype) or dt.hasobject or not isinstance(data, bytes):
            raise UnsafePickleError("only numeric numpy scalars are admitted")
        return np.frombuffer(data, dtype=dt, count=1)[0]

    allowed = {("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): dtype}
    for mod in ("numpy.core.multiarray", "numpy._core.multiarray"):
        allowed[(mod, "_reconstruct")] = reconstruct
        allowed[(mod, "scalar")] = scalar
    return allowed


class _PlainUnpickler(pickle.Unpickler):
    def __init__(self, data: bytes, what: str):
        super().__init__(io.BytesIO(data))
        self.what = what
        self.allowed = None

    def find_class(self, module, name):
        if self.allowed is None:
            self.allowed = _numpy_allowed()
        found = self.allowed.get((module, name))
        if found is None:
            raise UnsafePickleError(
                f"{self.what} asks to run {module}.{name} while loading: refused (only plain data and numeric "
                "numpy arrays are loaded; nothing in the file was run). If you made this file with faceswap "
                "or DeepFaceLab yourself, report the name; otherwise do not use the file.")
        return found

    def persistent_load(self, pid):
        raise UnsafePickleError(f"{self.what} uses pickle persistent ids: refused")


def safe_loads(data: bytes, what: str = "the file"):
    """Unpickle `data` admitting plain data and numeric numpy arrays only (see the module docstring).

    Args:
        data: the pickle's bytes.
        what: names the file in error messages, e.g. "alignments.fsa".
    """
    try:
        return _PlainUnpickler(data, what).load()
    except UnsafePickleError:
        raise
    except Exception as exc:  # noqa: BLE001 - any damage in the bytes
        raise DataError(f"{what} is not a readable pickle ({type(exc).__name__}: {exc}); is it damaged or "
                        "of another format?") from None
