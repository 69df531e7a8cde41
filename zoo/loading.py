"""`load_encoder`: resolve a reference to an immutable hub revision, verify, then load safely."""
from __future__ import annotations

import json
import os
from pathlib import Path

from zoo.errors import IntegrityError, NotPublishedError, UnknownEncoderError, UnsafeModelError
from zoo.io import sha256_file
from zoo.registry import get_spec, is_registered, parse_ref

MANIFEST = "facezoo.json"


def _is_path(ref: str) -> bool:
    return ref.startswith((".", "/", "~")) or ref.endswith(".keras") or os.path.exists(ref)


def verify_dir(path: Path, what: str) -> dict:
    """Check every file listed in the folder's `facezoo.json` against its sha256; return the manifest."""
    manifest_path = path / MANIFEST
    if not manifest_path.exists():
        return {}
    manifest = json.loads(manifest_path.read_text())
    for name, entry in manifest.get("files", {}).items():
        file = path / name
        if not file.exists():
            raise IntegrityError(f"{what}: file {name!r} listed in {MANIFEST} is missing from {path}.")
        actual = sha256_file(file)
        if actual != entry["sha256"]:
            raise IntegrityError(
                f"{what}: sha256 of {name!r} is {actual[:16]}..., but the manifest says "
                f"{entry['sha256'][:16]}...; the file was modified or corrupted. Nothing was loaded. "
                "Pull the release again (the cache copy is replaced) or ask the publisher.")
    return manifest


def _keras_load(path: Path, what: str):
    import keras

    import zoo.layers  # noqa: F401  (registers facezoo's serializable layers)
    try:
        return keras.saving.load_model(path, compile=False, safe_mode=True)
    except ValueError as exc:
        text = str(exc)
        if "safe_mode" in text or "Lambda" in text or "lambda" in text:
            raise UnsafeModelError(
                f"{what} contains code that can only be loaded with safe_mode=False (e.g. a Lambda "
                "layer). facezoo never loads such files: rebuild the model with registered "
                "serializable layers. Keras said: " + text.splitlines()[0]) from None
        raise


def _check_pins(spec, manifest: dict, revision: str, what: str) -> None:
    if spec is None or not spec.sha256:
        return
    if spec.revision and revision and spec.revision != revision and not revision.startswith(spec.revision):
        return  # the user asked for another release; pins apply to the pinned one
    files = manifest.get("files", {})
    for name, pinned in spec.sha256.items():
        actual = files.get(name, {}).get("sha256")
        if actual != pinned:
            raise IntegrityError(
                f"{what}: {name!r} has sha256 {str(actual)[:16]}... but the registry pins "
                f"{pinned[:16]}... for {spec.name!r}. The hub serves different weights than the "
                "catalogue blessed; nothing was loaded.")


def resolve_encoder(ref: str, *, revision: str | None = None, hub=None):
    """Pull the release `ref` names and return the verified `hub.Snapshot` (no Keras involved)."""
    import hub as hublib

    name, at = parse_ref(ref)
    revision = revision or at
    spec = get_spec(name) if is_registered(name) else None
    if spec is None and "/" not in name:
        raise UnknownEncoderError(get_unknown_message(name))
    repo_id = spec.repo_id if spec else name
    revision = revision or (spec.revision if spec else None)
    what = f"encoder {ref!r} ({repo_id}@{revision or 'main'})"
    try:
        snapshot = hublib.pull(repo_id, revision, hub=hub)
    except NotPublishedError as exc:
        if spec is None:
            raise
        where = hublib.get_hub(hub).describe() if hasattr(hublib.get_hub(hub), "describe") else "the hub"
        raise NotPublishedError(
            f"Encoder {name!r} is in the registry but {repo_id}@{revision or 'main'} is not on {where}. "
            f"Get it by pretraining and publishing it: `facezoo pretrain --encoder {name} "
            f"--corpus synthetic:1000 --publish {repo_id}` (or run `facezoo quickstart`), or point at a "
            "hub that has it with hub=... / --hub / $FACEZOO_HUB (a local hub folder, 'hf', or a "
            f"Hub-compatible URL). Hub said: {exc}") from None
    _check_pins(spec, snapshot.manifest, snapshot.revision, what)
    return snapshot


def get_unknown_message(name: str) -> str:
    from zoo.registry import unknown_name_message
    return unknown_name_message(name)


def load_encoder(ref: str, *, revision: str | None = None, trainable: bool = False, hub=None):
    """Load a pretrained encoder as a `keras.Model`, verified against its sha256 manifest.

    Args:
        ref: a registry name (`"effnet-face-v2"`), `name@revision` (a tag such as `v1`, a branch or
            a commit id), a hub repo id (`"team/my-encoder"`), or a local path (a `.keras` file or a
            folder in the Keras `hf://` layout).
        revision: overrides the `@revision` in `ref`.
        trainable: the encoder's initial `trainable` flag (frozen by default).
        hub: a local hub folder, `"hf"`, or a Hub-compatible URL; default `$FACEZOO_HUB`, else the
            embedded local hub.

    The revision is resolved once to an immutable commit id; every file is checked against the
    release's sha256s (and the registry's pins) before Keras reads a byte, and Keras loads with
    `safe_mode=True`.

    Examples:
        >>> encoder = zoo.load_encoder("effnet-face-v2")          # latest release on the default hub
        >>> encoder = zoo.load_encoder("effnet-face-v2@v1")       # a tagged release
        >>> encoder = zoo.load_encoder("encoder.keras")           # a local file (RUN/encoder.keras)
    """
    if isinstance(ref, (str, os.PathLike)) and _is_path(str(ref)):
        path = Path(str(ref)).expanduser()
        if not path.exists():
            raise FileNotFoundError(f"No encoder file or folder at {path}. Pass a registry name "
                                    "(see `facezoo encoders list`), a hub repo id, or an existing path.")
        if path.is_dir():
            verify_dir(path, f"encoder folder {path}")
        model = _keras_load(path, f"encoder file {path}")
    else:
        snapshot = resolve_encoder(str(ref), revision=revision, hub=hub)
        model = _keras_load(snapshot.path, f"encoder {ref!r} ({snapshot.repo_id}@{snapshot.revision[:12]})")
    model.trainable = trainable
    return model
