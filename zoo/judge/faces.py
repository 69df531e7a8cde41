"""Faces as the judge sees them: detect, 5-point landmarks, a 150 px chip as dlib aligns it, a descriptor.

`analyse(images)` turns RGB uint8 images into `Face` records: where no face is found the record says why
(`found=False`, `reason`) instead of raising, so one bad frame never stops a judgement.

Detection is dlib's HOG detector (the largest face, or the one nearest the centre with
`select="centre"`), retried on the image upsampled 2x and then padded by a quarter of its size on each side:
aligned crops such as facezoo's own swaps (64-256 px, the face filling the frame) have no margin around
the face, and HOG's window needs one. `aligned=True` adds a last resort for such crops: the face box that
facezoo's alignment template (`zoo.data.align.template_landmarks`) implies; `fallback_box` gives a fixed
box instead (LFW's deep-funneled photos, where faces sit in one place). Faces found that way are marked
by `method`. A blank image (pixel standard deviation under 2) is never a face.

The landmarks feed `dlib.get_face_chip(size=150)`, the chip the recognition ResNet was trained on, and
the chips are embedded in batches. dlib here has no BLAS: about 0.1 s per face on one free core, so
`processes=N` spreads images over worker processes (dlib's own threads do not help).
Results are cached by image content (`zoo.judge.cache`), so a second judgement of the same files is free.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["Face", "analyse", "analyse_one", "BOX_PER_EYE_DISTANCE", "BOX_DROP_PER_EYE_DISTANCE"]

CHIP_SIZE = 150
BLANK_STD = 2.0
PAD_FRACTION = 0.25
# dlib's HOG box, measured on 40 LFW faces: 2.54 x the eye-centre distance wide, its centre 0.55 x that
# distance below the eyes' midpoint. Used to turn a known alignment into the box the predictor expects.
BOX_PER_EYE_DISTANCE = 2.54
BOX_DROP_PER_EYE_DISTANCE = 0.55


@dataclass
class Face:
    """One image as judged. `landmarks`: dlib's 5 points (x, y) in the image's pixels, in dlib's order
    (image-right eye outer, inner; image-left eye outer, inner; nose base). `embedding`: the 128-d
    descriptor, L2-normalised. `method`: hog, hog-upsampled, padded, template or fallback-box."""
    found: bool
    reason: str = ""
    method: str = ""
    landmarks: np.ndarray | None = None
    embedding: np.ndarray | None = None
    shape: tuple = ()
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        d = {"found": self.found, "reason": self.reason, "method": self.method, "shape": list(self.shape)}
        if self.found:
            d["landmarks"] = np.asarray(self.landmarks).round(3).tolist()
            d["embedding"] = np.asarray(self.embedding, np.float32).tolist()
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Face":
        return cls(found=d["found"], reason=d.get("reason", ""), method=d.get("method", ""),
                   landmarks=np.asarray(d["landmarks"], np.float64) if d.get("landmarks") else None,
                   embedding=np.asarray(d["embedding"], np.float64) if d.get("embedding") else None,
                   shape=tuple(d.get("shape", ())))


def _pick(rects, shape, select: str):
    if not rects:
        return None
    if select == "centre":
        cy, cx = shape[0] / 2, shape[1] / 2
        return min(rects, key=lambda r: (r.center().x - cx) ** 2 + (r.center().y - cy) ** 2)
    return max(rects, key=lambda r: r.width() * r.height())


def _template_box(dlib, shape):
    """The HOG-like box of a face aligned to facezoo's template in a crop of `shape`."""
    from zoo.data.align import template_landmarks
    t = template_landmarks() * np.array([shape[1], shape[0]], np.float64)
    mid, eye = (t[0] + t[1]) / 2, float(np.linalg.norm(t[1] - t[0]))
    half, cy = BOX_PER_EYE_DISTANCE * eye / 2, mid[1] + BOX_DROP_PER_EYE_DISTANCE * eye
    return dlib.rectangle(int(round(mid[0] - half)), int(round(cy - half)),
                          int(round(mid[0] + half)), int(round(cy + half)))


