"""`VideoWriter`: raw RGB frames piped to the ffmpeg binary and encoded with libx264 at a constant rate.

The writer owns one ffmpeg process; `close()` checks its exit code and reports its last error lines,
`abort()` kills it. Audio is added afterwards by `zoo.convert.ffmpeg.mux_audio`.
"""
from __future__ import annotations

import contextlib
import subprocess
from fractions import Fraction
from pathlib import Path

import numpy as np

from zoo.convert.ffmpeg import ffmpeg_exe
from zoo.errors import DataError, InputError

__all__ = ["VideoWriter"]


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
