"""Convert: swap faces in images, folders and videos with a trained swap model.

Per frame: find the faces (an alignments file from `facezoo extract`, or MTCNN on the fly), align each
to the canonical template at the model's input size, decode it as the target identity, colour-match the
decoded face to the original (mean/std in LAB, or histogram matching), and blend it back through the
inverse alignment transform with a feathered mask (the model's learned mask, the landmark mask, or both).
Pixels outside the mask keep their exact bytes; frames without a face pass through unchanged.

Videos are written with the imageio-ffmpeg binary (raw RGB piped to libx264 at the source's frame rate
and size), then the source's audio track is muxed in. Every output is written to a temp file beside its
final name and renamed at the end; an output never replaces one of the inputs.

The package, by job (every public name is importable from `zoo.convert`):
    swapper.py       `FaceRef`, `FaceSwapper`, `iter_swapped`, `swap_image`: faces in frames -> swapped frames
    pipeline.py      `convert()` and `ConvertReport`: inputs -> planned outputs, images and videos, previews
    video_writer.py  `VideoWriter`: frames -> an H.264 file through ffmpeg
    ffmpeg.py        the ffmpeg binary: `ffmpeg_exe`, `has_audio`, `mux_audio`

Examples:
    >>> model = zoo.load_run("runs/alice-bob")
    >>> fake = zoo.swap_image(model, rgb, to="bob")                   # RGB uint8 in and out
    >>> report = convert(model, ["clip.mp4"], "out/", to="bob")       # video with audio
    >>> print(report.summary())
"""
from __future__ import annotations

from zoo.convert.ffmpeg import ffmpeg_exe, has_audio, mux_audio
from zoo.convert.pipeline import (LOSSLESS_IMAGE_SUFFIXES, PREVIEW_FRAMES, STAGES, VIDEO_OUT_SUFFIXES, ConvertReport,
                                  convert)
from zoo.convert.swapper import (FaceRef, FaceSwapper, choose_faces, detected_faces, iter_swapped, swap_image,
                                 template_matrix)
from zoo.convert.video_writer import VideoWriter

__all__ = ["ConvertReport", "FaceRef", "FaceSwapper", "VideoWriter", "choose_faces", "convert", "detected_faces",
           "ffmpeg_exe", "has_audio", "iter_swapped", "mux_audio", "swap_image", "template_matrix",
           "LOSSLESS_IMAGE_SUFFIXES", "PREVIEW_FRAMES", "STAGES", "VIDEO_OUT_SUFFIXES"]
