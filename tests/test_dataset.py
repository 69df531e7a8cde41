"""Training datasets: batch structure, determinism across workers/processes, sources, errors, no TF."""
import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from zoo.data.dataset import (ALIGNMENTS_FILE, ArraySource, FaceDataset, split_targets,
                              template_landmarks)
from zoo.errors import DataError

ROOT = Path(__file__).resolve().parents[1]


def _faces(n, size=48, seed=0):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size] / size
    base = np.stack([x, y, 1 - x], -1)[None] * rng.uniform(100, 250, (n, 1, 1, 3))
    return np.clip(base + rng.normal(0, 15, (n, size, size, 3)), 0, 255).astype(np.uint8)


def _write_folder(folder, faces, alignments=None):
    folder.mkdir(parents=True, exist_ok=True)
    for i, face in enumerate(faces):
        cv2.imwrite(str(folder / f"{i:03d}.png"), cv2.cvtColor(face, cv2.COLOR_RGB2BGR))
    if alignments is not None:
        with open(folder / ALIGNMENTS_FILE, "w") as f:
            for record in alignments:
                f.write(json.dumps(record) + "\n")
    return folder


def _assert_batches_equal(a, b):
    if isinstance(a, (tuple, list)):
        assert len(a) == len(b)
        for u, v in zip(a, b):
            _assert_batches_equal(u, v)
    else:
        np.testing.assert_array_equal(a, b)


def test_swap_batch_structure_and_ranges():
    ds = FaceDataset([ArraySource(_faces(10)), _faces(5, seed=1)], batch_size=4, size=32, seed=3)
    assert len(ds) == 3  # ceil(10 / 4): the largest source is seen once per epoch
    x, y = ds[0]
    assert isinstance(x, tuple) and isinstance(y, tuple) and len(x) == len(y) == 2
    for inputs, targets in zip(x, y):
        assert inputs.shape == (4, 32, 32, 3) and targets.shape == (4, 32, 32, 4)
        assert inputs.dtype == targets.dtype == np.float32
        assert 0 <= inputs.min() and inputs.max() <= 1 and 0 <= targets.min() and targets.max() <= 1
        rgb, mask = split_targets(targets)
        assert rgb.shape == (4, 32, 32, 3) and mask.shape == (4, 32, 32, 1)
        assert mask.max() > 0.9 and mask[:, 0, 0].max() < 0.1
        assert not np.array_equal(inputs, rgb)  # warped input vs target


def test_batches_are_a_function_of_seed_epoch_index():
    faces = _faces(12)
    ds = FaceDataset([faces, faces[:7]], batch_size=4, size=32, seed=5)
    again = FaceDataset([faces, faces[:7]], batch_size=4, size=32, seed=5)
    _assert_batches_equal(ds[2], again[2])
    _assert_batches_equal(ds[1], ds[1])  # cached faces, same result
    other_seed = FaceDataset([faces, faces[:7]], batch_size=4, size=32, seed=6)
    assert not np.array_equal(ds[0][0][0], other_seed[0][0][0])
    first = ds[0]
    ds.on_epoch_end()
    assert ds.epoch == 1 and not np.array_equal(first[0][0], ds[0][0][0])
    ds.set_epoch(0)
    _assert_batches_equal(first, ds[0])


def test_epoch_walks_every_face():
    faces = _faces(8)
    faces[:, 0, 0, 0] = np.arange(8)  # tag each face
    ds = FaceDataset([faces], batch_size=4, size=48, augment=False)
    seen = sorted(round(float(ds[i][1][0][j, 0, 0, 0]) * 255) for i in range(2) for j in range(4))
    assert seen == list(range(8))
    x, y = ds[0]
    np.testing.assert_array_equal(x[0], split_targets(y[0])[0])  # no augmentation: input == target


def _iterate(ds):
    from keras.src.trainers.data_adapters.py_dataset_adapter import PyDatasetAdapter
    adapter = PyDatasetAdapter(ds, shuffle=False)
    adapter.on_epoch_begin()
    batches = list(adapter.get_numpy_iterator())
    adapter.on_epoch_end()
    return batches


@pytest.mark.parametrize("use_multiprocessing", [False, True])
def test_workers_do_not_change_the_data(tmp_path, use_multiprocessing):
    folder = _write_folder(tmp_path / "a", _faces(6))
    kwargs = dict(batch_size=3, size=32, seed=11, steps_per_epoch=3)
    serial = _iterate(FaceDataset([folder, _faces(4, seed=2)], workers=1, **kwargs))
    dataset = FaceDataset([folder, _faces(4, seed=2)], workers=2,
                          use_multiprocessing=use_multiprocessing, **kwargs)
    # Processes are forked per epoch: the cache is filled before, in this process.
    assert len(dataset.store._cache) == (10 if use_multiprocessing else 0)
    parallel = _iterate(dataset)
    assert len(serial) == len(parallel) == 3
    for a, b in zip(serial, parallel):
        _assert_batches_equal(tuple(a), tuple(b))


