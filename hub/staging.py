"""Build a release in a temp folder and check it before anything is uploaded.

Accepts a `keras.Model`, a `.keras` file or a Keras directory (`config.json`, `metadata.json`,
`model.weights.h5`). Run folders are the library's business: `zoo.publishing.publish_encoder` (behind
`facezoo publish RUN`) takes their encoder out before the hub sees it. The checks are structural and cheap
(JSON parses, the weights are HDF5, the model is one image in and one feature map out, nothing outside the
Keras layout sneaks in); Keras is imported only when a model object must be saved. A model that is not an
encoder (a whole swap model of 148 MB, a pretraining model) is refused here, not when `load_encoder` later
fails on it.
"""
from __future__ import annotations

import json
import os
import shutil
import zipfile
from pathlib import Path, PurePosixPath

from hub.constants import (CARD_FILE, CONFIG_FILE, HDF5_MAGIC, KERAS_FILES, MANIFEST_FILE,
                           METADATA_FILE, WEIGHTS_FILE)
from fzcore.errors import FacezooError, MissingFileError

ENCODER_CLASSES = ("Functional", "Sequential", "Model")


class StagingError(FacezooError, ValueError):
    """The thing to publish is not a Keras model in a form facezoo can publish."""


# Modules a layer's class may come from without being registered: Keras itself and facezoo's own
# registered layers (zoo.layers). Anything else needs code that a `safe_mode=True` load will refuse.
# Whole module names: "keras" and "keras.*", "zoo.*" ("keras" as a bare prefix admitted `keras_evil_pkg`).
_SAFE_MODULES = ("keras", "zoo")
# Lambda layers, and Keras' serialized form of a Python lambda (its bytecode). A named function
# ({"module": "builtins", "class_name": "function", "config": "gelu"}) is looked up, not run: allowed.
_CODE_CLASSES = {"Lambda", "__lambda__"}


# Bounds on a layer's sizes, checked before Keras builds anything: a config asking for a 10^9-filter
# convolution surfaced as a raw out-of-memory error from TensorFlow.
MAX_WIDTH = 1 << 14          # units, filters, embedding input/output dims
MAX_EXTENT = 1 << 13         # one entry of kernel_size, pool_size, strides, size, dilation_rate
MAX_SHAPE = 1 << 18          # one entry of an input or tensor shape: a flattened feature map may be long
                             # (fs-original's 16x16x1024 at 256 px); 10^9 is still refused
_WIDTH_KEYS = ("units", "filters", "input_dim", "output_dim", "num_heads", "key_dim", "depth_multiplier")
_EXTENT_KEYS = ("kernel_size", "pool_size", "strides", "size", "dilation_rate")
_SHAPE_KEYS = ("batch_shape", "batch_input_shape", "shape", "target_shape")


def _is_safe_module(module: str) -> bool:
    return any(module == m or module.startswith(m + ".") for m in _SAFE_MODULES)


def oversized_config_entries(config, where: str = "config") -> list[str]:
    """Where a Keras `config.json` asks for sizes past MAX_WIDTH / MAX_EXTENT / MAX_SHAPE (or non-integer
    ones), as readable locations; [] when every size is sane. Checked before building, at publish and at
    load."""
    found = []
    if isinstance(config, dict):
        for key, value in config.items():
            bound = (MAX_WIDTH if key in _WIDTH_KEYS else MAX_EXTENT if key in _EXTENT_KEYS
                     else MAX_SHAPE if key in _SHAPE_KEYS else None)
            values = value if isinstance(value, list) else [value]
            if bound is not None and all(v is None or isinstance(v, (int, float)) for v in values):
                if any(v is not None and (isinstance(v, (bool, float)) or not -1 <= v <= bound) for v in values):
                    found.append(f"{where}.{key} = {str(value)[:60]} (at most {bound} per entry)")
                continue
            found += oversized_config_entries(value, f"{where}.{key}")
    elif isinstance(config, list):
        for i, value in enumerate(config):
            found += oversized_config_entries(value, f"{where}[{i}]")
    return found


