"""The canonical template and the similarity alignment (no TensorFlow)."""
import numpy as np
import pytest

from zoo.data import align


def test_template_shape_and_layout():
    t = align.template_landmarks()
    assert t.shape == (5, 2) and align.TEMPLATE_NAME == "facezoo-5pt-v1"
    assert ((t > 0.2) & (t < 0.8)).all()  # margin all round for hair, jaw, forehead
    le, re, nose, ml, mr = t
    assert le[0] < re[0] and ml[0] < mr[0]            # image-left first
    assert le[1] < nose[1] < ml[1] and re[1] < nose[1] < mr[1]
    np.testing.assert_allclose(t[:, 0] + t[[1, 0, 2, 4, 3], 0], 1.0)  # left-right symmetric
    np.testing.assert_allclose(align.template_landmarks(256), t * 256)


@pytest.mark.parametrize("size", [63, 513, 100.0, True, "256"])
def test_bad_sizes_are_refused(size):
    with pytest.raises(ValueError, match="64 to 512"):
        align.template_landmarks(size)


def _similarity(angle, scale, tx, ty):
    c, s = np.cos(angle) * scale, np.sin(angle) * scale
    return np.array([[c, -s, tx], [s, c, ty]])


def test_estimate_similarity_recovers_a_known_transform():
    rng = np.random.default_rng(0)
    src = rng.uniform(0, 300, size=(5, 2))
    m = _similarity(0.4, 1.7, 12.0, -30.0)
    est = align.estimate_similarity(src, align.transform_points(src, m))
    np.testing.assert_allclose(est, m, atol=1e-9)
    np.testing.assert_allclose(align.invert(align.invert(m)), m, atol=1e-9)
    np.testing.assert_allclose(align.transform_points(align.transform_points(src, m), align.invert(m)), src,
                               atol=1e-9)


def test_no_reflection_for_mirrored_points():
    t = align.template_landmarks(128)
    mirrored = t.copy()
    mirrored[:, 0] = 200 - mirrored[:, 0]  # a mirror image: the best fit is a reflection, refused
    m = align.estimate_similarity(mirrored, t)
    assert np.linalg.det(m[:, :2]) > 0


def test_degenerate_points_raise():
    with pytest.raises(ValueError, match="one point"):
        align.estimate_similarity(np.ones((5, 2)), align.template_landmarks(64))


@pytest.mark.parametrize("size", [64, 112, 512])
def test_align_face_puts_landmarks_on_the_template(size):
    m = _similarity(-0.3, 2.5, 40.0, 25.0)
    src = align.transform_points(align.template_landmarks(), m)  # a rotated, scaled, shifted face
    image = np.zeros((400, 400, 3), np.uint8)
    for x, y in src:
        image[int(round(y)) - 1:int(round(y)) + 2, int(round(x)) - 1:int(round(x)) + 2] = 255
    crop, matrix = align.align_face(image, src, size)
    assert crop.shape == (size, size, 3) and crop.dtype == np.uint8
    np.testing.assert_allclose(align.transform_points(src, matrix), align.template_landmarks(size), atol=1e-6)
    for x, y in align.template_landmarks(size):  # the dots really are there in the pixels
        assert crop[int(round(y)), int(round(x))].max() > 60
    with pytest.raises(ValueError, match="shape"):
        align.align_face(image, src[:4], size)
