"""Convert: swap faces in images, folders and videos with a trained swap model.

Per frame: find the faces (an alignments file from `facezoo extract`, or MTCNN on the fly), align each
to the canonical template at the model's input size, decode it as the target identity, colour-match the
decoded face to the original (mean/std in LAB, or histogram matching), and blend it back through the
inverse alignment transform with a feathered mask (the model's learned mask, the landmark mask, or both).
Pixels outside the mask keep their exact bytes; frames without a face pass through unchanged.

Videos are written with the imageio-ffmpeg binary (raw RGB piped to libx264 at the source's frame rate
and size), then the source's audio track is muxed in. Every output is written to a temp file beside its
final name and renamed at the end; an output never replaces one of the inputs.

Examples:
    >>> model = zoo.load_run("runs/alice-bob")
    >>> fake = zoo.swap_image(model, rgb, to="bob")                   # RGB uint8 in and out
    >>> report = convert(model, ["clip.mp4"], "out/", to="bob")       # video with audio
    >>> print(report.summary())
"""
from __future__ import annotations

import contextlib
import logging
import os
import shutil
import subprocess
import time
from collections import defaultdict
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

from zoo.blend import (COLOR_MODES, FEATHER, MASK_MODES, check_mode, crop_mask, match_color, paste_face,
                       side_by_side)
from zoo.errors import DataError, FacezooError, InputError

log = logging.getLogger("facezoo.convert")

LOSSLESS_IMAGE_SUFFIXES = frozenset({".png", ".bmp", ".tif", ".tiff", ".ppm", ".pgm", ".pnm"})
VIDEO_OUT_SUFFIXES = frozenset({".mp4", ".m4v", ".mov", ".mkv"})
PREVIEW_FRAMES = 3       # frames of each video written as previews
STAGES = ("decode", "detect", "model", "blend", "encode")


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


# --- video output ------------------------------------------------------------------------------

def ffmpeg_exe() -> str:
    try:
        import imageio_ffmpeg
    except ImportError:
        raise FacezooError("video output needs imageio-ffmpeg: pip install imageio-ffmpeg") from None
    return imageio_ffmpeg.get_ffmpeg_exe()


class VideoWriter:
    """Raw RGB frames piped into the imageio-ffmpeg binary (libx264, constant frame rate).

    Args:
        path: the output file (its suffix picks the container).
        size: (width, height).
        fps: frames per second (a float; turned into a close rational, e.g. 30000/1001).
        crf: libx264 quality (lower is better; 17-18 is visually lossless).
    """

    def __init__(self, path, size, fps: float, crf: int = 17):
        self.path = Path(path)
        self.width, self.height = int(size[0]), int(size[1])
        rate = Fraction(float(fps) if fps and fps > 0 else 25.0).limit_denominator(1001)
        self.rate = f"{rate.numerator}/{rate.denominator}"
        # yuv420p needs even sides; odd-sized sources keep their size with 4:4:4 chroma.
        pix = "yuv420p" if self.width % 2 == 0 and self.height % 2 == 0 else "yuv444p"
        cmd = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y",
               "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{self.width}x{self.height}", "-r", self.rate,
               "-i", "-", "-an", "-c:v", "libx264", "-preset", "medium", "-crf", str(crf), "-pix_fmt", pix,
               "-movflags", "+faststart", str(self.path)]
        self._err_path = self.path.with_name(self.path.name + ".log")
        self._stderr = open(self._err_path, "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=self._stderr)
        self.frames = 0

    def write(self, frame: np.ndarray) -> None:
        frame = np.ascontiguousarray(frame, dtype=np.uint8)
        if frame.shape != (self.height, self.width, 3):
            raise InputError(f"frame of shape {frame.shape} for a {self.width}x{self.height} video")
        try:
            self.proc.stdin.write(frame.tobytes())
        except (BrokenPipeError, OSError):
            self.close(check=True)
            raise DataError(f"ffmpeg stopped while writing {self.path}") from None
        self.frames += 1

    def close(self, check: bool = True) -> None:
        proc = self.proc
        if proc is None:
            return
        self.proc = None
        with contextlib.suppress(OSError, ValueError):
            proc.stdin.close()
        code = proc.wait()
        self._stderr.close()
        message = ""
        with contextlib.suppress(OSError):
            message = self._err_path.read_text(errors="replace").strip()[-800:]
            self._err_path.unlink()
        if check and code != 0:
            raise DataError(f"ffmpeg failed to encode {self.path} (exit code {code}): {message}")

    def abort(self) -> None:
        if self.proc is not None:
            with contextlib.suppress(OSError):
                self.proc.kill()
            self.close(check=False)


def has_audio(path) -> bool:
    """Whether ffmpeg sees an audio stream in `path`."""
    res = subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", str(path)], capture_output=True, text=True,
                         errors="replace")
    return any("Audio:" in line and "Stream #" in line for line in res.stderr.splitlines())