def unsafe_config_entries(config, where: str = "config") -> list[str]:
    """Where a Keras `config.json` needs code to load (Lambda layers, serialized Python functions, classes
    from modules outside Keras that are not registered), as readable locations; [] when it is safe.

    Used at publish time (a release every load would refuse is never published) and before loading.
    """
    found = []
    if isinstance(config, dict):
        cls, module = config.get("class_name"), config.get("module")
        name = (config.get("config") or {}).get("name") if isinstance(config.get("config"), dict) else None
        label = f"{where} ({cls}{' ' + repr(name) if name else ''})"
        if isinstance(cls, str) and cls in _CODE_CLASSES:
            found.append(f"{label}: a {cls} holds Python code")
        elif isinstance(cls, str) and module is not None and not config.get("registered_name") and not (
                isinstance(module, str) and _is_safe_module(module)):
            found.append(f"{label}: class from module {str(module)[:60]!r}, which is not Keras and not registered")
        for key, value in config.items():
            found += unsafe_config_entries(value, f"{where}.{key}")
    elif isinstance(config, list):
        for i, value in enumerate(config):
            found += unsafe_config_entries(value, f"{where}[{i}]")
    return found


def check_config_is_safe(config_path, source: str) -> None:
    """Raise StagingError if the model at `config_path` could only be loaded with safe_mode=False."""
    try:
        config = json.loads(Path(config_path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise StagingError(f"{source}: {CONFIG_FILE} is not valid JSON ({exc}).") from None
    huge = oversized_config_entries(config)
    if huge:
        raise StagingError(f"{source} cannot be published: its config asks for sizes past facezoo's bounds "
                           f"({'; '.join(huge[:3])}).")
    found = unsafe_config_entries(config)
    if found:
        raise StagingError(f"{source} cannot be published: every facezoo load uses Keras' safe_mode and would "
                           f"refuse it. {'; '.join(found[:3])}. Rebuild the model with Keras layers or "
                           "registered serializable layers (see zoo/layers.py) instead of Lambda layers.")


def _is_model(obj) -> bool:
    return not isinstance(obj, (str, bytes, os.PathLike)) and hasattr(obj, "get_config") \
        and hasattr(obj, "save")


def stage_release(model_or_dir, dest) -> dict:
    """Write the Keras directory layout of `model_or_dir` into the empty folder `dest`.

    Returns:
        The `facezoo.json` metadata found beside the source (a re-published release), else {}.
    """
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    if _is_model(model_or_dir):
        import keras
        keras.saving.save_model(model_or_dir, str(dest), zipped=False)
        check_keras_dir(dest, "the model")
        check_is_encoder(dest, f"model {getattr(model_or_dir, 'name', '')!r}")
        return model_facts(dest)
    src = Path(model_or_dir).expanduser()
    if not src.exists():
        raise MissingFileError(f"Nothing to publish at {src}: expected a .keras file, a Keras directory "
                                f"({', '.join(KERAS_FILES)}) or a run folder with encoder.keras.")
    if src.is_dir() and not (src / CONFIG_FILE).is_file():
        raise StagingError(f"{src} is not a Keras directory (no {CONFIG_FILE}). A facezoo run folder is published "
                           "with `facezoo publish RUN REPO` or `zoo.publishing.publish_encoder(RUN, REPO)`, "
                           "which take its encoder out first.")
    if src.is_dir():
        for path in src.rglob("*"):
            rel = path.relative_to(src).as_posix()
            if not path.is_file() or rel in (CARD_FILE, MANIFEST_FILE) or rel.startswith("."):
                continue
            if rel in KERAS_FILES or rel.startswith("assets/"):
                (dest / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, dest / rel)
        check_keras_dir(dest, str(src))
        check_is_encoder(dest, str(src))
        old = src / MANIFEST_FILE
        if old.is_file():
            data = json.loads(old.read_text())
            return {**model_facts(dest),
                    **{k: v for k, v in data.items() if k not in ("files", "created", "format", "format_version")}}
        return model_facts(dest)
    if not zipfile.is_zipfile(src):
        raise StagingError(f"{src} is not a .keras archive (not a zip file). Save the model with "
                           "`model.save('encoder.keras')`.")
    with zipfile.ZipFile(src) as zf:
        for info in zf.infolist():
            rel = PurePosixPath(info.filename)
            if info.is_dir() or rel.is_absolute() or ".." in rel.parts:
                continue
            name = rel.as_posix()
            if name in KERAS_FILES or name.startswith("assets/"):
                (dest / name).parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as fin, open(dest / name, "wb") as fout:
                    shutil.copyfileobj(fin, fout, 1 << 20)
    check_keras_dir(dest, str(src))
    check_is_encoder(dest, str(src))
    return model_facts(dest)


def model_facts(folder) -> dict:
    """What the staged model's config.json says about its input: {"input_size": H} for square RGB faces
    (so a card never says "Input size: ?" about a model that knows it), else {}."""
    config = json.loads((Path(folder) / CONFIG_FILE).read_text())
    for layer in (config.get("config") or {}).get("layers") or []:
        if layer.get("class_name") == "InputLayer":
            shape = (layer.get("config") or {}).get("batch_shape") or (layer.get("config") or {}).get(
                "batch_input_shape")
            if shape and len(shape) == 4 and shape[1] and shape[1] == shape[2]:
                return {"input_size": int(shape[1])}
    return {}


def _io_count(spec) -> int:
    """How many tensors a Functional config's input_layers/output_layers names (["x", 0, 0] is one)."""
    if not spec:
        return 0
    if isinstance(spec, dict):
        return len(spec)
    if isinstance(spec, (list, tuple)) and spec and isinstance(spec[0], str):
        return 1
    return len(spec)


def check_is_encoder(folder, source: str) -> None:
    """Raise StagingError unless the model in `folder` is an encoder: a plain Keras model taking one
    face and returning one feature map (read from config.json, no Keras import)."""
    config = json.loads((Path(folder) / CONFIG_FILE).read_text())
    cls = str(config.get("class_name"))
    inner = config.get("config") or {}
    if cls == "SwapModel":
        raise StagingError(
            f"{source} is a whole face-swap model (a shared encoder plus one decoder per identity), not an "
            "encoder, so `zoo.load_encoder` could not use it. Publish the run folder instead (`facezoo "
            "publish RUN REPO`): its encoder is taken out and published alone.")
    if cls not in ENCODER_CLASSES:
        raise StagingError(f"{source} is a {cls} model, not an encoder (a Keras Functional or Sequential "
                           "model taking one face). Publish the encoder alone, e.g. "
                           "`keras.saving.save_model(model.encoder, 'encoder.keras')`.")
    inputs, outputs = _io_count(inner.get("input_layers")), _io_count(inner.get("output_layers"))
    if cls == "Functional" and (inputs != 1 or outputs != 1):
        raise StagingError(
            f"{source} takes {inputs} inputs and gives {outputs} outputs; an encoder takes one face and "
            "gives one feature map. A pretraining model is published through its run folder (`facezoo "
            "publish RUN REPO`, which uses RUN/encoder.keras) or `facezoo pretrain --publish`.")


def check_keras_dir(folder, source: str) -> None:
    """Raise StagingError unless `folder` holds a plausible Keras model (cheap, no Keras import)."""
    folder = Path(folder)
    for name in KERAS_FILES:
        if not (folder / name).is_file():
            raise StagingError(f"{source}: {name} is missing; a release needs {', '.join(KERAS_FILES)}. "
                               "Save with `keras.saving.save_model(model, DIR, zipped=False)` or "
                               "`model.save('encoder.keras')`.")
    for name in (CONFIG_FILE, METADATA_FILE):
        try:
            json.loads((folder / name).read_text())
        except ValueError as exc:
            raise StagingError(f"{source}: {name} is not valid JSON ({exc}).") from None
    with open(folder / WEIGHTS_FILE, "rb") as f:
        if f.read(len(HDF5_MAGIC)) != HDF5_MAGIC:
            raise StagingError(f"{source}: {WEIGHTS_FILE} is not an HDF5 file.")
    check_config_is_safe(folder / CONFIG_FILE, source)
