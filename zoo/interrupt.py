"""Ctrl-C during training: stop at the next step boundary, save, and say how to resume.

Python's default SIGINT handling raises `KeyboardInterrupt` wherever the main thread happens to be. In
the first minute of a run that is inside TensorFlow's tracing of the first step, and there it was
swallowed (training went on to the end; 4 times in 5 in a first-hour replay) or crashed the
interpreter (`SystemError: Objects/listobject.c:338`). So while a trainer runs, SIGINT only records a
request: the trainer's callback sees it after the current step (the first one included, once it has
compiled), stops `fit()`, writes a complete checkpoint and raises `TrainingInterrupted`. A second
Ctrl-C exits at once with status 130: checkpoints are written to a temporary folder and renamed, so the
last complete one stays intact.

The second press must work even while the main thread sits in a long C++ call (graph compilation),
where a Python-level handler does not run until the call returns. The interpreter's C-level handler
writes every signal to the wakeup fd immediately, so a small watcher thread counts presses from there.
"""
from __future__ import annotations

import contextlib
import os
import signal
import socket
import sys
import threading

EXIT_CODE = 130  # 128 + SIGINT, what shells report for a Ctrl-C


class TrainingInterrupted(KeyboardInterrupt):
    """Training stopped on Ctrl-C after a checkpoint was saved at `step` (subclass of KeyboardInterrupt,
    so code that catches that keeps working)."""

    def __init__(self, step: int, run_dir=None):
        super().__init__(f"interrupted at step {step}; checkpoint saved in {run_dir}")
        self.step = int(step)
        self.run_dir = run_dir


class StopRequest:
    """Set when the user pressed Ctrl-C; trainers poll `requested` at step boundaries."""

    def __init__(self):
        self.requested = False
        self.presses = 0

    def __call__(self, signum, frame) -> None:
        """The Python-level SIGINT handler: does nothing (the watcher thread counts presses), so
        Python never raises KeyboardInterrupt in the middle of Keras or TensorFlow code."""

    def _press(self) -> None:
        self.presses += 1
        if self.presses == 1:
            self.requested = True
            _say("Ctrl-C: stopping after the current step and saving a checkpoint (the first step may "
                 "still be compiling). Press Ctrl-C again to quit at once; the last complete checkpoint "
                 "stays intact.")
        else:
            _say("second Ctrl-C: exiting now.")
            os._exit(EXIT_CODE)


def _say(text: str) -> None:
    try:
        sys.stdout.flush()
    except (OSError, ValueError):
        pass
    from zoo.tfquiet import user_stderr_fd
    try:
        os.write(user_stderr_fd(), f"\n{text}\n".encode())
    except OSError:  # the filter gave fd 2 back at this very moment
        os.write(2, f"\n{text}\n".encode())


@contextlib.contextmanager
def stop_on_interrupt():
    """Within this block Ctrl-C sets `StopRequest.requested` instead of raising; yields the request.

    Outside the main thread (where signal handlers cannot be installed) the request is never set and
    Ctrl-C keeps Python's default behaviour. Nested uses share the outer request.
    """
    if threading.current_thread() is not threading.main_thread():
        yield StopRequest()
        return
    current = signal.getsignal(signal.SIGINT)
    if isinstance(current, StopRequest):
        yield current
        return
    request = StopRequest()
    reader, writer = socket.socketpair()
    reader.setblocking(True)
    writer.setblocking(False)
    old_fd = signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)

    def watch():
        while True:
            try:
                data = reader.recv(64)
            except OSError:
                return
            if not data:
                return
            for byte in data:
                if byte == signal.SIGINT:
                    request._press()

    watcher = threading.Thread(target=watch, name="facezoo-sigint", daemon=True)
    old_handler = signal.signal(signal.SIGINT, request)  # `request` is the (no-op) Python handler
    watcher.start()
    try:
        yield request
    finally:
        signal.signal(signal.SIGINT, old_handler)
        signal.set_wakeup_fd(old_fd)
        writer.close()  # the watcher's recv() returns b"" and the thread ends
        watcher.join(timeout=5)
        reader.close()
