"""MTCNN's first stage (PNet) with an image pyramid that never shrinks below the network's 12 px input.

mtcnn 1.0's `build_scale_pyramid` counts its levels from the image's shorter side alone and then
multiplies every level by 12 / min_face_size, so the larger `min_face_size` is, the further below 12 px
its last levels fall: a 480 px wide frame with min_face_size=80 ends at 3 px and PNet's convolution fails
with "empty output" on every frame (issue 31). `pyramid_scales` keeps only the levels whose shorter side
is at least 12 px; `PNetStage` is mtcnn's own stage with that pyramid, used by `zoo.data.detect`.
TensorFlow and mtcnn are imported only when a stage is built.
"""
from __future__ import annotations

import numpy as np

PNET_INPUT = 12           # PNet's receptive field: the smallest image side it can run on
SCALE_FACTOR = 0.709      # mtcnn's pyramid step


def pyramid_scales(width: int, height: int, min_face_size: float, scale_factor: float = SCALE_FACTOR,
                   min_size: int = PNET_INPUT) -> np.ndarray:
    """The pyramid's scales: 12 / min_face_size, then times `scale_factor`, while the shorter side
    stays >= 12 px. Empty when even the first level is below 12 px (no face of that size fits)."""
    min_dim = float(min(width, height))
    scales = []
    scale = min_size / float(min_face_size)
    while min_dim * scale >= min_size:
        scales.append(scale)
        scale *= scale_factor
    return np.asarray(scales, dtype=np.float64)


def make_pnet_stage():
    """An instance of mtcnn's StagePNet whose pyramid is `pyramid_scales` (same weights, same NMS)."""
    from mtcnn.stages import StagePNet
    from mtcnn.utils.bboxes import generate_bounding_box, resize_to_square, smart_nms_from_bboxes, upscale_bboxes
    from mtcnn.utils.images import apply_scales

    class PNetStage(StagePNet):
        def __call__(self, images_normalized, images_oshapes, min_face_size=20, min_size=PNET_INPUT,
                     scale_factor=SCALE_FACTOR, threshold_pnet=0.6, nms_pnet1=0.5, nms_pnet2=0.7, **kwargs):
            groups = [pyramid_scales(int(s[1]), int(s[0]), min_face_size, scale_factor, min_size)
                      for s in images_oshapes]
            if max(len(g) for g in groups) == 0:
                return np.empty((0, 6))
            scaled, scales = apply_scales(images_normalized, groups)
            batch = images_normalized.shape[0]
            results = [self._model(s) for s in scaled]
            proposals = [generate_bounding_box(r[0], r[1], threshold_pnet) for r in results]
            upscaled = [upscale_bboxes(b, np.asarray([s] * batch)) for b, s in zip(proposals, scales)]
            nms = [smart_nms_from_bboxes(b, threshold=nms_pnet1, method="union", initial_sort=False)
                   for b in upscaled]
            boxes = np.concatenate(nms, axis=0) if nms else np.empty((0, 6))
            boxes = smart_nms_from_bboxes(boxes, threshold=nms_pnet2, method="union", initial_sort=True)
            return resize_to_square(boxes)

    return PNetStage()
