"""Swapping faces in frames: the faces to swap, the swapper, and the one-image API.

`FaceSwapper.swap_frames` aligns each given face to the canonical template at the model's input size,
decodes it as the target identity, colour-matches it to the original and blends it back through the
inverse alignment (`zoo.blend`); a frame without a face comes out as the very same array.
`iter_swapped` is the frame pipeline before encoding (batches of frames -> faces -> swapped frames);
`swap_image` is one image in, one out. Faces come as `FaceRef`s, from an alignments file or from a
detector (`detected_faces`). numpy and OpenCV; the model is whatever `zoo.load_run` returns.
"""
from __future__ import annotations

import logging
import time
from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from zoo.blend import COLOR_MODES, FEATHER, MASK_MODES, check_mode, crop_mask, match_color, paste_face
from zoo.errors import FacezooError, InputError

log = logging.getLogger("facezoo.convert")

__all__ = ["FaceRef", "FaceSwapper", "choose_faces", "detected_faces", "iter_swapped", "swap_image",
           "template_matrix"]


@dataclass
class FaceRef:
    """One face to swap: 5 landmarks in source pixels (template order), plus what chose it."""

    landmarks: np.ndarray
    index: int = 0
    box: np.ndarray | None = None
    score: float = 1.0

    @property
    def area(self) -> float:
        if self.box is not None:
            b = np.asarray(self.box, np.float64)
            return max(b[2] - b[0], 0.0) * max(b[3] - b[1], 0.0)
        pts = np.asarray(self.landmarks, np.float64)
        span = pts.max(0) - pts.min(0)
        return float(span[0] * span[1])


def template_matrix(landmarks, size: int) -> np.ndarray:
    """The 2x3 source -> crop matrix that puts `landmarks` on the canonical template in a `size` crop."""
    from zoo.data.align import estimate_similarity, template_landmarks

    return estimate_similarity(np.asarray(landmarks, np.float64).reshape(5, 2),
                               template_landmarks(None) * float(size))


def choose_faces(faces: list[FaceRef], face_index: int | None = None, largest: bool = False) -> list[FaceRef]:
    """All faces, the one with index `face_index`, or the largest one."""
    if face_index is not None:
        return [f for f in faces if f.index == face_index][:1]
    if largest and faces:
        return [max(faces, key=lambda f: f.area)]
    return list(faces)


class FaceSwapper:
    """Swaps given faces in batches of frames and keeps per-stage timings (seconds in `timings`).

    Args:
        model: a `zoo.SwapModel` (e.g. `zoo.load_run(run_dir)`).
        to: the identity to render faces as.
        mask: "learned" | "landmark" | "both" (product).
        color: "lab" | "hist" | "none".
        batch_size: faces per model call.
    """

    def __init__(self, model, to: str = "b", *, mask: str = "both", color: str = "lab", batch_size: int = 16,
                 feather: float = FEATHER):
        identities = list(getattr(model, "identities", []))
        if to not in identities:
            raise FacezooError(f"identity {to!r} is not in this model; it has {identities}. "
                               f"Pick one of them with --to.")
        self.model = model
        self.to = to
        self.mask = check_mode(mask, MASK_MODES, "mask")
        self.color = check_mode(color, COLOR_MODES, "color")
        if int(batch_size) < 1:
            raise InputError(f"batch_size must be >= 1. Received: batch_size={batch_size!r}")
        self.batch_size = int(batch_size)
        self.feather = float(feather)
        self.size = int(model.input_size)
        self.timings: dict[str, float] = defaultdict(float)
        self.faces = 0

    def swap_frames(self, frames: list[np.ndarray], faces: list[list[FaceRef]]) -> list[np.ndarray]:
        """Swapped copies of `frames` (RGB uint8); a frame whose face list is empty is returned as is."""
        import cv2

        from zoo.data.align import transform_points

        t0 = time.perf_counter()
        jobs, crops = [], []
        for i, (frame, refs) in enumerate(zip(frames, faces)):
            for ref in refs:
                try:
                    matrix = template_matrix(ref.landmarks, self.size)
                except ValueError as exc:  # degenerate landmarks: leave that face alone
                    log.warning("skipping a face with unusable landmarks: %s", exc)
                    continue
                crop = cv2.warpAffine(frame, matrix, (self.size, self.size), flags=cv2.INTER_AREA
                                      if abs(np.linalg.det(matrix[:, :2])) < 1 else cv2.INTER_LINEAR,
                                      borderMode=cv2.BORDER_REFLECT_101)
                jobs.append((i, matrix, transform_points(ref.landmarks, matrix)))
                crops.append(crop)
        out = [np.array(f, copy=True) if any(j[0] == i for j in jobs) else f for i, f in enumerate(frames)]
        t1 = time.perf_counter()
        self.timings["blend"] += t1 - t0
        if not jobs:
            return out
        x = np.stack(crops).astype(np.float32) / 255.0
        decoded = self.model.decode(x, self.to, batch_size=self.batch_size)
        t2 = time.perf_counter()
        self.timings["model"] += t2 - t1
        for (i, matrix, lms_crop), crop, dec in zip(jobs, x, decoded):
            mask = crop_mask(dec[..., 3], lms_crop, self.mask, self.feather)
            face = match_color(dec[..., :3], crop, mask, self.color)
            paste_face(out[i], face, mask, matrix)
        self.faces += len(jobs)
        self.timings["blend"] += time.perf_counter() - t2
        return out


