"""The encoder registry: families (builder + block pattern), catalogue entries (`EncoderSpec`) and
weight presets (`zoo.presets.Preset`, `ENTRY.TAG`); list them with wildcards, look one up by name.

One place per fact: a family is registered once with its builder and block pattern
(`register_family`), an entry names a family and variant (`register`), a preset names weights for an
entry (`register_preset`). `zoo.build_encoder`, `zoo.encoder_blocks` and `zoo.load_encoder` read them
from here; the catalogue cards are generated from them (`zoo.catalogue_card`).

Unknown names get an error listing the closest valid names and how to see them all
(`facezoo encoders list`), in the spirit of keras-hub's preset errors.

The registry imports no family: the built-in rows register themselves from `zoo/encoders/` (imported
by `import zoo`), like timm's `@register_model`, so a user's own `register(...)` adds to the catalogue
and never hides it.
"""
from __future__ import annotations

import difflib
import fnmatch

from dataclasses import dataclass

from zoo.errors import InputError, UnknownEncoderError
from zoo.presets import Preset
from zoo.spec import EncoderSpec

_REGISTRY: dict[str, EncoderSpec] = {}
_PRESETS: dict[str, Preset] = {}
_FAMILIES: dict[str, "Family"] = {}


@dataclass(frozen=True)
class Family:
    """A builder family: `builder(spec, inputs)` returns the backbone's output tensor for a normalised
    input tensor; `block_pattern` is a regex whose first group names a backbone block ("unfreeze the top
    k blocks"), or "" when the family has no blocks; `about` is one line on the architecture (cards)."""

    name: str
    builder: object
    block_pattern: str = ""
    about: str = ""


def register_family(name: str, builder, block_pattern: str = "", about: str = "") -> Family:
    """Register a builder family once (used by the modules in `zoo.encoders` and by users)."""
    if name in _FAMILIES and _FAMILIES[name].builder is not builder:
        raise InputError(f"A family named {name!r} is already registered with another builder.")
    _FAMILIES[name] = Family(name, builder, block_pattern, about)
    return _FAMILIES[name]


def get_family(name: str) -> Family:
    try:
        return _FAMILIES[name]
    except KeyError:
        raise InputError(f"No encoder family {name!r} is registered, so it has no builder. "
                         f"Valid families: {', '.join(sorted(_FAMILIES))}.") from None


def families() -> dict[str, Family]:
    """{name: Family} of every registered family (a copy)."""
    return dict(_FAMILIES)


def register_preset(preset: Preset, *, overwrite: bool = False) -> Preset:
    """Add a weight preset for a registered entry; at most one default per entry."""
    if preset.entry not in _REGISTRY:
        raise InputError(f"Preset {preset.name!r} is for entry {preset.entry!r}, which is not registered; "
                         "register its EncoderSpec first.")
    if preset.name in _PRESETS and not overwrite:
        raise InputError(f"A preset named {preset.name!r} is already registered; pass overwrite=True to replace it.")
    if preset.default:
        other = default_preset(preset.entry)
        if other is not None and other.name != preset.name and not overwrite:
            raise InputError(f"Entry {preset.entry!r} already has a default preset ({other.name!r}); "
                             "pass overwrite=True to make this one the default.")
        if other is not None and other.name != preset.name:
            _PRESETS[other.name] = other.replace(default=False)
    _PRESETS[preset.name] = preset
    return preset


def unregister_preset(name: str) -> None:
    """Remove a preset (a user's own; tests)."""
    _PRESETS.pop(name, None)


def get_preset(name: str) -> Preset | None:
    """The preset `name` names: `ENTRY.TAG`, or a bare entry name (its default preset). None when there is
    none (an entry without weights, or not a registered name)."""
    if name in _PRESETS:
        return _PRESETS[name]
    return default_preset(name)


def default_preset(entry: str) -> Preset | None:
    return next((p for p in _PRESETS.values() if p.entry == entry and p.default), None)


def presets_of(entry: str) -> list[Preset]:
    """The presets of one entry, default first."""
    return sorted((p for p in _PRESETS.values() if p.entry == entry), key=lambda p: (not p.default, p.name))


def register(spec: EncoderSpec, *, overwrite: bool = False) -> EncoderSpec:
    """Add a spec to the catalogue (used by the families in `zoo.encoders` and by users adding their own)."""
    if spec.name in _REGISTRY and not overwrite:
        raise InputError(f"An encoder named {spec.name!r} is already registered; pass overwrite=True "
                         "to replace it.")
    _REGISTRY[spec.name] = spec
    return spec


def list_encoders(pattern: str = "*", *, presets: bool = True) -> list[str]:
    """Names of registered entries and their weight presets (`ENTRY.TAG`) matching a shell-style
    wildcard (`"effnet-*"`), sorted; `presets=False` lists the entries (architectures) only."""
    names = set(_REGISTRY) | (set(_PRESETS) if presets else set())
    return sorted(n for n in names if fnmatch.fnmatchcase(n, pattern))


def parse_ref(ref: str) -> tuple[str, str | None]:
    """Split `name@revision` into (name, revision); revision is None when absent."""
    if not isinstance(ref, str) or not ref:
        raise UnknownEncoderError(f"An encoder reference must be a non-empty string. Received: {ref!r}")
    name, sep, revision = ref.partition("@")
    if sep and not revision:
        raise UnknownEncoderError(f"Empty revision after '@' in {ref!r}. Use NAME or NAME@REVISION "
                                  "(a tag such as v1, a branch, or a commit id).")
    return name, (revision or None)


def lookup(name: str) -> EncoderSpec | None:
    """The spec registered under exactly `name`, or None: no `@revision` split (`zoo.refs.EncoderRef`
    splits a reference once and looks its name up here). For a preset name (`ENTRY.TAG`) it is the entry's
    spec with the preset's weights facts (repo, revision, sha256, corpus, input size)."""
    preset = _PRESETS.get(name)
    if preset is not None:
        return _REGISTRY[preset.entry].replace(
            repo_id=preset.repo_id, revision=preset.revision, sha256=dict(preset.sha256),
            corpus=preset.corpus, input_size=preset.input_size)
    return _REGISTRY.get(name)


def is_registered(name: str) -> bool:
    base = parse_ref(name)[0]
    return base in _REGISTRY or base in _PRESETS


def get_spec(name: str) -> EncoderSpec:
    """The spec registered under `name` (a trailing `@revision` is ignored here). For a preset name
    (`ENTRY.TAG`) it is the entry's spec with the preset's weights facts (repo, revision, sha256, corpus,
    input size)."""
    if isinstance(name, EncoderSpec):
        return name
    base, _ = parse_ref(name)
    spec = lookup(base)
    if spec is None:
        raise UnknownEncoderError(unknown_name_message(base))
    return spec


def unknown_name_message(name: str) -> str:
    names = sorted(set(_REGISTRY) | set(_PRESETS))
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.4)
    if not close:  # also match on shared prefix ("effnet" -> effnet-face-*)
        close = [n for n in names if n.split("-")[0] == name.split("-")[0]][:3]
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    return (f"Unknown encoder {name!r}.{hint} Valid names: {', '.join(names)}. "
            f"See them with `facezoo encoders list` or `zoo.list_encoders()`; a hub repo id "
            f"(`namespace/name`) or a local path is also accepted by `zoo.load_encoder`. "
            f"Received: name={name!r}")
