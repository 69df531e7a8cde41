"""`Preset`: one set of released weights for a catalogue entry, as a data row (timm's `name.tag`,
keras-hub's presets).

A catalogue entry (`EncoderSpec`, e.g. `mobilenet-face`) is an architecture; a preset
(`mobilenet-face.lfw-v1`) names weights for it: where they live (files shipped in the package and/or a
hub repo at a revision), the sha256 of every file, what they were trained on and how they scored.
`zoo.load_encoder("mobilenet-face")` loads the entry's default preset; every file is checked against
the row's sha256s before Keras reads a byte, so the row, not the folder, vouches for the weights.
The family modules in `zoo/encoders/` hold the rows and register them; `zoo.registry` looks them up.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from zoo.errors import IntegrityError, InputError
from zoo.io import sha256_file

# Folders of the presets shipped with facezoo (package data, so a fresh install loads them offline).
PACKAGE_DIR = Path(__file__).resolve().parent / "encoders" / "presets"

# Score keys a preset may carry, with the label `facezoo encoders list/show` prints.
SCORE_LABELS = {"lfw_view1": "LFW View 1 verification accuracy (1,000 DevTest pairs)"}


@dataclass(frozen=True)
class Preset:
    """Released weights of one catalogue entry.

    Attributes:
        name: `ENTRY.TAG` (e.g. "mobilenet-face.lfw-v1"); `entry` is the catalogue name before the dot.
        repo_id: hub repository the weights were published to.
        revision: the hub tag or commit they were published at.
        sha256: {file name: sha256} of every file of the release; a missing, changed or extra file is refused.
        corpus: one line: what the weights were trained on.
        input_size: the face size (px) the weights were trained at.
        scores: measured numbers ({"lfw_view1": 0.615}); keys of `SCORE_LABELS`.
        files: folder under `PACKAGE_DIR` holding the shipped files (an absolute path for a user's own
            folder; "" when only on a hub).
        default: the entry's default preset (what the bare entry name loads).
        command: the command that made the weights.
    """

    name: str
    repo_id: str
    revision: str
    sha256: dict
    corpus: str
    input_size: int
    scores: dict = field(default_factory=dict)
    files: str = ""
    default: bool = False
    command: str = ""

    def __post_init__(self):
        entry, dot, tag = self.name.partition(".")
        if not (entry and dot and tag) or "@" in self.name:
            raise InputError(f"A preset name is ENTRY.TAG (e.g. 'mobilenet-face.lfw-v1'). Received: name={self.name!r}")
        unknown = set(self.scores) - set(SCORE_LABELS)
        if unknown:
            raise InputError(f"Preset {self.name!r}: unknown score keys {sorted(unknown)}; valid: {sorted(SCORE_LABELS)}.")
        if not self.sha256:
            raise InputError(f"Preset {self.name!r} pins no file: give the sha256 of every file of its release.")

    @property
    def entry(self) -> str:
        return self.name.partition(".")[0]

    @property
    def tag(self) -> str:
        return self.name.partition(".")[2]

    @property
    def folder(self) -> Path | None:
        """The shipped files' folder, or None when this install has none (the preset is then pulled)."""
        if not self.files:
            return None
        path = PACKAGE_DIR / self.files
        return path if path.is_dir() else None

    def replace(self, **changes) -> "Preset":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def verify_pinned_files(folder, sha256: dict, what: str) -> None:
    """Check that `folder` holds exactly the pinned files, each with its pinned sha256.

    Raises:
        IntegrityError: a pinned file is missing or differs, or a file the row does not pin is present.
    """
    folder = Path(folder)
    present = {p.name for p in folder.iterdir() if p.is_file()} if folder.is_dir() else set()
    extra = sorted(present - set(sha256))
    if extra:
        raise IntegrityError(f"{what}: {folder} holds files the preset does not pin ({', '.join(extra)}); "
                             "nothing was loaded. Reinstall facezoo or remove them.")
    for name, pinned in sorted(sha256.items()):
        path = folder / name
        if not path.is_file():
            raise IntegrityError(f"{what}: {path} is missing; nothing was loaded. Reinstall facezoo.")
        actual = sha256_file(path)
        if actual != pinned:
            raise IntegrityError(f"{what}: {path} has sha256 {actual[:16]}... but the preset pins "
                                 f"{pinned[:16]}...; nothing was loaded. Reinstall facezoo, or load another "
                                 "preset (`facezoo encoders list`).")
