"""The encoder catalogue: names, wildcards, errors, and every entry building to its declared shape."""
import os
import subprocess
import sys

import numpy as np
import pytest

import zoo
from zoo.errors import UnknownEncoderError

REQUIRED = ["effnet-face-v2", "effnet-face-v1", "convnext-face", "resnet-face", "mobilenet-face", "fs-original"]


def test_catalogue_has_the_required_entries():
    assert set(REQUIRED) <= set(zoo.list_encoders())


def test_wildcards_filter():
    assert zoo.list_encoders("effnet-*") == ["effnet-face-v1", "effnet-face-v2"]
    assert zoo.list_encoders("*-face") == ["convnext-face", "mobilenet-face", "resnet-face"]
    assert zoo.list_encoders("nothing-*") == []
    assert zoo.list_encoders("mobilenet-*") == ["mobilenet-face", "mobilenet-face.lfw-v1"]
    assert zoo.list_encoders("mobilenet-*", presets=False) == ["mobilenet-face"]


def test_unknown_name_suggests_close_names():
    with pytest.raises(UnknownEncoderError) as info:
        zoo.get_spec("effnet-face-v3")
    text = str(info.value)
    assert "'effnet-face-v2'" in text and "facezoo encoders list" in text and "Received: name='effnet-face-v3'" in text


def test_name_at_revision():
    assert zoo.parse_ref("effnet-face-v2@v1") == ("effnet-face-v2", "v1")
    assert zoo.parse_ref("effnet-face-v2") == ("effnet-face-v2", None)
    assert zoo.get_spec("effnet-face-v2@v1").name == "effnet-face-v2"
    with pytest.raises(UnknownEncoderError):
        zoo.parse_ref("effnet-face-v2@")


@pytest.mark.parametrize("name", REQUIRED)
def test_every_entry_builds_to_its_feature_shape(name):
    spec = zoo.get_spec(name)
    size = 64
    encoder = zoo.build_encoder(name, input_size=size)
    out = encoder.predict(np.random.default_rng(0).random((2, size, size, 3), dtype=np.float32), verbose=0)
    assert out.shape == (2, *spec.feature_shape(size))
    assert np.isfinite(out).all()
    assert len(zoo.encoder_blocks(encoder)) >= 4


def test_import_zoo_is_lazy():
    code = ("import sys, zoo, hub; zoo.list_encoders(); zoo.get_spec('effnet-face-v2'); "
            "print(any(m in sys.modules for m in ('tensorflow', 'keras', 'cv2', 'jax')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_import_zoo_turns_tensorflows_onednn_kernels_on_unless_the_user_chose():
    """TensorFlow enables oneDNN only on some Intel CPUs; facezoo asks for it everywhere (1.6-2.6x faster
    training steps on this AMD CPU: benchmarks/onednn.py) and leaves a user's own setting alone."""
    code = "import os, zoo, tensorflow; print(os.environ['TF_ENABLE_ONEDNN_OPTS'])"
    env = {k: v for k, v in os.environ.items() if k != "TF_ENABLE_ONEDNN_OPTS"}
    env.update(TF_CPP_MIN_LOG_LEVEL="0", KERAS_BACKEND="tensorflow")
    on = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert on.stdout.strip() == "1" and "oneDNN custom operations are on" in on.stderr
    off = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**env, "TF_ENABLE_ONEDNN_OPTS": "0"})
    assert off.stdout.strip() == "0" and "oneDNN custom operations are on" not in off.stderr


def test_cli_encoders_list_and_show():
    out = subprocess.run([sys.executable, "-m", "recipes.cli", "encoders", "list", "effnet-*"],
                         capture_output=True, text=True, check=True)
    assert "effnet-face-v2" in out.stdout and "convnext-face" not in out.stdout
    out = subprocess.run([sys.executable, "-m", "recipes.cli", "encoders", "show", "fs-original"],
                         capture_output=True, text=True, check=True)
    assert "fs_original" in out.stdout and "feature_shape" in out.stdout
    out = subprocess.run([sys.executable, "-m", "recipes.cli", "encoders", "list"], capture_output=True, text=True,
                         check=True)
    preset_row = next(line for line in out.stdout.splitlines() if line.startswith("mobilenet-face.lfw-v1 "))
    assert "LFW VIEW 1" in out.stdout.splitlines()[0] and "61.5%" in preset_row and "mobilenetv3/small" in preset_row
    out = subprocess.run([sys.executable, "-m", "recipes.cli", "encoders", "show", "mobilenet-face"],
                         capture_output=True, text=True, check=True)
    assert "preset mobilenet-face.lfw-v1 (the default" in out.stdout and "61.5%" in out.stdout
    assert "89ba915f6094ec330d04a92f8048f25cf3fb5f636266bcae0b173409a85a635f  model.weights.h5" in out.stdout
    bad = subprocess.run([sys.executable, "-m", "recipes.cli", "encoders", "show", "resnet-fase"],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "resnet-face" in bad.stderr and "Traceback" not in bad.stderr


def test_custom_register_before_first_lookup_keeps_the_builtins():
    """Bug: registering a spec before any lookup hid every built-in (the registry loaded the catalogue only
    while it was empty). Built-in families register themselves, so both are found. A fresh interpreter,
    because this test process has looked names up already."""
    code = ("import zoo; zoo.register(zoo.EncoderSpec(name='my-enc', family='mobilenetv3', variant='small', "
            "input_size=64, feature_stride=32, feature_channels=576, description='mine')); "
            "print(zoo.get_spec('effnet-face-v2').family, zoo.get_spec('my-enc').name, "
            "len(zoo.list_encoders(presets=False)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    family, mine, count = out.stdout.split()
    assert (family, mine) == ("efficientnetv2", "my-enc") and int(count) == len(REQUIRED) + 1


def test_registry_imports_no_family():
    import ast
    from pathlib import Path

    tree = ast.parse(Path(zoo.registry.__file__).read_text())
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    assert not {m for m in imported if m and m.startswith(("zoo.encoders", "zoo.catalogue"))}