def test_folder_with_alignments_uses_its_landmarks(tmp_path):
    faces = _faces(3, size=64)
    # Face 0: landmarks shifted right by 16 px, so its mask moves right; others use the template.
    shifted = (template_landmarks(64) + [16, 0]).tolist()
    records = [{"source": "clip.mp4", "frame": 0, "status": "skipped"},
               {"crop": "000.png", "landmarks_crop": shifted}]
    folder = _write_folder(tmp_path / "a", faces, records)
    (folder / "notes.txt").write_text("not an image")
    ds = FaceDataset([folder], batch_size=1, size=64, augment=False)
    assert len(ds.sources[0]) == 3
    mask_shifted = ds.store.get(0, 0)[1].astype(float)
    mask_template = ds.store.get(0, 1)[1].astype(float)
    cols = np.arange(64)
    centre = lambda m: (m.sum(0) * cols).sum() / m.sum()  # noqa: E731
    assert centre(mask_shifted) - centre(mask_template) == pytest.approx(16, abs=1.5)


def test_bad_files_are_skipped_and_reported(tmp_path):
    folder = _write_folder(tmp_path / "a", _faces(2))
    (folder / "002.png").write_bytes(b"")
    (folder / "003.jpg").write_bytes(b"not a jpeg at all")
    grey = cv2.cvtColor(_faces(1)[0], cv2.COLOR_RGB2GRAY)
    cv2.imwrite(str(folder / "004.png"), grey)
    cv2.imwrite(str(folder / "005.png"), (_faces(1)[0].astype(np.uint16) * 257))
    ds = FaceDataset([folder], batch_size=6, size=32, seed=0)
    x, _ = ds[0]
    assert x[0].shape == (6, 32, 32, 3)
    reasons = dict(ds.skipped)
    assert set(map(os.path.basename, reasons)) == {"002.png", "003.jpg"}
    assert "zero-byte" in reasons[str(folder / "002.png")]


def test_missing_or_empty_folder_names_it(tmp_path):
    missing = tmp_path / "nobody"
    with pytest.raises(DataError, match="nobody.*does not exist"):
        FaceDataset([missing], batch_size=2, size=32)
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.txt").write_text("x")
    with pytest.raises(DataError, match="empty.*no images"):
        FaceDataset([empty], batch_size=2, size=32)
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "a.png").write_bytes(b"junk")
    with pytest.raises(DataError, match="broken.*no readable images"):
        FaceDataset([broken], batch_size=2, size=32)[0]


def test_no_tensorflow_under_jax_backend():
    code = ("import sys, zoo.data.dataset as d, numpy as np\n"
            "ds = d.FaceDataset([np.zeros((2, 32, 32, 3), np.uint8)], 2, 32)\n"
            "ds[0]\n"
            "import keras\n"
            "assert keras.backend.backend() == 'jax', keras.backend.backend()\n"
            "bad = sorted(m for m in sys.modules if m.split('.')[0] == 'tensorflow')\n"
            "assert not bad, bad[:5]\n")
    env = dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]


def test_a_face_folder_reads_its_alignments_with_the_one_reader(tmp_path):
    """Training folders read `alignments.jsonl` through `zoo.data.alignments`: a cut-off last line (a
    killed extract) is dropped, a damaged line before it is an error naming the file."""
    from zoo.data.dataset import FolderSource

    shifted = (template_landmarks(48) + 2.0).tolist()
    folder = _write_folder(tmp_path / "faces", _faces(2), [{"crop": "000.png", "landmarks_crop": shifted}])
    with open(folder / ALIGNMENTS_FILE, "a") as f:
        f.write('{"crop": "001.png", "landm')          # cut off mid-record, no newline
    source = FolderSource(folder)
    assert len(source) == 2
    np.testing.assert_allclose(source.read(0)[1], shifted)
    assert source.read(1)[1] is None                   # its record was cut off: template landmarks
    (folder / ALIGNMENTS_FILE).write_text('{"crop": "000.png"}\nnot json\n{"crop": "001.png"}\n')
    with pytest.raises(DataError, match=str(folder / ALIGNMENTS_FILE).replace("/", ".")):
        FolderSource(folder)
