"""Resuming an extraction: which sources of an earlier run into the same folder can be kept.

A source counts as done when its "done" record is in `alignments.jsonl` AND that record's `settings`
(the extraction settings that change which faces and crops come out: `SETTINGS_KEYS`) equal this run's.
A cut-off source (no "done" record) and a source done under other settings are dropped, their crops
deleted, and extracted again; the report says which settings changed (issue 31: a rerun with
`--min-size 80` used to keep the 0 faces of the run before). Done records written before settings were
recorded carry none: their settings are unknown, so those sources are redone too (once).
"""
from __future__ import annotations

import logging
from pathlib import Path

from zoo.data.alignments import ALIGNMENTS_FILE, read_alignments, write_alignments

log = logging.getLogger(__name__)

SETTINGS_KEYS = ("size", "every_n", "min_size", "min_score", "select", "track")  # batch_size changes no output


def settings_change(old: dict, new: dict) -> str:
    """`"min_size 20 -> 80, size 256 -> 128"`: the settings that differ."""
    return ", ".join(f"{k} {old.get(k)} -> {new.get(k)}" for k in SETTINGS_KEYS if old.get(k) != new.get(k))


def prepare_resume(out_dir: Path, report, settings: dict) -> set[tuple[str, str]]:
    """Keep the records of sources done under `settings`, drop the rest (and their crops); return the
    done (source, sha256) keys. Sets `report.dropped_partial`, `report.redone` and `report.changed`."""
    path = out_dir / ALIGNMENTS_FILE
    for stale in out_dir.glob(".*.tmp*"):  # temp files of a killed atomic write
        stale.unlink(missing_ok=True)
    if not path.exists():
        return set()
    raw = path.read_bytes()
    records = read_alignments(path)
    finished = {(r["source"], r["sha256"]): r for r in records if r.get("type") == "done"}
    done, changes = set(), []
    for key, rec in finished.items():
        old = rec.get("settings")
        if old is not None and all(old.get(k) == settings.get(k) for k in SETTINGS_KEYS):
            done.add(key)
        else:
            changes.append("not recorded by an earlier version" if old is None else settings_change(old, settings))
    keep = [r for r in records if (r.get("source"), r.get("sha256")) in done]
    if len(keep) != len(records) or (raw and not raw.endswith(b"\n")):
        kept_crops = {r["crop"] for r in keep if r.get("type") == "face"}
        partial = {(r.get("source"), r.get("sha256")) for r in records} - set(finished)
        report.dropped_partial = len(partial)
        report.redone = len(changes)
        report.changed = "; ".join(sorted(set(changes)))
        for r in records:
            if r.get("type") == "face" and r["crop"] not in kept_crops:
                (out_dir / r["crop"]).unlink(missing_ok=True)
        write_alignments(path, keep)
        log.info("resume: dropped %d records of %d cut-off and %d changed-settings sources",
                 len(records) - len(keep), len(partial), len(changes))
    return done
