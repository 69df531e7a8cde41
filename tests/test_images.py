"""Robust image reading: each kind of bad file gives its reason or is converted (no TensorFlow)."""
import cv2
import numpy as np
import pytest

from zoo.data import images
from zoo.data.images import SkipReason, read_image, write_image
from zoo.errors import DataError

from _support import make_bad_files


@pytest.fixture
def rgb():
    rng = np.random.default_rng(1)
    img = np.zeros((48, 64, 3), np.uint8)
    img[:, :32] = (200, 30, 10)  # left half red
    img[:, 32:] = rng.integers(0, 255, (48, 32, 3), dtype=np.uint8)
    return img


def test_bad_files_give_reasons_or_convert(tmp_path, rgb):
    expected = make_bad_files(tmp_path, rgb)
    for name, reason in expected.items():
        if reason is None:
            out = read_image(tmp_path / name)
            assert out.dtype == np.uint8 and out.ndim == 3 and out.shape[2] == 3, name
        else:
            with pytest.raises(SkipReason) as info:
                read_image(tmp_path / name)
            assert info.value.reason == reason, name
            assert isinstance(info.value, DataError) and name in str(info.value)
    with pytest.raises(SkipReason) as info:
        read_image(tmp_path / "missing.png")
    assert info.value.reason == "not-found"


def test_conversions_are_right(tmp_path, rgb):
    make_bad_files(tmp_path, rgb)
    np.testing.assert_array_equal(read_image(tmp_path / "deep16.png"), rgb)
    np.testing.assert_array_equal(read_image(tmp_path / "rgba.png"), rgb)
    grey = read_image(tmp_path / "grey.png")
    assert (grey[..., 0] == grey[..., 1]).all() and (grey[..., 1] == grey[..., 2]).all()
    rotated = read_image(tmp_path / "rotated.jpg")  # orientation 8 applied: upright again
    assert rotated.shape == rgb.shape
    assert rotated[24, 5, 0] > 150 and rotated[24, 5, 2] < 80  # the red half is on the left again


def test_alpha_is_composited_on_black(tmp_path, rgb):
    bgra = np.dstack([rgb[:, :, ::-1], np.zeros(rgb.shape[:2], np.uint8)])
    bgra[:, :32, 3] = 255
    cv2.imwrite(str(tmp_path / "a.png"), bgra)
    out = read_image(tmp_path / "a.png")
    np.testing.assert_array_equal(out[:, :32], rgb[:, :32])
    assert out[:, 32:].max() == 0


def test_pixel_limit_is_configurable(tmp_path, rgb):
    write_image(tmp_path / "x.png", rgb)
    with pytest.raises(SkipReason, match="too-large"):
        read_image(tmp_path / "x.png", max_pixels=100)


def test_write_image_is_atomic_and_round_trips(tmp_path, rgb):
    path = write_image(tmp_path / "sub" / "x.png", rgb)
    np.testing.assert_array_equal(read_image(path), rgb)
    assert [p.name for p in path.parent.iterdir()] == ["x.png"]  # no temp file left


def test_list_images(tmp_path, rgb):
    for rel in ["b.png", "a/c.JPG", "a/notes.txt", ".hidden/d.png"]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"x")
    assert [p.relative_to(tmp_path).as_posix() for p in images.list_images(tmp_path)] == ["a/c.JPG", "b.png"]
    with pytest.raises(DataError, match="not a folder"):
        images.list_images(tmp_path / "b.png")


def test_video_reading(tmp_path, rgb):
    from zoo.data.video import iter_frames, video_info

    path = tmp_path / "v.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 48))
    for i in range(7):
        writer.write(np.roll(rgb, i, axis=1)[:, :, ::-1].copy())
    writer.release()
    info = video_info(path)
    assert info.size == (64, 48) and info.frame_count == 7 and info.fps == pytest.approx(10)
    frames = list(iter_frames(path, every_n=3))
    assert [i for i, _ in frames] == [0, 3, 6]
    assert frames[0][1].shape == (48, 64, 3) and frames[0][1][:, 5, 0].mean() > 150  # RGB, not BGR
    (tmp_path / "bad.mp4").write_bytes(b"not a video at all" * 100)
    with pytest.raises(SkipReason) as info:
        list(iter_frames(tmp_path / "bad.mp4"))
    assert info.value.reason == "unreadable-video"


def test_cmyk_jpeg_is_converted(tmp_path, rgb):
    Image = pytest.importorskip("PIL.Image")
    Image.fromarray(rgb).convert("CMYK").save(tmp_path / "cmyk.jpg", quality=95)
    out = read_image(tmp_path / "cmyk.jpg")
    assert out.shape == rgb.shape and out.dtype == np.uint8
    assert np.abs(out[:, :28].astype(int) - rgb[:, :28]).mean() < 20  # colours survive (not inverted)