def _as_landmark_list(landmarks) -> list[np.ndarray]:
    pts = np.asarray(landmarks, np.float64)
    if pts.shape == (5, 2):
        return [pts]
    if pts.ndim == 3 and pts.shape[1:] == (5, 2):
        return list(pts)
    raise InputError(f"landmarks must be (5, 2) or (N, 5, 2) source pixels. Received: shape {pts.shape}")


def _check_rgb(image) -> np.ndarray:
    img = np.asarray(image)
    if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
        raise InputError(f"image must be RGB uint8 (H, W, 3). Received: {img.dtype} {img.shape}")
    return img


def detected_faces(detector, images, min_score: float = 0.9, min_size: int = 20) -> list[list[FaceRef]]:
    """Faces per image from a `zoo.data.detect.FaceDetector`, best score first, with their indices."""
    try:
        results = detector.detect(images)
    except Exception:  # noqa: BLE001 - mtcnn fails on some face-less images; retry one by one
        results = []
        for img in images:
            try:
                results.append(detector.detect([img])[0])
            except Exception as exc:  # noqa: BLE001
                log.warning("face detection failed on one frame (%s: %s); it passes through unchanged",
                            type(exc).__name__, exc)
                results.append([])
    out = []
    for found in results:
        keep = [f for f in found if f.score >= min_score and min(f.width, f.height) >= min_size]
        out.append([FaceRef(np.asarray(f.landmarks), k, np.asarray(f.box), float(f.score))
                    for k, f in enumerate(keep)])
    return out


def swap_image(model, image, to: str = "b", *, landmarks=None, detector=None, mask: str = "both",
               color: str = "lab", face: int | str | None = None) -> np.ndarray:
    """Swap the faces of one image to identity `to`; RGB uint8 in, RGB uint8 out.

    Args:
        model: a `zoo.SwapModel` (`zoo.load_run(...)`).
        image: RGB uint8 (H, W, 3).
        to: the identity to render the faces as.
        landmarks: (5, 2) or (N, 5, 2) landmarks (source pixels, template order); None detects faces.
        detector: a `zoo.data.detect.FaceDetector` to reuse when detecting (default: one for this call).
        mask: "learned" | "landmark" | "both".
        color: "lab" | "hist" | "none".
        face: None (all faces), "largest", or a face index (by detector score / landmark order).

    Returns:
        The swapped image; a copy of `image` if no face is found (pixel-identical).

    Examples:
        >>> out = zoo.swap_image(zoo.load_run("runs/ab"), read_image("a.jpg"), to="b")
    """
    image = _check_rgb(image)
    swapper = FaceSwapper(model, to, mask=mask, color=color)
    if landmarks is not None:
        refs = [FaceRef(p, k) for k, p in enumerate(_as_landmark_list(landmarks))]
    else:
        from zoo.data.detect import FaceDetector
        own = detector is None
        detector = detector or FaceDetector()
        try:
            refs = detected_faces(detector, [image])[0]
        finally:
            if own:
                detector.close()
    refs = choose_faces(refs, face if isinstance(face, int) and not isinstance(face, bool) else None,
                        largest=face == "largest")
    return np.array(swapper.swap_frames([image], [refs])[0], copy=True)


def iter_swapped(swapper: FaceSwapper, frames, faces_for, batch_size: int | None = None, timings=None):
    """The frame pipeline before encoding: (index, original, swapped, n_faces) per input frame, in order.

    `frames` yields (index, RGB uint8); `faces_for(list of (index, frame)) -> [[FaceRef]]` finds faces.
    A frame with no face comes out as the very same array.
    """
    batch_size = batch_size or swapper.batch_size
    timings = swapper.timings if timings is None else timings
    it = iter(frames)
    while True:
        t0 = time.perf_counter()
        chunk = []
        for item in it:
            chunk.append(item)
            if len(chunk) >= batch_size:
                break
        timings["decode"] += time.perf_counter() - t0
        if not chunk:
            return
        refs = faces_for(chunk)
        swapped = swapper.swap_frames([f for _, f in chunk], refs)
        for (index, frame), new, r in zip(chunk, swapped, refs):
            yield index, frame, new, len(r)
        if len(chunk) < batch_size:
            return
