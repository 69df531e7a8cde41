"""Where a committed result came from: the git commit it ran on, and a hash of the code that scored it.

A results file records both. The hash covers only the functions named by the experiment as its
evaluation path (`zoo.bench.evidence.EVALUATION_PATH`), by their source text, so moving them between
modules keeps it and changing what they compute breaks it: a test compares the committed results'
hash with the current code's and fails when they differ (the results are stale: rerun them).
"""
from __future__ import annotations

import hashlib
import inspect
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def git_commit() -> str:
    """HEAD of the checkout this code runs from ("-dirty" appended when tracked files changed), or
    "unknown" outside git."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("-dirty" if dirty else "")


def source_hash(objects) -> str:
    """sha256 (first 16 hex digits) of the objects' source texts, trailing spaces stripped, in order."""
    h = hashlib.sha256()
    for obj in objects:
        text = "\n".join(line.rstrip() for line in inspect.getsource(obj).splitlines())
        h.update(f"{getattr(obj, '__qualname__', obj)}\n{text}\n".encode())
    return h.hexdigest()[:16]
