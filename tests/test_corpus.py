"""Pretraining corpora: every format reads, batches are deterministic, held-out identities never train."""
import json
import tarfile

import cv2
import numpy as np
import pytest

from zoo.data.corpus import (CelebACorpus, FlatCorpus, FolderCorpus, HeldOutIdentityError, SyntheticCorpus,
                             TarCorpus, expand_braces, open_corpus)
from zoo.errors import DataError


def _face(seed, size=40, shape=None):
    rng = np.random.default_rng(seed)
    h, w = shape or (size, size)
    img = np.full((h, w, 3), rng.integers(0, 255, 3), np.uint8)
    cv2.circle(img, (w // 2, h // 2), min(h, w) // 3, tuple(int(v) for v in rng.integers(0, 255, 3)), -1)
    return img


def _write(path, rgb):
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))


def _png(rgb):
    return cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))[1].tobytes()


def _add(tar, name, data):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    import io
    tar.addfile(info, io.BytesIO(data))


def _never_held(sampler, steps=40):
    held = set(sampler.held_ids.tolist())
    seen = set()
    for step in range(steps):
        x, ids, y = sampler.batch(step)
        assert x.shape == (sampler.batch_size, sampler.size, sampler.size, 3) and x.dtype == np.float32
        assert y.shape == (sampler.batch_size, sampler.size, sampler.size, 4)
        assert not held & set(ids.tolist())
        seen |= set(ids.tolist())
    return seen


def test_synthetic_corpus_deterministic_and_holdout():
    corpus = open_corpus("synthetic:200:seed=3")
    assert isinstance(corpus, SyntheticCorpus) and corpus.num_identities == 200 and corpus.seed == 3
    assert corpus.identities[0] == "id00000" and corpus.identities[-1] == "id00199"
    sampler = corpus.sampler(8, 32, holdout=20, seed=1)
    a, b = sampler.batch(5), sampler.batch(5)
    assert all(np.array_equal(u, v) for u, v in zip(a, b))
    assert not np.array_equal(sampler.batch(6)[0], a[0])
    assert 0.0 <= a[0].min() and a[0].max() <= 1.0 and a[2][..., 3].max() > 0.5
    seen = _never_held(sampler, 30)
    assert max(seen) < 180
    assert corpus.faces(199, 3, 32).shape == (3, 32, 32, 3)
    assert corpus.summary()["identities"] == 200


def test_holdout_assertion_fires():
    corpus = open_corpus("synthetic:50")
    sampler = corpus.sampler(4, 32, holdout=5)
    with pytest.raises(HeldOutIdentityError):
        sampler.check([1, 2, 47])
    with pytest.raises(HeldOutIdentityError):   # a sampler asked to train on held-out ids refuses to exist
        corpus.sampler(4, 32, holdout=5, train_ids=[0, 1, 49])
    with pytest.raises(DataError):
        corpus.split(50)


def test_folder_tree(tmp_path):
    root = tmp_path / "vgg"
    for ident in ("n000002", "n000001", "n000010"):
        for k in range(3):
            _write(root / ident / f"{k:04d}.jpg", _face(hash((ident, k)) % 1000, shape=(48, 40)))
    (root / "n000001" / "broken.png").write_bytes(b"")          # a bad file is skipped, not fatal
    corpus = open_corpus(str(root), aligned=True)
    assert isinstance(corpus, FolderCorpus)
    assert corpus.identities == ["n000001", "n000002", "n000010"]
    assert corpus.image_count() == 10 and corpus.resolution() == [40, 48]
    sampler = corpus.sampler(4, 32, holdout=1, seed=0)
    assert _never_held(sampler, 10) <= {0, 1}
    assert corpus.faces(2, 5, 32).shape == (3, 32, 32, 3)
    assert open_corpus(f"folder:{root}", aligned=True).num_identities == 3


def test_celeba_identity_file(tmp_path):
    root = tmp_path / "celeba"
    lines = []
    for n in range(1, 9):
        name = f"{n:06d}.jpg"
        _write(root / "img_align_celeba" / name, _face(n, shape=(54, 44)))
        lines.append(f"{name} {[2880, 10, 2][n % 3]}")
    lines.append("000099.jpg 7")  # listed but missing: warned, ignored
    (root / "identity_CelebA.txt").write_text("\n".join(lines) + "\n")
    corpus = open_corpus(str(root), aligned=True)
    assert isinstance(corpus, CelebACorpus) and corpus.kind == "celeba"
    assert corpus.identities == ["2", "10", "2880"]          # sorted numerically
    assert corpus.image_count() == 8
    sampler = corpus.sampler(4, 32, holdout=1)
    assert _never_held(sampler, 8) <= {0, 1}
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "identity_CelebA.txt").write_text("000001.jpg\n")
    with pytest.raises(DataError, match="line 1"):
        open_corpus(f"celeba:{tmp_path / 'bad'}")


