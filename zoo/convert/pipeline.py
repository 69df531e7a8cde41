"""`convert()`: whole runs over files. Expands the inputs (images, folders, videos), plans one output per
source (lossless image formats, .mp4-family videos; never over an input), finds faces from an
alignments file or a detector, swaps them (`zoo.convert.swapper`), writes images atomically and videos
through `VideoWriter` plus the source's audio (`zoo.convert.ffmpeg`), optional previews, and returns a
`ConvertReport` (frames, faces, per-stage seconds). A source that fails is named in the error raised
after the others are converted.
"""
from __future__ import annotations

import contextlib
import logging
import os
import shutil
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from zoo.blend import side_by_side
from zoo.convert.ffmpeg import mux_audio
from zoo.convert.swapper import FaceRef, FaceSwapper, choose_faces, detected_faces, iter_swapped
from zoo.convert.video_writer import VideoWriter
from zoo.errors import DataError, FacezooError, InputError

log = logging.getLogger("facezoo.convert")

__all__ = ["ConvertReport", "convert", "LOSSLESS_IMAGE_SUFFIXES", "VIDEO_OUT_SUFFIXES", "PREVIEW_FRAMES", "STAGES"]

LOSSLESS_IMAGE_SUFFIXES = frozenset({".png", ".bmp", ".tif", ".tiff", ".ppm", ".pgm", ".pnm"})
VIDEO_OUT_SUFFIXES = frozenset({".mp4", ".m4v", ".mov", ".mkv"})
PREVIEW_FRAMES = 3       # frames of each video written as previews
STAGES = ("decode", "detect", "model", "blend", "encode")


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
        from zoo.data.alignments import read_alignments

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
