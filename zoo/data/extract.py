"""Face extraction: detect (MTCNN), align to the canonical template, write crops and an alignments file.

Inputs are image files, folders (recursive) and videos (every Nth frame). Each face becomes a crop
`OUT/<stem>_<key>_<frame>_<face>.png` and one line of `OUT/alignments.jsonl`. The run resumes: a
source (keyed by path + sha256) whose "done" record is in the file is not read again, and the records
and crops of a source that was cut off (no "done" record) are dropped and redone, so a killed-then-rerun
extraction holds each face exactly once.

alignments.jsonl records (one JSON object a line; `type` says which):
    face: type, source, sha256, frame, face, box [x0, y0, x1, y1], landmarks [[x, y] * 5] (source px),
          landmarks_crop [[x, y] * 5] (crop px), matrix [[a, b, c], [d, e, f]] (source -> crop),
          score, crop (path relative to OUT), size, template, image_size [w, h]
    skip: type, source, sha256 (null when unreadable), frame (null for the whole source), reason, detail
    done: type, source, sha256, frames, faces, settings {size, every_n, min_size, min_score, select, track}
          (a rerun with other settings redoes the source: `zoo.data.extract_resume`)

The alignments file's reader and writers live in `zoo.data.alignments` (re-exported here).

Examples:
    >>> report = extract(["clips/", "me.jpg"], "faces/me", size=256, every_n=5)
    >>> print(report.summary())
    >>> faces = [r for r in read_alignments("faces/me/alignments.jsonl") if r["type"] == "face"]
"""
from __future__ import annotations

import collections
import glob
import hashlib
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from zoo.data.alignments import (ALIGNMENTS_FILE, AlignmentsJournal, face_records,  # noqa: F401 (re-exported)
                                 read_alignments, write_alignments)
from zoo.data.align import TEMPLATE_NAME, align_face, check_size, transform_points
from zoo.data.extract_resume import SETTINGS_KEYS, prepare_resume
from zoo.data.images import IMAGE_EXTENSIONS, SkipReason, image_size, list_images, read_image, write_image
from zoo.data.prefetch import prefetch
from zoo.data.progress_lines import LineBar, ProgressLines
from zoo.data.track import VideoTracker
from zoo.data.video import VIDEO_EXTENSIONS, is_video_path, iter_frames, video_info
from zoo.errors import DataError, InputError
from zoo.io import sha256_file

CROP_EXT = ".png"
SELECT_MODES = ("all", "largest", "centre")
DELAY_ENV = "FACEZOO_EXTRACT_DELAY_S"  # test hook: sleep this long after each face record


@dataclass
class ExtractReport:
    out_dir: Path
    sources: int = 0          # sources found in the inputs
    extracted: int = 0        # sources read in this run
    resumed: int = 0          # sources already done in an earlier run (not read again)
    dropped_partial: int = 0  # cut-off sources of an earlier run whose records were dropped and redone
    redone: int = 0           # sources of an earlier run redone because the settings changed
    changed: str = ""         # which settings changed, e.g. "min_size 20 -> 80"
    details: dict = field(default_factory=dict)  # skip reason -> its first detail (the why)
    frames: int = 0           # images + video frames run through the detector
    faces: int = 0            # faces written in this run
    skipped: collections.Counter = field(default_factory=collections.Counter)  # reason -> count
    seconds: float = 0.0

    @property
    def alignments(self) -> Path:
        return Path(self.out_dir) / ALIGNMENTS_FILE

    @property
    def faces_per_second(self) -> float:
        return self.faces / self.seconds if self.seconds > 0 else 0.0

    def summary(self) -> str:
        lines = [f"{self.faces} faces from {self.frames} frames of {self.extracted} sources in "
                 f"{self.seconds:.1f} s ({self.faces_per_second:.1f} faces/s) -> {self.out_dir}"]
        if self.resumed:
            lines.append(f"{self.resumed} of {self.sources} sources were already done (resumed)")
        if self.dropped_partial:
            lines.append(f"{self.dropped_partial} cut-off sources from an earlier run were redone")
        if self.redone:
            lines.append(f"{self.redone} sources of an earlier run were redone: the settings changed ({self.changed})")
        if self.skipped:
            reasons = ", ".join(f"{k}: {v}" for k, v in sorted(self.skipped.items()))
            lines.append(f"skipped {sum(self.skipped.values())} ({reasons})")
        return "\n".join(lines)

    def problem(self) -> str | None:
        """Why this run produced nothing, and what to change; None when it wrote faces or had nothing to do.

        A run that read frames (or tried sources) and wrote no face is a failure, not a quiet success."""
        if self.faces or (self.frames == 0 and not self.skipped):
            return None
        if len(self.skipped) == 1:
            reason = next(iter(self.skipped))
            detail = " ".join(str(self.details.get(reason, "")).split())[:400]
            if reason == "detect-failed":
                return (f"the face detector failed on every one of {self.frames} frames: {detail}. "
                        "Try another --min-size (it must be smaller than the frames' shorter side), or "
                        "report this with the input's size")
            if reason == "no-face":
                why = f" ({detail})" if detail else ""
                return (f"no face found in any of {self.frames} frames{why}. Lower --min-size (faces smaller "
                        "than it are not searched) or --min-score, and check the inputs show faces")
            return f"every source was skipped as {reason}: {detail}. Check the input files"
        reasons = ", ".join(f"{k}: {v}" for k, v in sorted(self.skipped.items()))
        return (f"no face found in {self.frames} frames ({reasons}; first reasons: "
                + "; ".join(f"{k}: {v}" for k, v in sorted(self.details.items()))[:600]
                + "). Lower --min-size or --min-score, and check the inputs show faces")


