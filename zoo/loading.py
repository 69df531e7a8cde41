"""`load_encoder`: resolve a reference to an immutable hub revision once, verify, load safely, and
return a model that carries its spec and release (`zoo.encoder_info`), so nothing downstream resolves
or verifies it again.

A weight preset (`mobilenet-face.lfw-v1`, or a bare entry name with a default preset) loads from the
files shipped in the package (else from its hub repo at its pinned revision), each checked against the
preset row's sha256 before Keras reads a byte; `name@revision` always asks the hub.

Hub releases and local folders pass the same verifier (`hub.manifest.verify_folder`): every listed
file present with its sha256, no file outside the list. A single `.keras` file has no manifest and is
loaded as the user's own file (Keras `safe_mode` still applies).
"""
from __future__ import annotations

import json
from pathlib import Path

from zoo.errors import IntegrityError, MissingFileError, NotPublishedError, UnknownEncoderError, UnsafeModelError
from zoo.refs import PATH, PRESET, EncoderRef, is_path as _is_path  # noqa: F401 (_is_path: the old name)
from zoo.registry import lookup, unknown_name_message
from zoo.spec import EncoderInfo, attach_info, spec_from_dict
from hub.constants import MANIFEST_FILE as MANIFEST


def verify_dir(path: Path, what: str) -> dict:
    """Verify a local encoder folder with the hub's verifier; return its manifest.

    Raises:
        IntegrityError: the folder has no `facezoo.json` (nothing vouches for its files), a listed file
            is missing or differs from its sha256, or a file outside the manifest is present.
    """
    from hub.manifest import verify_folder

    path = Path(path)
    if not (path / MANIFEST).is_file():
        raise IntegrityError(
            f"{what} has no {MANIFEST}, so nothing vouches for its files; nothing was loaded. Load a "
            f"release folder (as `facezoo pull` or `zoo.load_encoder` leave it), publish the model first "
            f"(`facezoo publish {path} NAMESPACE/NAME`), or pass a single .keras file.")
    return verify_folder(path, label=what)


def _keras_load(path: Path, what: str):
    import keras

    import zoo.layers  # noqa: F401  (registers facezoo's serializable layers)
    from hub.staging import oversized_config_entries, unsafe_config_entries
    config = _read_config(path)
    huge = oversized_config_entries(config) if config is not None else []
    if huge:
        raise UnsafeModelError(f"{what} asks for layer sizes past facezoo's bounds ({'; '.join(huge[:3])}); "
                               "nothing was built. A face encoder needs nothing that large.")
    found = unsafe_config_entries(config) if config is not None else []
    if found:
        raise UnsafeModelError(f"{what} needs code to load ({'; '.join(found[:3])}), so it could only be loaded "
                               "with safe_mode=False. facezoo never loads such files: rebuild the model with "
                               "Keras or registered serializable layers.")
    try:
        return keras.saving.load_model(path, compile=False, safe_mode=True)
    except (ValueError, TypeError) as exc:   # TypeError: Keras' answer to a config it cannot rebuild
        text = str(exc)
        if isinstance(exc, TypeError):
            raise UnsafeModelError(
                f"{what}: Keras could not rebuild its config with safe_mode=True (a class or function it "
                "will not import safely). facezoo never loads such files: rebuild the model with Keras or "
                "registered serializable layers. Keras said: " + text.splitlines()[0][:300]) from None
        if "safe_mode" in text or "Lambda" in text or "lambda" in text:
            raise UnsafeModelError(
                f"{what} contains code that can only be loaded with safe_mode=False (e.g. a Lambda "
                "layer). facezoo never loads such files: rebuild the model with registered "
                "serializable layers. Keras said: " + text.splitlines()[0]) from None
        # any other refusal of the config (a class Keras cannot deserialize, a bad argument): the file is
        # not a model facezoo can load; never a raw ValueError (issue 29)
        raise UnsafeModelError(
            f"{what}: Keras refused its config with safe_mode=True, so facezoo does not load it. Rebuild "
            "the model with Keras or registered serializable layers. Keras said: "
            + (text.splitlines() or [""])[0][:300]) from None