def mux_audio(video, source, out) -> bool:
    """Write `out`: the video stream of `video` plus the first audio track of `source` (copied if the
    container takes it, else re-encoded as AAC). Returns False (writing nothing) if `source` has no audio."""
    if not has_audio(source):
        return False
    base = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-i", str(video), "-i", str(source),
            "-map", "0:v:0", "-map", "1:a:0", "-c:v", "copy"]
    errors = ""
    for audio in (["-c:a", "copy"], ["-c:a", "aac", "-b:a", "192k"]):
        res = subprocess.run([*base, *audio, "-shortest", "-movflags", "+faststart", str(out)],
                             capture_output=True, text=True, errors="replace")
        if res.returncode == 0:
            return True
        errors = res.stderr.strip()[-500:]
    raise DataError(f"could not add the audio track of {source} to {out}: {errors}")


# --- whole runs over files ---------------------------------------------------------------------

@dataclass
class ConvertReport:
    outputs: list = field(default_factory=list)       # written files
    previews: list = field(default_factory=list)
    failed: list = field(default_factory=list)        # (source, message)
    frames: int = 0
    swapped_frames: int = 0
    faces: int = 0
    seconds: float = 0.0
    timings: dict = field(default_factory=dict)        # stage -> seconds

    @property
    def frames_per_second(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0

    def summary(self) -> str:
        split = ", ".join(f"{k} {v:.2f}s" for k, v in self.timings.items() if v > 0)
        text = (f"{self.frames} frames ({self.swapped_frames} with a face, {self.faces} faces swapped) "
                f"in {self.seconds:.1f}s, {self.frames_per_second:.1f} frames/s; {split}; "
                f"{len(self.outputs)} files written")
        if self.failed:
            text += f"; {len(self.failed)} failed: " + "; ".join(f"{s}: {m}" for s, m in self.failed)
        return text


class _Alignments:
    """Face records of an alignments file, looked up by (source path, frame index)."""

    def __init__(self, path):
        from zoo.data.extract import read_alignments

        records = read_alignments(path)
        if not records:
            raise DataError(f"alignments file {path} holds no records; run `facezoo extract` first, or "
                            "leave --alignments out to detect faces on the fly")
        self.by_source: dict[str, dict[int, list[FaceRef]]] = defaultdict(lambda: defaultdict(list))
        self.by_name: dict[str, list[str]] = defaultdict(list)
        for r in records:
            if r.get("type") != "face":
                continue
            key = str(Path(r["source"]).resolve())
            self.by_source[key][int(r.get("frame") or 0)].append(
                FaceRef(np.asarray(r["landmarks"], np.float64), int(r.get("face", 0)),
                        np.asarray(r["box"], np.float64) if r.get("box") is not None else None,
                        float(r.get("score", 1.0))))
        for key in self.by_source:
            self.by_name[Path(key).name].append(key)

    def faces_of(self, source: Path):
        """{frame: [FaceRef]} for `source`, or None if the file has no records of it."""
        key = str(Path(source).resolve())
        if key in self.by_source:
            return self.by_source[key]
        same_name = self.by_name.get(Path(source).name, [])
        if len(same_name) == 1:  # the source moved since extraction: match by file name
            return self.by_source[same_name[0]]
        return None


def _plan_outputs(sources: list[Path], roots: dict, out: Path, single_file: bool) -> dict:
    from zoo.data.video import is_video_path

    plan = {}
    for src in sources:
        if single_file:
            plan[src] = out
            continue
        root = roots.get(src)
        rel = src.relative_to(root) if root is not None else Path(src.name)
        suffix = src.suffix.lower()
        if is_video_path(src):
            if suffix not in VIDEO_OUT_SUFFIXES:
                rel = rel.with_suffix(".mp4")
        elif suffix not in LOSSLESS_IMAGE_SUFFIXES:
            rel = rel.with_suffix(".png")  # lossy formats would change pixels outside the face
        plan[src] = out / rel
    resolved = {s.resolve() for s in sources}
    for src, dst in plan.items():
        if dst.resolve() in resolved:
            raise FacezooError(f"output {dst} is one of the inputs; convert never overwrites its input. "
                               "Choose another -o.")
    dsts = [d.resolve() for d in plan.values()]
    if len(set(dsts)) != len(dsts):
        raise FacezooError(f"two inputs would be written to the same output under {out}; convert them "
                           "separately or give distinct names")
    return plan


def _expand(inputs) -> tuple[list[Path], dict]:
    from zoo.data.images import IMAGE_EXTENSIONS, list_images
    from zoo.data.video import VIDEO_EXTENSIONS

    sources, roots, seen = [], {}, set()
    for item in [inputs] if isinstance(inputs, (str, os.PathLike)) else inputs:
        p = Path(item)
        if p.is_dir():
            found = [(q, p.resolve()) for q in list_images(p, extensions=IMAGE_EXTENSIONS | VIDEO_EXTENSIONS)]
        elif p.exists():
            found = [(p, None)]
        else:
            raise DataError(f"input not found: {item}. Pass image files, folders or videos.")
        for q, root in found:
            r = q.resolve()
            if r not in seen:
                seen.add(r)
                sources.append(r)
                if root is not None:
                    roots[r] = root
    return sources, roots


def _preview_path(dst: Path, out: Path, single_file: bool, frame: int | None) -> Path:
    tag = "" if frame is None else f"-f{frame:06d}"
    folder = dst.parent if single_file else out / "previews"
    return folder / f"{dst.stem}.preview{tag}.png"


def convert(model, inputs, out, to: str = "b", *, alignments=None, mask: str = "both", color: str = "lab",
            face_index: int | None = None, largest: bool = False, batch_size: int = 16, preview: bool = False,
            every_n: int = 1, detector=None, min_score: float = 0.9, min_size: int = 20,
            progress: bool | None = None) -> ConvertReport:
    """Swap the faces of `inputs` (images, folders, videos) to identity `to`, writing under `out`.

    Args:
        model: a `zoo.SwapModel`.
        inputs: a path or a list of image files, folders (searched recursively) and videos.
        out: an output folder, or an output file when `inputs` is one file and `out` has a suffix.
        alignments: an `alignments.jsonl` (or its folder) from `facezoo extract`: faces are taken from it
            (by source path and frame index); sources it does not know are detected on the fly.
        mask, color: see `FaceSwapper`.
        face_index: swap only the face with this index (alignments' face index, or detector rank).
        largest: swap only the largest face of each frame.
        batch_size: frames per detector call and faces per model call.
        preview: also write original | swapped PNGs (each image; a few frames of each video).
        every_n: for videos, keep every Nth frame only (a quick draft at fps / N).
        detector: a `FaceDetector` to reuse (not closed); default: one started when first needed.
        progress: tqdm bar (None: only on a terminal).

    Raises:
        DataError naming each source that could not be converted (after converting the others).
    """
    from tqdm.auto import tqdm

    from zoo.data.video import is_video_path, video_info

    if int(every_n) < 1:
        raise InputError(f"every_n must be >= 1. Received: every_n={every_n!r}")
    if face_index is not None and largest:
        raise InputError("choose either face_index or largest, not both")
    swapper = FaceSwapper(model, to, mask=mask, color=color, batch_size=batch_size)
    sources, roots = _expand(inputs)
    if not sources:
        raise DataError(f"no images or videos found in {inputs}")
    out = Path(out)
    single_file = len(sources) == 1 and not roots and out.suffix != "" and not out.is_dir()
    plan = _plan_outputs(sources, roots, out, single_file)
    table = _Alignments(alignments) if alignments is not None else None
    report = ConvertReport()
    own_detector = detector is None
    state = {"detector": detector}

    def faces_for(src: Path, frames: list[tuple[int, np.ndarray]]) -> list[list[FaceRef]]:
        known = table.faces_of(src) if table is not None else None
        if known is not None:
            found = [list(known.get(i, [])) for i, _ in frames]
        else:
            t0 = time.perf_counter()
            if state["detector"] is None:
                from zoo.data.detect import FaceDetector
                state["detector"] = FaceDetector(min_face_size=max(int(min_size), 12))
            found = detected_faces(state["detector"], [f for _, f in frames], min_score, min_size)
            swapper.timings["detect"] += time.perf_counter() - t0
        return [choose_faces(f, face_index, largest) for f in found]

    estimates = {}
    for s in sources:
        n = 1
        if is_video_path(s):
            with contextlib.suppress(DataError):
                n = max(1, -(-video_info(s).frame_count // int(every_n)))
        estimates[s] = n
    bar = tqdm(total=sum(estimates.values()), unit="frame", desc=f"convert -> {to}", dynamic_ncols=True,
               disable=(not progress) if progress is not None else None)
    start = time.perf_counter()
    try:
        for src in sources:
            dst = plan[src]
            try:
                if is_video_path(src):
                    _convert_video(src, dst, swapper, faces_for, report, bar, int(every_n), preview,
                                   _preview_path(dst, out, single_file, 0).parent, single_file, estimates[src])
                else:
                    _convert_image(src, dst, swapper, faces_for, report, bar,
                                   _preview_path(dst, out, single_file, None) if preview else None)
            except (DataError, OSError) as exc:
                msg = str(exc) if str(src) in str(exc) else f"{src}: {exc}"
                log.error("convert failed: %s", msg)
                report.failed.append((str(src), msg))
            elapsed = time.perf_counter() - start
            bar.set_postfix(faces=swapper.faces, fps=f"{report.frames / max(elapsed, 1e-9):.1f}", refresh=False)
    finally:
        bar.close()
        report.seconds = time.perf_counter() - start
        report.faces = swapper.faces
        report.timings = {k: round(swapper.timings.get(k, 0.0), 4) for k in STAGES}
        if own_detector and state["detector"] is not None:
            state["detector"].close()
    if report.failed:
        details = "; ".join(m for _, m in report.failed)
        err = DataError(f"{len(report.failed)} of {len(sources)} inputs could not be converted: {details}")
        err.report = report
        raise err
    return report


def _convert_image(src, dst, swapper, faces_for, report, bar, preview_path):
    from zoo.data.images import read_image, write_image

    t0 = time.perf_counter()
    rgb = read_image(src)
    swapper.timings["decode"] += time.perf_counter() - t0
    refs = faces_for(src, [(0, rgb)])[0]
    result = swapper.swap_frames([rgb], [refs])[0] if refs else rgb
    t1 = time.perf_counter()
    if result is rgb and src.suffix.lower() == dst.suffix.lower():
        from zoo.io import atomic_write
        with open(src, "rb") as fin, atomic_write(dst, "wb") as fout:
            shutil.copyfileobj(fin, fout)  # no face: the very same file
    else:
        write_image(dst, result)
    if preview_path is not None:
        report.previews.append(write_image(preview_path, side_by_side(rgb, result)))
    swapper.timings["encode"] += time.perf_counter() - t1
    report.outputs.append(dst)
    report.frames += 1
    report.swapped_frames += bool(refs)
    bar.update(1)


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


def _convert_video(src, dst, swapper, faces_for, report, bar, every_n, preview, preview_dir, single_file,
                   estimate):
    from zoo.data.images import write_image
    from zoo.data.video import iter_frames, video_info
    from zoo.io import atomic_path

    info = video_info(src)  # raises DataError("... unreadable-video") naming the file
    fps = (info.fps or 25.0) / every_n
    total = info.frame_count or estimate * every_n
    want_preview = {int(total * k / (PREVIEW_FRAMES + 1)) // every_n * every_n
                    for k in range(1, PREVIEW_FRAMES + 1)} if preview else set()
    written = 0
    with atomic_path(dst) as tmp:
        video_tmp = tmp.with_name(tmp.name + ".video" + dst.suffix)
        writer = VideoWriter(video_tmp, info.size, fps)
        try:
            frames = iter_frames(src, every_n)
            for index, frame, new, n in iter_swapped(swapper, frames, lambda chunk: faces_for(src, chunk)):
                if (new.shape[1], new.shape[0]) != (writer.width, writer.height):
                    raise DataError(f"{src}: frame {index} is {new.shape[1]}x{new.shape[0]}, the video "
                                    f"says {writer.width}x{writer.height}")
                t0 = time.perf_counter()
                writer.write(new)
                if index in want_preview:
                    p = preview_dir / f"{dst.stem}.preview-f{index:06d}.png"
                    report.previews.append(write_image(p, side_by_side(frame, new)))
                swapper.timings["encode"] += time.perf_counter() - t0
                written += 1
                report.frames += 1
                report.swapped_frames += n > 0
                bar.update(1)
            if written == 0:
                raise DataError(f"{src}: no decodable frame (corrupt video or unsupported codec)")
            t0 = time.perf_counter()
            writer.close()
            if not mux_audio(video_tmp, src, tmp):
                os.replace(video_tmp, tmp)
            swapper.timings["encode"] += time.perf_counter() - t0
        except BaseException:
            writer.abort()
            raise
        finally:
            with contextlib.suppress(FileNotFoundError):
                video_tmp.unlink()
    report.outputs.append(dst)