def expand_inputs(inputs, exclude=None) -> list[Path]:
    """Image/video files named or found (recursively, by extension) in folders; missing inputs raise."""
    exclude = Path(exclude).resolve() if exclude is not None else None
    out: list[Path] = []
    seen = set()
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            found = list_images(p, extensions=IMAGE_EXTENSIONS | VIDEO_EXTENSIONS)
        elif p.exists():
            found = [p]
        else:
            raise DataError(f"input not found: {item}. Pass image files, folders or videos.")
        for q in found:
            r = q.resolve()
            if exclude is not None and (r == exclude or exclude in r.parents):
                continue  # never read our own output folder back
            if r not in seen:
                seen.add(r)
                out.append(r)
    return out


def _crop_prefix(source: Path, sha: str) -> str:
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", source.stem)[:60] or "source"
    key = hashlib.sha256(f"{source}\0{sha}".encode()).hexdigest()[:8]
    return f"{stem}_{key}"


class _Source:
    __slots__ = ("path", "sha", "prefix", "frames", "faces")

    def __init__(self, path: Path, sha: str | None):
        self.path, self.sha = path, sha
        self.prefix = _crop_prefix(path, sha or "")
        self.frames = self.faces = 0


def extract(inputs, out_dir, size: int = 256, *, every_n: int = 1, min_size: int = 20,
            min_score: float = 0.9, batch_size: int = 16, largest_only: bool = False,
            select: str = "all", detector=None, progress: bool | None = None,
            progress_every_s: float = 5.0, track: bool = True) -> ExtractReport:
    """Detect, align and crop every face in `inputs` into `out_dir`; resume an earlier run there.

    Args:
        inputs: image files, folders (searched recursively) and videos; a path or a list of them.
        out_dir: output folder for the crops and `alignments.jsonl`.
        size: crop side in pixels (64..512).
        every_n: use every Nth video frame.
        min_size: smallest face (box side, source pixels) to keep; also mtcnn's search minimum.
        min_score: smallest detector confidence to keep.
        batch_size: frames per detector call.
        largest_only: keep only the largest face of each frame (the same as `select="largest"`).
        select: which faces of a frame to keep: "all", "largest", or "centre" (the one whose box centre
            is nearest the frame's centre: for photos framed on one person, like LFW, where a larger
            bystander's face may also be found).
        detector: a started or unstarted `FaceDetector` to reuse (it is not closed); default: a new one.
        track: in videos, detect in full frames now and then and follow the faces in small crops between
            (`zoo.data.track`: many times faster on a CPU; a face entering the picture is found at the next
            key frame, within 25 frames). False: the full detector on every frame.
        progress: show a tqdm bar (None: only on a terminal; otherwise a plain line on stderr every
            `progress_every_s` seconds, so logs show progress too). False: nothing.

    Returns:
        An ExtractReport (counts, skip reasons, faces/s). Bad sources are skipped, never fatal.
    """
    from tqdm.auto import tqdm

    from zoo.data.detect import FaceDetector

    size = check_size(size)
    if int(every_n) < 1 or int(batch_size) < 1 or int(min_size) < 1:
        raise InputError(f"every_n, batch_size and min_size must be >= 1. Received: every_n={every_n}, "
                         f"batch_size={batch_size}, min_size={min_size}")
    if not 0.0 <= float(min_score) <= 1.0:
        raise InputError(f"min_score must be in [0, 1]. Received: min_score={min_score}")
    select = "largest" if largest_only else select
    if select not in SELECT_MODES:
        raise DataError(f"select must be one of {', '.join(SELECT_MODES)}. Received: select={select!r}")
    out_dir = Path(out_dir)
    sources = expand_inputs(inputs, exclude=out_dir)
    if not sources:
        raise DataError(f"no images or videos found in {inputs}. Accepted: image files "
                        f"({', '.join(sorted(IMAGE_EXTENSIONS))}), videos and folders of them.")
    out_dir.mkdir(parents=True, exist_ok=True)
    report = ExtractReport(out_dir=out_dir, sources=len(sources))
    settings = dict(size=size, every_n=int(every_n), min_size=int(min_size), min_score=float(min_score),
                    select=select, track=bool(track))
    settings = {k: settings[k] for k in SETTINGS_KEYS}
    done = prepare_resume(out_dir, report, settings)
    delay = float(os.environ.get(DELAY_ENV, "0") or 0)

    _check_min_size_images([s for s in sources if not is_video_path(s)], min_size,
                           videos=any(map(is_video_path, sources)))
    estimates = {}
    for s in sources:
        n = 1
        if is_video_path(s):
            try:
                info = video_info(s)
            except SkipReason:
                info = None
            if info is not None:
                n = max(1, -(-info.frame_count // every_n))
                _check_min_size(s, info.size, min_size)
        estimates[s] = n

    own_detector = detector is None
    if own_detector:
        detector = FaceDetector(min_face_size=max(int(min_size), 12))
    detector.start()  # load the networks before the clock starts
    journal = AlignmentsJournal(out_dir / ALIGNMENTS_FILE)
    bar = tqdm(total=sum(estimates.values()), unit="frame", desc="extract", dynamic_ncols=True,
               disable=(not progress) if progress is not None else None)
    if bar.disable and progress is None:  # not a terminal: plain lines a log can show
        bar.close()
        bar = LineBar(ProgressLines(sum(estimates.values()), every_s=progress_every_s), report)
    start = time.perf_counter()

    def events():
        for path in sources:
            try:
                sha = sha256_file(path)
            except OSError as exc:
                src = _Source(path, None)
                yield "skip", src, None, SkipReason("unreadable", path, exc.strerror or str(exc))
                yield "end", src, None, None
                continue
            if (str(path), sha) in done:
                report.resumed += 1
                bar.update(estimates[path])
                continue
            src = _Source(path, sha)
            yield "begin", src, None, None
            try:
                if is_video_path(path):
                    for index, rgb in iter_frames(path, every_n):
                        yield "frame", src, index, rgb
                else:
                    yield "frame", src, 0, read_image(path)
            except SkipReason as exc:
                yield "skip", src, None, exc
            except Exception as exc:  # noqa: BLE001 - one bad file never ends the run
                yield "skip", src, None, SkipReason("error", path, f"{type(exc).__name__}: {exc}")
            yield "end", src, None, None

    def detect(images):
        try:
            return detector.detect(images), [None] * len(images)
        except Exception:  # noqa: BLE001 - retry one by one to find the image that breaks mtcnn
            faces, errors = [], []
            for img in images:
                try:
                    faces.append(detector.detect([img])[0])
                    errors.append(None)
                except Exception as exc:  # noqa: BLE001
                    faces.append([])
                    errors.append(f"{type(exc).__name__}: {exc}")
            return faces, errors

    trackers: dict[int, VideoTracker] = {}

    def detect_frames(frames):
        """Faces and errors for a batch's frame events: videos through their tracker, the rest at once."""
        results, errors = [None] * len(frames), [None] * len(frames)
        groups: dict[int, list[int]] = {}
        for k, ev in enumerate(frames):
            groups.setdefault(id(ev[1]) if track and is_video_path(ev[1].path) else 0, []).append(k)
        for key, ks in groups.items():
            images = [frames[k][3] for k in ks]
            if key:
                try:
                    found, errs = trackers.setdefault(key, VideoTracker(detector)).detect(images), [None] * len(ks)
                except Exception:  # noqa: BLE001 - the plain path finds and reports the frame that breaks
                    trackers.pop(key, None)
                    found, errs = detect(images)
            else:
                found, errs = detect(images)
            for k, f, e in zip(ks, found, errs):
                results[k], errors[k] = f, e
        return results, errors

    def skip(src: _Source, frame, reason: str, detail: str = ""):
        report.skipped[reason] += 1
        report.details.setdefault(reason, detail)
        journal.write({"type": "skip", "source": str(src.path), "sha256": src.sha, "frame": frame,
                       "reason": reason, "detail": detail})

    def handle_frame(src: _Source, index: int, rgb: np.ndarray, faces, error):
        src.frames += 1
        report.frames += 1
        bar.update(1)
        if error is not None:
            return skip(src, index, "detect-failed", error)
        found = len(faces)
        faces = [f for f in faces if f.score >= min_score and min(f.width, f.height) >= min_size]
        if faces and select != "all":
            faces = [pick_face(faces, rgb.shape, select)]
        if not faces:
            detail = f"{found} below min-score {min_score} or min-size {min_size}" if found else ""
            if min(rgb.shape[:2]) < min_size:
                detail = f"the {rgb.shape[1]}x{rgb.shape[0]} image is smaller than min-size {min_size}"
            return skip(src, index, "no-face", detail)
        h, w = rgb.shape[:2]
        for k, face in enumerate(faces):
            crop, matrix = align_face(rgb, face.landmarks, size)
            name = f"{src.prefix}_{index:06d}_{k}{CROP_EXT}"
            write_image(out_dir / name, crop)
            journal.write({
                "type": "face", "source": str(src.path), "sha256": src.sha, "frame": index, "face": k,
                "box": _r(face.box), "landmarks": _r(face.landmarks),
                "landmarks_crop": _r(transform_points(face.landmarks, matrix)),
                "matrix": [[float(v) for v in row] for row in matrix], "score": round(face.score, 6),
                "crop": name, "size": size, "template": TEMPLATE_NAME, "image_size": [w, h]})
            src.faces += 1
            report.faces += 1
            if delay:
                time.sleep(delay)
        elapsed = time.perf_counter() - start
        bar.set_postfix(faces=report.faces, faces_s=f"{report.faces / max(elapsed, 1e-9):.1f}", refresh=False)

    def flush(pending):
        frames = [ev for ev in pending if ev[0] == "frame"]
        results, errors = detect_frames(frames) if frames else ([], [])
        it = iter(zip(results, errors))
        for kind, src, index, payload in pending:
            if kind == "begin":
                report.extracted += 1
                for stale in out_dir.glob(f"{glob.escape(src.prefix)}_*{CROP_EXT}"):
                    stale.unlink(missing_ok=True)  # crops of a cut-off earlier run
            elif kind == "frame":
                faces, error = next(it)
                handle_frame(src, index, payload, faces, error)
            elif kind == "skip":
                report.extracted += src.sha is None
                if src.frames == 0:
                    bar.update(estimates[src.path])
                skip(src, None, payload.reason, payload.detail)
            elif kind == "end":
                trackers.pop(id(src), None)
                journal.write({"type": "done", "source": str(src.path), "sha256": src.sha,
                               "frames": src.frames, "faces": src.faces, "settings": settings})

    try:
        pending, n_frames = [], 0
        for ev in prefetch(events(), maxsize=2 * int(batch_size)):
            pending.append(ev)
            n_frames += ev[0] == "frame"
            if n_frames >= batch_size:
                flush(pending)
                pending, n_frames = [], 0
        flush(pending)
    finally:
        report.seconds = time.perf_counter() - start
        bar.close()
        journal.close()
        if own_detector:
            detector.close()
    return report


def _check_min_size(path: Path, size, min_size: int) -> None:
    """Refuse, before the first frame, a min-size no face in this video can have."""
    w, h = size
    if min_size > min(w, h):
        raise InputError(f"min-size {min_size} px is larger than the shorter side of {path} ({w}x{h}): no face "
                         f"that large fits in its frames. Use min-size {max(12, min(w, h) // 4)} or less "
                         "(faces are usually a quarter to a half of the shorter side).")


def _check_min_size_images(images, min_size: int, *, videos: bool) -> None:
    """Refuse, before the first image, a min-size larger than every still image's shorter side (sizes read
    from the headers; an image whose header says nothing counts as big enough). Some images too small
    among others: those are skipped with that reason, as they are met."""
    if videos or not images:
        return
    sizes = [image_size(p) for p in images]
    if all(size is not None and min(size) < min_size for size in sizes):
        largest = max(sizes, key=min)
        raise InputError(f"min-size {min_size} px is larger than the shorter side of every input image (the "
                         f"largest is {largest[0]}x{largest[1]}, e.g. {images[sizes.index(largest)]}): no face "
                         f"that large fits. Use min-size {max(12, min(largest) // 4)} or less (faces are usually "
                         "a quarter to a half of the shorter side).")


def pick_face(faces, image_shape, select: str):
    """The one face `select` keeps of a frame's faces: "largest" by box area, "centre" nearest the middle."""
    if select == "largest":
        return max(faces, key=lambda f: f.area)
    cy, cx = image_shape[0] / 2.0, image_shape[1] / 2.0
    return min(faces, key=lambda f: ((f.box[0] + f.box[2]) / 2 - cx) ** 2 + ((f.box[1] + f.box[3]) / 2 - cy) ** 2)


def _r(values, nd: int = 3):
    return np.round(np.asarray(values, dtype=np.float64), nd).tolist()