def _read_config(path: Path):
    """The model's `config.json` (from a folder or a `.keras` zip), or None if there is none to read."""
    import zipfile
    try:
        if Path(path).is_dir():
            return json.loads((Path(path) / "config.json").read_text(encoding="utf-8"))
        with zipfile.ZipFile(path) as zf:
            return json.loads(zf.read("config.json"))
    except (OSError, ValueError, KeyError, zipfile.BadZipFile):
        return None        # Keras reports what is wrong with the file


def _check_pins(spec, manifest: dict, revision: str, what: str) -> None:
    if spec is None or not spec.sha256:
        return
    if spec.revision and revision and spec.revision != revision and not revision.startswith(spec.revision):
        return  # the user asked for another release; pins apply to the pinned one
    files = manifest.get("files", {})
    for name, pinned in spec.sha256.items():
        if name == MANIFEST:   # a preset pins its manifest too; a hub snapshot's was verified by its pull
            continue
        actual = files.get(name, {}).get("sha256")
        if actual != pinned:
            raise IntegrityError(
                f"{what}: {name!r} has sha256 {str(actual)[:16]}... but the registry pins "
                f"{pinned[:16]}... for {spec.name!r}. The hub serves different weights than the "
                "catalogue blessed; nothing was loaded.")


def resolve_encoder(ref, *, revision: str | None = None, hub=None):
    """Pull the release `ref` names and return the verified `hub.Snapshot` (no Keras involved).

    `ref` is an `EncoderRef` (what `load_encoder` passes: parsed once, at its edge) or its string form;
    `revision` overrides the one it asks for.
    """
    import hub as hublib

    ref = EncoderRef.parse(ref, revision=revision)
    name, spec = ref.name, ref.spec
    if spec is None and "/" not in name:
        raise UnknownEncoderError(unknown_name_message(name))
    repo_id = spec.repo_id if spec else name
    revision = ref.revision or (spec.revision if spec else None)
    what = f"encoder {ref.text!r} ({repo_id}@{revision or 'main'})"
    try:
        snapshot = hublib.pull(repo_id, revision, hub=hub)
    except NotPublishedError as exc:
        from hub.errors import RevisionNotFoundError
        if spec is None or isinstance(exc, RevisionNotFoundError):
            raise       # the repository is there: the hub's message names the tags and branches it has
        where = hublib.get_hub(hub).describe() if hasattr(hublib.get_hub(hub), "describe") else "the hub"
        raise NotPublishedError(
            f"Encoder {name!r} is in the registry but {repo_id}@{revision or 'main'} is not on {where}. "
            f"Get it by pretraining and publishing it: `facezoo pretrain --encoder {name} "
            f"--corpus synthetic:1000 --publish {repo_id}` (or run `facezoo quickstart`), or point at a "
            "hub that has it with hub=... / --hub / $FACEZOO_HUB (a local hub folder, 'hf', or a "
            f"Hub-compatible URL). Hub said: {exc}") from None
    _check_pins(spec, snapshot.manifest, snapshot.revision, what)
    return snapshot


def _load_preset(preset, *, hub=None):
    """Load a weight preset: its shipped folder (or its pinned hub release), every file checked against
    the preset row's sha256s and the folder's manifest before Keras reads a byte. Returns (model, info)."""
    from zoo.presets import verify_pinned_files

    what = f"encoder preset {preset.name!r}"
    folder, repo_id, revision = preset.folder, None, None
    if folder is None:   # not shipped with this install: pull the pinned release
        import hub as hublib
        try:
            snapshot = hublib.pull(preset.repo_id, preset.revision, hub=hub)
        except NotPublishedError as exc:
            raise NotPublishedError(
                f"{what} is not shipped with this install and {preset.repo_id}@{preset.revision} is not on "
                f"the hub. Reinstall facezoo (its wheel ships the presets), point at a hub that has it "
                f"(hub=... / --hub / $FACEZOO_HUB), or load another preset (`facezoo encoders list`). "
                f"Hub said: {exc}") from None
        folder, repo_id, revision = Path(snapshot.path), snapshot.repo_id, snapshot.revision
    verify_pinned_files(folder, preset.sha256, what)
    manifest = verify_dir(folder, what)
    model = _keras_load(folder, what)
    spec = spec_from_dict(manifest.get("spec")) or lookup(preset.name)
    return model, EncoderInfo(spec=spec, repo_id=repo_id, revision=revision, manifest=manifest,
                              path=str(folder), preset=preset.name)


