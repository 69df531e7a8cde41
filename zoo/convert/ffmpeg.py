"""The ffmpeg binary that video output uses (imageio-ffmpeg's): finding it, probing a file for an audio
stream, and muxing a source's audio track into a written video (copied, else re-encoded as AAC).
"""
from __future__ import annotations

import subprocess

from zoo.errors import DataError, FacezooError

__all__ = ["ffmpeg_exe", "has_audio", "mux_audio"]


def ffmpeg_exe() -> str:
    try:
        import imageio_ffmpeg
    except ImportError:
        raise FacezooError("video output needs imageio-ffmpeg: pip install imageio-ffmpeg") from None
    return imageio_ffmpeg.get_ffmpeg_exe()


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
