"""The encoder registry: register specs, list them with wildcards, look one up by name.

Unknown names get an error listing the closest valid names and how to see them all
(`facezoo encoders list`), in the spirit of keras-hub's preset errors.

The registry imports no family: the built-in rows register themselves from `zoo/encoders/` (imported
by `import zoo`), like timm's `@register_model`, so a user's own `register(...)` adds to the catalogue
and never hides it.
"""
from __future__ import annotations

import difflib
import fnmatch

from zoo.errors import InputError, UnknownEncoderError
from zoo.spec import EncoderSpec

_REGISTRY: dict[str, EncoderSpec] = {}


def register(spec: EncoderSpec, *, overwrite: bool = False) -> EncoderSpec:
    """Add a spec to the catalogue (used by the families in `zoo.encoders` and by users adding their own)."""
    if spec.name in _REGISTRY and not overwrite:
        raise InputError(f"An encoder named {spec.name!r} is already registered; pass overwrite=True "
                         "to replace it.")
    _REGISTRY[spec.name] = spec
    return spec


def list_encoders(pattern: str = "*") -> list[str]:
    """Names of registered encoders matching a shell-style wildcard (`"effnet-*"`), sorted."""
    return sorted(n for n in _REGISTRY if fnmatch.fnmatchcase(n, pattern))


def parse_ref(ref: str) -> tuple[str, str | None]:
    """Split `name@revision` into (name, revision); revision is None when absent."""
    if not isinstance(ref, str) or not ref:
        raise UnknownEncoderError(f"An encoder reference must be a non-empty string. Received: {ref!r}")
    name, sep, revision = ref.partition("@")
    if sep and not revision:
        raise UnknownEncoderError(f"Empty revision after '@' in {ref!r}. Use NAME or NAME@REVISION "
                                  "(a tag such as v1, a branch, or a commit id).")
    return name, (revision or None)


def is_registered(name: str) -> bool:
    return parse_ref(name)[0] in _REGISTRY


def get_spec(name: str) -> EncoderSpec:
    """The spec registered under `name` (a trailing `@revision` is ignored here)."""
    if isinstance(name, EncoderSpec):
        return name
    base, _ = parse_ref(name)
    try:
        return _REGISTRY[base]
    except KeyError:
        raise UnknownEncoderError(unknown_name_message(base)) from None


def unknown_name_message(name: str) -> str:
    names = sorted(_REGISTRY)
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.4)
    if not close:  # also match on shared prefix ("effnet" -> effnet-face-*)
        close = [n for n in names if n.split("-")[0] == name.split("-")[0]][:3]
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    return (f"Unknown encoder {name!r}.{hint} Valid names: {', '.join(names)}. "
            f"See them with `facezoo encoders list` or `zoo.list_encoders()`; a hub repo id "
            f"(`namespace/name`) or a local path is also accepted by `zoo.load_encoder`. "
            f"Received: name={name!r}")