def load_encoder(ref, *, revision: str | None = None, trainable: bool = False, hub=None):
    """Load a pretrained encoder as a `keras.Model`, verified against its sha256 manifest.

    Args:
        ref: a weight preset (`"mobilenet-face.lfw-v1"`), a registry name (`"mobilenet-face"`: its
            default preset, shipped with facezoo; an entry without one loads the hub's latest release),
            `name@revision` (a hub tag such as `v1`, a branch or a commit id), a hub repo id
            (`"team/my-encoder"`), or a local path (a `.keras` file or a folder in the Keras `hf://`
            layout). Only explicit paths are paths: a `Path` object, or a string starting with `./`,
            `../`, `/` or `~/`, or ending in `.keras`. `"team/enc"` is the hub release even if a folder
            `team/enc` exists in the working directory; load that folder as `"./team/enc"` or
            `Path("team/enc")`. Or an `EncoderRef` already parsed (`zoo.refs.EncoderRef.parse`).
        revision: overrides the `@revision` in `ref`.
        trainable: the encoder's initial `trainable` flag (frozen by default).
        hub: a local hub folder, `"hf"`, or a Hub-compatible URL; default `$FACEZOO_HUB`, else the
            embedded local hub.

    The revision is resolved once to an immutable commit id; every file is checked against the
    release's sha256s (and the registry's pins) before Keras reads a byte, and Keras loads with
    `safe_mode=True`. The model carries its spec and release: `zoo.encoder_info(model)` gives the
    `EncoderSpec`, the repo, the resolved commit and the verified manifest.

    Examples:
        >>> encoder = zoo.load_encoder("mobilenet-face")          # its default preset, offline, pinned
        >>> encoder = zoo.load_encoder("effnet-face-v2")          # latest release on the default hub
        >>> encoder = zoo.load_encoder("effnet-face-v2@v1")       # a tagged release
        >>> encoder = zoo.load_encoder("encoder.keras")           # a local file (RUN/encoder.keras)
    """
    ref = EncoderRef.parse(ref, revision=revision)   # the one parse of this load; passed down from here
    if ref.kind == PATH:
        path = ref.path
        if not path.exists():
            raise MissingFileError(f"No encoder file or folder at {path}. Pass a registry name "
                                    "(see `facezoo encoders list`), a hub repo id, or an existing path.")
        manifest = verify_dir(path, f"encoder folder {path}") if path.is_dir() else {}
        model = _keras_load(path, f"encoder file {path}")
        info = EncoderInfo(spec=spec_from_dict(manifest.get("spec")) or _spec_named_like(model),
                           manifest=manifest, path=str(path))
    else:
        preset = ref.preset
        if preset is not None and ref.name == preset.name and ref.revision:
            raise UnknownEncoderError(
                f"Preset {ref.name!r} is pinned to its own files; it takes no @revision. Load "
                f"'{preset.entry}@{ref.at or ref.revision}' for a hub release. Received: ref={ref.text!r}")
        if ref.kind == PRESET:
            model, info = _load_preset(preset, hub=hub)
            model.trainable = trainable
            return attach_info(model, info)
        snapshot = resolve_encoder(ref, hub=hub)
        model = _keras_load(snapshot.path, f"encoder {ref.text!r} ({snapshot.repo_id}@{snapshot.revision[:12]})")
        info = EncoderInfo(spec=spec_from_dict(snapshot.manifest.get("spec")) or ref.spec,
                           repo_id=snapshot.repo_id, revision=snapshot.revision, manifest=snapshot.manifest)
    model.trainable = trainable
    return attach_info(model, info)


def _spec_named_like(model):
    """The registry spec of a bare `.keras` file facezoo saved (`build_encoder` names the model after
    its spec, "mobilenet-face" -> "mobilenet_face"); None for any other model."""
    return lookup(str(model.name).replace("_", "-"))
