"""facezoo's data folder: where the embedded hub, the release cache and the shared aligned-face caches
live. One function, so `zoo` (the LFW alignment cache) and `hub` (the embedded hub) agree without one
importing the other."""
from __future__ import annotations

import os
import sys
from pathlib import Path

ENV_HOME = "FACEZOO_HOME"        # facezoo's data folder (embedded hub, caches)

__all__ = ["ENV_HOME", "facezoo_home"]


def facezoo_home() -> Path:
    """`$FACEZOO_HOME`, else the platform's user data folder (e.g. ~/.local/share/facezoo)."""
    value = os.environ.get(ENV_HOME)
    if value:
        return Path(value).expanduser()
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "facezoo"
