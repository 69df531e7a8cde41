"""Plain progress lines for logs: what a bar would show, printed every few seconds.

A tqdm bar draws nothing when its stream is not a terminal, so an extraction sent to a file logged
nothing for 12 minutes (issue 31). `ProgressLines` prints `extract: 120/282 frames, 118 faces,
3.1 faces/s, 48s left` at most every `every_s` seconds (and once at the end) instead; `every_s=0`
prints on every update (tests drive it by events, not by the clock).
"""
from __future__ import annotations

import sys
import time


class ProgressLines:
    def __init__(self, total: int, *, label: str = "extract", every_s: float = 5.0, stream=None):
        self.total, self.label, self.every_s = int(total), label, float(every_s)
        self.stream = stream or sys.stderr
        self.n = 0
        self.faces = 0
        self._t0 = time.perf_counter()
        self._last = None
        self._written = None

    def update(self, n: int = 1, faces: int | None = None) -> None:
        self.n += n
        if faces is not None:
            self.faces = faces
        now = time.perf_counter()
        if self._last is None or now - self._last >= self.every_s:
            self._last = now
            self.write()

    def write(self) -> None:
        elapsed = max(time.perf_counter() - self._t0, 1e-9)
        rate = self.n / elapsed
        left = f", {(self.total - self.n) / rate:.0f} s left" if rate > 0 and self.n < self.total else ""
        self.stream.write(f"{self.label}: {self.n}/{self.total} frames, {self.faces} faces, "
                          f"{self.faces / elapsed:.1f} faces/s{left}\n")
        self.stream.flush()
        self._written = (self.n, self.faces)

    def close(self) -> None:
        if self._last is not None and self._written != (self.n, self.faces):
            self.write()


class LineBar:
    """The few tqdm calls extract makes, printed as `ProgressLines` (`report.faces` is the face count)."""

    disable = False

    def __init__(self, lines: ProgressLines, report):
        self.lines, self.report = lines, report

    def update(self, n=1):
        self.lines.update(n, faces=self.report.faces)

    def set_postfix(self, **kwargs):
        pass

    def close(self):
        self.lines.faces = self.report.faces
        self.lines.close()
