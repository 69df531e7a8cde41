"""`EncoderRef`: what an encoder reference names, worked out once at the edge and carried inward.

The string a user gives `zoo.load_encoder`, `facezoo train --encoder` or `train_pair(encoder=...)` is one
of four things: an explicit local path, a weight preset, a registered entry, or a hub repo id.
`EncoderRef.parse` decides which, once (the path rule, the `NAME@REVISION` split of `parse_ref`, one
registry look-up), and returns a frozen object with what it found: the name, the revision asked for,
the registered spec and the weight preset. `load_encoder`, `resolve_encoder` and `prepare_encoder` take
that object and never read the string again, as timm splits `arch.tag` once and hands a typed
`PretrainedCfg` inward.

No Keras here: parsing a reference is cheap and happens before anything is loaded.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from zoo.presets import Preset
from zoo.registry import get_preset, lookup, parse_ref
from zoo.spec import EncoderSpec

__all__ = ["ENTRY", "EncoderRef", "PATH", "PRESET", "REPO", "UNKNOWN", "is_path"]

PATH, PRESET, ENTRY, REPO, UNKNOWN = "path", "preset", "entry", "repo", "unknown"


def is_path(ref) -> bool:
    """Only explicit paths are paths: a `Path` (any `os.PathLike`), `./x`, `../x`, `/x`, `~/x` or `x.keras`.

    A bare `team/enc` or `effnet-face-v2` is always a hub reference, even when a folder of that name sits
    in the working directory: such a folder must never shadow the release, `hub=` and the registry's
    sha256 pins (issue 29, W1/W2).
    """
    if isinstance(ref, os.PathLike):
        return True
    ref = str(ref)
    return (ref in (".", "..", "~") or ref.startswith(("./", "../", "/", "~", ".\\", "..\\"))
            or os.path.isabs(ref) or ref.endswith(".keras"))


@dataclass(frozen=True)
class EncoderRef:
    """An encoder reference, parsed and looked up in the registry once.

    Attributes:
        text: the reference as given, as a string (messages quote it).
        kind: what it names, decided in this order:
            `"path"`: an explicit local path (`is_path`); nothing below applies;
            `"preset"`: a weight preset loaded from its pinned files: `ENTRY.TAG`, or an entry that has a
                default preset, asked for without a revision;
            `"entry"`: a registered name the hub serves: an entry without a preset, or any registered
                name with a revision;
            `"repo"`: a hub repo id (`namespace/name`) that is not registered;
            `"unknown"`: none of these (`load_encoder` answers with the registry's did-you-mean error).
        name: the name before `@` (for a path, the path as given).
        at: the `@revision` the text carries, or None.
        revision: the revision asked for: `parse`'s `revision=` (it overrides), else `at`; None for a path.
        spec: the `EncoderSpec` registered under `name` (a preset name: the entry's spec with the preset's
            weights facts), or None.
        preset: the preset `name` names (`ENTRY.TAG`, or the entry's default preset), or None. It is set
            even when a revision sends the load to the hub, so the loader can say why it was not used.
        path: the expanded path (kind `"path"`), else None.

    Examples:
        >>> EncoderRef.parse("mobilenet-face").kind, EncoderRef.parse("mobilenet-face").preset.name
        ('preset', 'mobilenet-face.lfw-v1')
        >>> EncoderRef.parse("effnet-face-v2@v1").revision
        'v1'
        >>> EncoderRef.parse("team/enc").kind, EncoderRef.parse("./team/enc").kind
        ('repo', 'path')
    """

    text: str
    kind: str
    name: str
    at: str | None = None
    revision: str | None = None
    spec: EncoderSpec | None = None
    preset: Preset | None = None
    path: Path | None = None

    @classmethod
    def parse(cls, ref, *, revision: str | None = None) -> "EncoderRef":
        """The `EncoderRef` of a string or path (an `EncoderRef` is returned as it is, with `revision`
        applied when given). `revision` overrides an `@revision` in `ref`.

        Raises:
            UnknownEncoderError: an empty reference, or an empty revision after `@` (`parse_ref`'s errors).
        """
        if isinstance(ref, EncoderRef):
            return ref.with_revision(revision) if revision else ref
        if isinstance(ref, (str, os.PathLike)) and is_path(ref):
            return cls(text=str(ref), kind=PATH, name=str(ref), path=Path(str(ref)).expanduser())
        text = str(ref)
        name, at = parse_ref(text)
        return cls._named(text, name, at, revision or at)

    @classmethod
    def _named(cls, text: str, name: str, at: str | None, revision: str | None) -> "EncoderRef":
        spec, preset = lookup(name), get_preset(name)
        if preset is not None and not revision:
            kind = PRESET
        elif spec is not None:
            kind = ENTRY
        else:
            kind = REPO if "/" in name else UNKNOWN
        return cls(text=text, kind=kind, name=name, at=at, revision=revision, spec=spec, preset=preset)

    def with_revision(self, revision: str | None) -> "EncoderRef":
        """The same reference asking for `revision` (no parse: the name is already known). A path has
        none and is returned unchanged."""
        if self.kind == PATH or not revision or revision == self.revision:
            return self
        return self._named(self.text, self.name, self.at, revision)

    @property
    def registered(self) -> bool:
        """Whether `name` is a registry entry or preset."""
        return self.spec is not None
