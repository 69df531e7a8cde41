"""The alignments file (`alignments.jsonl`): its name, its one reader and its two writers.

`facezoo extract` journals one JSON record a line (`type` face, skip or done; fields in
`zoo.data.extract`); training folders, convert, the LFW cache and the benchmarks read it back here.
Appends are flushed and fsynced record by record, so a killed run loses at most its last line, which
the reader drops; rewrites are atomic.
"""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from zoo.errors import DataError
from zoo.io import atomic_write, fsync_dir

log = logging.getLogger(__name__)

__all__ = ["ALIGNMENTS_FILE", "AlignmentsJournal", "face_records", "read_alignments", "write_alignments"]

ALIGNMENTS_FILE = "alignments.jsonl"


def _line(record: dict) -> str:
    return json.dumps(record, separators=(",", ":")) + "\n"


def read_alignments(path) -> list[dict]:
    """All records of an alignments file (or of a folder's). A cut-off last line (a killed run) is
    left out; a damaged line before it is an error naming the file."""
    path = Path(path)
    if path.is_dir():
        path = path / ALIGNMENTS_FILE
    if not path.exists():
        return []
    records = []
    with open(path, "rb") as f:
        lines = f.read().split(b"\n")
    for n, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            record = None
        if isinstance(record, dict):
            records.append(record)
        elif n == len(lines) - 1:  # no newline after it: the write was cut off
            log.warning("%s: dropping a cut-off last line", path)
        else:
            raise DataError(f"{path}: line {n + 1} is not a JSON record; the alignments file is damaged. "
                            "Move it away to start the extraction afresh.")
    return records


def face_records(records) -> list[dict]:
    """The face records of the sources that finished (what convert and training read)."""
    done = {(r["source"], r["sha256"]) for r in records if r.get("type") == "done"}
    return [r for r in records if r.get("type") == "face" and (r["source"], r["sha256"]) in done]


def write_alignments(path, records) -> None:
    """Write `records` as a whole new alignments file (or a folder's), atomically."""
    path = Path(path)
    if path.is_dir():
        path = path / ALIGNMENTS_FILE
    with atomic_write(path, "w") as f:
        for record in records:
            f.write(_line(record))


class AlignmentsJournal:
    """Append-only alignments file: each record is one line, flushed and fsynced before moving on."""

    def __init__(self, path):
        self.path = Path(path)
        self.f = open(self.path, "a", encoding="utf-8")
        fsync_dir(self.path.parent)

    def write(self, record: dict) -> None:
        self.f.write(_line(record))
        self.f.flush()
        os.fsync(self.f.fileno())

    def close(self) -> None:
        self.f.close()
