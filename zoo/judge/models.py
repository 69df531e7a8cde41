"""Where the judge's dlib models live, and loading them (only when a judgement is asked for).

The `judge` extra (`pip install -e ".[judge]"`) installs `dlib-bin` (a prebuilt dlib wheel, no BLAS) and
`face-recognition-models` (dlib's model files). That package's `__init__` imports `pkg_resources`, which
new setuptools no longer ships, so it is never imported: its folder is found with
`importlib.util.find_spec`, which reads the package's location without running its code.

Only two files are ever loaded, both released by dlib's author into the public domain:
`dlib_face_recognition_resnet_model_v1.dat` (the face recognition ResNet: 99.38% on LFW, trained on about
3 million faces of 7,485 people, none of them LFW people) and `shape_predictor_5_face_landmarks.dat`.
The package's `shape_predictor_68_face_landmarks.dat` is licensed for non-commercial use only (iBUG 300-W)
and is never named here.
"""
from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

from zoo.errors import FacezooError

__all__ = ["JudgeUnavailableError", "INSTALL_HINT", "RECOGNIZER_FILE", "LANDMARKS_FILE", "model_files",
           "available", "load_models", "MODEL_ID"]

INSTALL_HINT = 'pip install -e ".[judge]"'
RECOGNIZER_FILE = "dlib_face_recognition_resnet_model_v1.dat"
LANDMARKS_FILE = "shape_predictor_5_face_landmarks.dat"
# Part of every cache key: a change of model, chip size or detector invalidates cached embeddings.
MODEL_ID = "dlib-resnet-v1+5pt+chip150+hog-v1"


class JudgeUnavailableError(FacezooError):
    """The `judge` extra (dlib and its model files) is not installed."""


def _models_dir() -> Path:
    spec = importlib.util.find_spec("face_recognition_models")   # locates the folder, runs no code
    if spec is None or not spec.submodule_search_locations:
        raise JudgeUnavailableError("the judge needs dlib's face models (package face-recognition-models), "
                                    f"which is not installed. Install the extra: {INSTALL_HINT}")
    return Path(list(spec.submodule_search_locations)[0]) / "models"


def model_files() -> dict[str, Path]:
    """{'recognizer': path, 'landmarks': path} of the two model files, checked to exist."""
    folder = _models_dir()
    files = {"recognizer": folder / RECOGNIZER_FILE, "landmarks": folder / LANDMARKS_FILE}
    for path in files.values():
        if not path.is_file():
            raise JudgeUnavailableError(f"dlib model file {path} is missing; reinstall the extra: {INSTALL_HINT}")
    return files


def _import_dlib():
    try:
        import dlib
    except ImportError:
        raise JudgeUnavailableError(f"the judge needs dlib, which is not installed. Install the extra: "
                                    f"{INSTALL_HINT}") from None
    return dlib


def available() -> tuple[bool, str]:
    """(True, '') when the judge can run, else (False, why): for tools that skip the judge cleanly."""
    try:
        model_files()
        if importlib.util.find_spec("dlib") is None:
            _import_dlib()
    except JudgeUnavailableError as exc:
        return False, str(exc)
    return True, ""


@functools.lru_cache(maxsize=1)
def load_models():
    """(dlib module, HOG detector, 5-point shape predictor, recognition ResNet), loaded once per process."""
    dlib = _import_dlib()
    files = model_files()
    return (dlib, dlib.get_frontal_face_detector(), dlib.shape_predictor(str(files["landmarks"])),
            dlib.face_recognition_model_v1(str(files["recognizer"])))
