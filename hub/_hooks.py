"""A test hook that pauses a publish or pull at a known point, so tests can kill -9 it there."""
from __future__ import annotations

import os
import sys
import time

from hub.constants import ENV_TEST_PAUSE, PAUSE_MARKER


def pause(point: str) -> None:
    """Sleep if `$FACEZOO_HUB_TEST_PAUSE` is `POINT:SECONDS` for this point; no-op otherwise."""
    value = os.environ.get(ENV_TEST_PAUSE, "")
    name, _, seconds = value.partition(":")
    if name != point:
        return
    print(f"{PAUSE_MARKER} {point}", file=sys.stderr, flush=True)
    time.sleep(float(seconds or 60))
