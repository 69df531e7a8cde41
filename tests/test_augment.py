"""Augmentation and landmark masks: determinism, shapes, ranges, warp vs target, mask coverage."""
import numpy as np
import pytest

from zoo.data.augment import NONE, AugmentConfig, augment_pair
from zoo.data.dataset import template_landmarks
from zoo.data.masks import dilate, face_ellipse, landmark_mask

SIZE = 64


def _face(size=SIZE, seed=0):
    """A textured image (smooth gradients + noise) so geometric changes are visible."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size] / size
    base = np.stack([x, y, (x + y) / 2], -1) * 200
    return np.clip(base + rng.normal(0, 20, base.shape), 0, 255).astype(np.uint8)


def _mask(size=SIZE):
    return landmark_mask(template_landmarks(size), size)


def test_deterministic_under_a_seed():
    image, mask = _face(), _mask()
    a = augment_pair(image, mask, np.random.default_rng(7), SIZE)
    b = augment_pair(image, mask, np.random.default_rng(7), SIZE)
    c = augment_pair(image, mask, np.random.default_rng(8), SIZE)
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)
    assert not np.array_equal(a[0], c[0])


@pytest.mark.parametrize("size_in,size_out", [(64, 64), (128, 64), (48, 64)])
def test_shapes_and_ranges(size_in, size_out):
    image = _face(size_in)
    warped, target, mask = augment_pair(image, _mask(size_in), np.random.default_rng(0), size_out)
    assert warped.shape == target.shape == (size_out, size_out, 3)
    assert mask.shape == (size_out, size_out, 1)
    for array in (warped, target, mask):
        assert array.dtype == np.float32
        assert array.min() >= 0.0 and array.max() <= 1.0


def test_no_augmentation_is_identity():
    image = _face()
    warped, target, mask = augment_pair(image, None, np.random.default_rng(0), SIZE, NONE)
    np.testing.assert_allclose(target, image / 255.0, atol=1e-5)
    np.testing.assert_array_equal(warped, target)
    assert mask.min() == 1.0


def test_warp_changes_input_but_target_is_the_transformed_source():
    image, mask = _face(), _mask()
    geometry_only = AugmentConfig(lightness=0, contrast=0, ab=0, flip=0, warp=0)
    # Same rng state: warp on/off changes only the input; the target is the plain transform.
    warped, target, tmask = augment_pair(image, mask, np.random.default_rng(3), SIZE,
                                         AugmentConfig(lightness=0, contrast=0, ab=0, flip=0))
    _, plain_target, plain_mask = augment_pair(image, mask, np.random.default_rng(3), SIZE,
                                               geometry_only)
    np.testing.assert_array_equal(target, plain_target)
    np.testing.assert_array_equal(tmask, plain_mask)
    assert np.abs(warped - target).mean() > 0.02
    # The warp is a small displacement: input stays correlated with the target.
    assert np.corrcoef(warped.ravel(), target.ravel())[0, 1] > 0.5


def test_flip_only_mirrors_image_and_mask():
    image, mask = _face(), _mask()
    flip = AugmentConfig(rotation=0, zoom=0, shift=0, flip=1.0, lightness=0, contrast=0, ab=0,
                         warp=0)
    warped, target, tmask = augment_pair(image, mask, np.random.default_rng(0), SIZE, flip)
    np.testing.assert_allclose(target, image[:, ::-1] / 255.0, atol=1e-5)
    np.testing.assert_allclose(tmask[..., 0], mask[:, ::-1], atol=0.6 / 255)


def test_colour_jitter_changes_colour_not_geometry():
    image = _face()
    colour = AugmentConfig(rotation=0, zoom=0, shift=0, flip=0, warp=0, lightness=0.3, ab=0.1)
    changed = [augment_pair(image, None, np.random.default_rng(s), SIZE, colour)[1] for s in range(4)]
    assert max(np.abs(c - image / 255.0).mean() for c in changed) > 0.02
    grey = lambda a: a.mean(-1) - a.mean()  # noqa: E731 - structure survives a colour shift
    assert all(np.corrcoef(grey(c).ravel(), grey(image / 255.0).ravel())[0, 1] > 0.8
               for c in changed)


def test_bad_config_and_input_are_refused():
    with pytest.raises(ValueError, match="rotation"):
        AugmentConfig(rotation=-1)
    with pytest.raises(ValueError, match="flip"):
        AugmentConfig(flip=2)
    with pytest.raises(ValueError, match="RGB"):
        augment_pair(np.zeros((8, 8)), None, np.random.default_rng(0), 8)


@pytest.mark.parametrize("size", [64, 128])
def test_mask_covers_landmarks_not_corners(size):
    landmarks = template_landmarks(size)
    mask = landmark_mask(landmarks, size)
    assert mask.dtype == np.float32 and mask.shape == (size, size)
    assert mask.min() >= 0.0 and mask.max() <= 1.0
    for x, y in landmarks:
        assert mask[int(round(y)), int(round(x))] > 0.95
    for y, x in [(0, 0), (0, size - 1), (size - 1, 0), (size - 1, size - 1)]:
        assert mask[y, x] < 0.05
    # The face ellipse reaches above the eyes (forehead) and below the mouth (chin).
    (cx, cy), (w, h), _ = face_ellipse(landmarks)
    assert cy - h / 2 < landmarks[:2, 1].min() and cy + h / 2 > landmarks[3:, 1].max()
    assert w > 1.5 * (landmarks[1, 0] - landmarks[0, 0])


def test_mask_follows_a_rotated_face():
    size = 96
    landmarks = template_landmarks(size)
    centre = np.array([size / 2, size / 2])
    theta = np.radians(30)
    rot = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    turned = (landmarks - centre) @ rot.T + centre
    mask = landmark_mask(turned, size)
    for x, y in turned:
        assert mask[int(round(y)), int(round(x))] > 0.95
    with pytest.raises(ValueError, match="5 finite"):
        landmark_mask(np.zeros((4, 2)), size)


def test_dilate_grows_and_erodes():
    mask = landmark_mask(template_landmarks(SIZE), SIZE, feather=0)
    assert dilate(mask, 3).sum() > mask.sum() > dilate(mask, -3).sum()
    np.testing.assert_array_equal(dilate(mask, 0), mask)


@pytest.mark.parametrize("border", [False, True])
def test_augment_into_is_augment_pair_in_uint8_and_the_mask_warps_with_a_zero_border(border):
    """The data path's uint8 form (`augment_into`, written in place) holds augment_pair's values x255;
    the mask moves as a BORDER_CONSTANT-0 warp whether it rides in one 4-channel warp with the face (a
    mask that is 0 on its border) or is warped alone (a mask that is not)."""
    import cv2

    from zoo.data.augment import DEFAULT, augment_into, random_transform_matrix

    image = _face(96, seed=3)
    mask = np.clip(_mask(96) * 255 + 0.5, 0, 255).astype(np.uint8)
    assert not mask[0].any() and not mask[:, -1].any()  # the template mask is 0 on its border
    if border:
        mask[0, :] = 200
    out_x, out_y = np.zeros((4, SIZE, SIZE, 3), np.uint8), np.zeros((4, SIZE, SIZE, 4), np.uint8)
    for seed in range(4):
        x, y = augment_into(image, mask, np.random.default_rng(seed), SIZE, out_x=out_x[seed], out_y=out_y[seed])
        assert np.shares_memory(x, out_x[seed]) and np.shares_memory(y, out_y[seed])
        warped, target, tmask = augment_pair(image, mask, np.random.default_rng(seed), SIZE)
        np.testing.assert_array_equal(warped, out_x[seed].astype(np.float32) * np.float32(1 / 255))
        np.testing.assert_array_equal(target, out_y[seed, ..., :3].astype(np.float32) * np.float32(1 / 255))
        np.testing.assert_array_equal(tmask, out_y[seed, ..., 3:].astype(np.float32) * np.float32(1 / 255))
        rng = np.random.default_rng(seed)  # the documented draw order: transform (4), then flip (1)
        geo = rng.uniform(-1.0, 1.0, size=4)
        flip = bool(rng.random() < DEFAULT.flip)
        matrix = random_transform_matrix(geo, flip, 96, SIZE, DEFAULT)
        expected = cv2.warpAffine(mask, matrix, (SIZE, SIZE), flags=cv2.INTER_LINEAR,
                                  borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        np.testing.assert_array_equal(out_y[seed, ..., 3], expected)
    assert len({out_x[s].tobytes() for s in range(4)}) == 4  # each seed its own draw