def test_flat_folder_is_one_identity(tmp_path):
    for k in range(4):
        _write(tmp_path / "ffhq" / f"{k:05d}.png", _face(k))
    corpus = open_corpus(str(tmp_path / "ffhq"), aligned=True)
    assert isinstance(corpus, FlatCorpus) and corpus.identities == ["all"] and corpus.image_count() == 4
    x, ids, y = corpus.sampler(3, 32).batch(0)
    assert (ids == 0).all() and x.shape == (3, 32, 32, 3)
    assert open_corpus(f"flat:{tmp_path / 'ffhq'}", aligned=True).num_identities == 1


def _shards(folder, n_shards=2, per_shard=6, ids=("5", "12", "40")):
    folder.mkdir(parents=True, exist_ok=True)
    k = 0
    for s in range(n_shards):
        with tarfile.open(folder / f"shard-{s:06d}.tar", "w") as tar:
            for _ in range(per_shard):
                ident = ids[k % len(ids)]
                key = f"sample{k:06d}"
                _add(tar, f"{key}.png", _png(_face(k)))
                if k % 2:
                    _add(tar, f"{key}.cls", ident.encode())
                else:
                    _add(tar, f"{key}.json", json.dumps({"identity": ident}).encode())
                k += 1
            _add(tar, "orphan.png", _png(_face(99)))  # no label: not a sample
    return folder


def test_tar_shards_stream(tmp_path):
    folder = _shards(tmp_path / "wds")
    assert expand_braces("a-{000..002}.tar") == ["a-000.tar", "a-001.tar", "a-002.tar"]
    corpus = open_corpus(f"tar:{folder}/shard-{{000000..000001}}.tar", aligned=True)
    assert isinstance(corpus, TarCorpus) and corpus.streaming
    assert corpus.identities == ["5", "12", "40"] and corpus.image_count() == 12
    assert open_corpus(str(folder), aligned=True).image_count() == 12     # a folder of shards
    sampler = corpus.sampler(4, 32, holdout=1, seed=2)
    seen = _never_held(sampler, 12)   # several passes over the shards
    assert seen == {0, 1}
    again = corpus.sampler(4, 32, holdout=1, seed=2)
    assert np.array_equal(again.batch(0)[1], sampler.batch(0)[1])          # seeded stream
    assert np.array_equal(again.batch(7)[1], corpus.sampler(4, 32, holdout=1, seed=2).batch(7)[1])  # resume
    counts = corpus.photo_counts()                                         # --min-photos reads these
    assert counts.sum() == 12 and corpus.sampler(4, 32, holdout=1, min_photos=int(counts[:2].min())).train_ids.size == 2
    with pytest.raises(DataError, match="--min-photos"):
        corpus.sampler(4, 32, holdout=1, min_photos=13)
    held = corpus.faces_of([2], 3, 32)
    assert held[2].shape == (3, 32, 32, 3)
    summary = corpus.summary()
    assert summary["identities"] == 3 and summary["images"] == 12 and summary["resolution"] == 40


def test_bad_specs(tmp_path):
    with pytest.raises(DataError, match="synthetic"):
        open_corpus("synthetic:abc")
    with pytest.raises(DataError, match="does not exist"):
        open_corpus(str(tmp_path / "nope"))
    with pytest.raises(DataError, match="shard"):
        open_corpus(f"tar:{tmp_path}/missing-{{0..1}}.tar")


@pytest.mark.slow
def test_raw_corpus_is_aligned_once(tmp_path):
    """A raw identity tree goes through MTCNN extraction into the cache once; the second open reuses it."""
    from zoo.data.corpus import ensure_aligned
    from zoo.data.synthetic import SyntheticFaces, write_corpus

    write_corpus(tmp_path / "raw", SyntheticFaces(2, size=128, seed=0), images_per_identity=3)
    corpus = open_corpus(str(tmp_path / "raw"))
    assert not corpus.aligned
    aligned = ensure_aligned(corpus, tmp_path / "cache", 64)
    assert aligned.aligned and aligned.num_identities == 2 and aligned.image_count() >= 4
    assert (tmp_path / "cache" / "aligned.json").exists()
    again = ensure_aligned(open_corpus(str(tmp_path / "raw")), tmp_path / "cache", 64, detector=object())
    assert again.image_count() == aligned.image_count()