def _locate(models, rgb: np.ndarray, *, select: str, aligned: bool, fallback_box):
    """(shape object, landmarks (5, 2), method) in `rgb`'s pixels, or (None, None, reason)."""
    dlib, detector, predictor, _ = models
    h, w = rgb.shape[:2]
    if float(rgb.std()) < BLANK_STD:
        return None, None, "blank image (no detail)"
    rect = _pick(list(detector(rgb, 0)), rgb.shape, select)
    if rect is not None:
        method, img = "hog", rgb
    else:
        rect = _pick(list(detector(rgb, 1)), rgb.shape, select)
        method, img = "hog-upsampled", rgb
    if rect is None:
        # Tight crops: pad (edge colour) so HOG's window fits, upsampled when small.
        pad = int(round(PAD_FRACTION * max(h, w)))
        padded = np.pad(rgb, ((pad, pad), (pad, pad), (0, 0)), mode="edge")
        up = 1 if max(h, w) < 400 else 0
        r = _pick(list(detector(padded, up)), padded.shape, select)
        if r is not None:
            shape = predictor(padded, r)
            pts = np.array([[p.x, p.y] for p in shape.parts()], np.float64) - pad
            return (padded, shape), pts, "padded"
        if aligned and 64 <= min(h, w) and max(h, w) <= 512:
            rect, method = _template_box(dlib, rgb.shape), "template"
        elif fallback_box is not None:
            rect, method = dlib.rectangle(*[int(v) for v in fallback_box]), "fallback-box"
        else:
            return None, None, "no face found"
    shape = predictor(img, rect)
    pts = np.array([[p.x, p.y] for p in shape.parts()], np.float64)
    return (img, shape), pts, method


def analyse_one(rgb: np.ndarray, *, select: str = "largest", aligned: bool = False, fallback_box=None,
                models=None) -> tuple[Face, np.ndarray | None]:
    """(Face without its embedding, the 150 px chip or None) for one RGB uint8 image."""
    from zoo.errors import InputError

    if not isinstance(rgb, np.ndarray) or rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise InputError(f"the judge takes RGB uint8 images (H, W, 3). Received: "
                         f"{getattr(rgb, 'dtype', type(rgb))} {getattr(rgb, 'shape', '')}")
    if models is None:
        from zoo.judge.models import load_models
        models = load_models()
    rgb = np.ascontiguousarray(rgb)
    located, pts, how = _locate(models, rgb, select=select, aligned=aligned, fallback_box=fallback_box)
    if located is None:
        return Face(found=False, reason=how, shape=rgb.shape[:2]), None
    img, shape = located
    chip = models[0].get_face_chip(img, shape, size=CHIP_SIZE)
    return Face(found=True, method=how, landmarks=pts, shape=rgb.shape[:2]), chip


def embed_chips(chips: list, models=None, batch: int = 32) -> np.ndarray:
    """150 px chips -> L2-normalised 128-d descriptors (N, 128), computed in batches."""
    if models is None:
        from zoo.judge.models import load_models
        models = load_models()
    out = []
    for i in range(0, len(chips), batch):
        out.extend(np.asarray(d, np.float64) for d in models[3].compute_face_descriptor(chips[i:i + batch]))
    emb = np.stack(out) if out else np.zeros((0, 128))
    return emb / (np.linalg.norm(emb, axis=1, keepdims=True) + 1e-12)


def analyse(images: list[np.ndarray], *, select: str = "largest", aligned: bool = False, fallback_box=None,
            models=None) -> list[Face]:
    """Every image judged in one process: detect and align each, then embed the chips in batches."""
    faces, chips, where = [], [], []
    for i, rgb in enumerate(images):
        face, chip = analyse_one(rgb, select=select, aligned=aligned, fallback_box=fallback_box, models=models)
        faces.append(face)
        if chip is not None:
            chips.append(chip)
            where.append(i)
    for i, e in zip(where, embed_chips(chips, models=models)):
        faces[i].embedding = e
    return faces
