"""The memory-mapped crop cache (`zoo.data.crop_cache`): built once, shared, the same faces as decoding."""
import os

import numpy as np


def _folder_corpus(tmp_path):
    import cv2

    from zoo.data.corpus import open_corpus
    root = tmp_path / "faces"
    for ident in range(3):
        (root / f"p{ident}").mkdir(parents=True)
        for k in range(4):
            img = np.random.default_rng(ident * 10 + k).integers(0, 255, (72, 80, 3), dtype=np.uint8)
            cv2.imwrite(str(root / f"p{ident}" / f"{k}.jpg"), img[..., ::-1])
    (root / "p1" / "broken.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    return open_corpus(f"folder:{root}", aligned=True), root


def test_cached_corpus_draws_the_faces_decoding_draws_and_is_built_once(tmp_path):
    from zoo.data.crop_cache import ARRAY, INDEX, with_crop_cache

    plain, root = _folder_corpus(tmp_path)
    cached = with_crop_cache(plain, 48)
    folder = cached.crops.folder
    assert (folder / INDEX).exists() and (folder / ARRAY).exists()
    assert cached.crops.array.shape == (13, 48, 48, 3)
    assert list(cached.crops.bad) == [str(root / "p1" / "broken.jpg")]
    for step in range(6):
        a = plain.sampler(4, 48, seed=7).batch(step)
        b = cached.sampler(4, 48, seed=7).batch(step)
        for u, v in zip(a, b):
            np.testing.assert_array_equal(u, v)
    np.testing.assert_array_equal(plain.faces(1, 5, 48), cached.faces(1, 5, 48))
    cached.faces(1, 5, 48)
    assert str(root / "p1" / "broken.jpg") in cached.skipped
    built = os.stat(folder / ARRAY).st_ino
    again = with_crop_cache(plain, 48)   # a second run: the same cache, not rebuilt
    assert again.crops.folder == folder and os.stat(folder / ARRAY).st_ino == built
    assert with_crop_cache(plain, 32).crops.folder != folder          # another size, another cache
    os.utime(root / "p0" / "0.jpg", ns=(1, 1))                         # a changed file: a new cache
    assert with_crop_cache(plain, 48).crops.folder != folder
