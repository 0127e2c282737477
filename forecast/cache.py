"""The user's cache folder: compiled programs and small derived arrays, never project data.

Everything here can be deleted at any time; it is rebuilt on demand. ``$FORECAST_CACHE_DIR``
moves it (CI keeps it inside the checkout).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np


def cache_dir() -> Path:
    """``$FORECAST_CACHE_DIR``, else ``$XDG_CACHE_HOME/forecast`` or ``~/.cache/forecast``."""
    base = os.environ.get("FORECAST_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "forecast"
    )
    return Path(base)


def cached_array(kind: str, key: str, compute: Callable[[], np.ndarray]) -> np.ndarray:
    """``compute()``, kept in ``<cache>/<kind>/`` under a digest of ``key`` for later calls.

    A missing, unreadable or unwritable cache only means computing the array again.
    """
    folder = cache_dir() / kind
    path = folder / f"{hashlib.sha256(key.encode()).hexdigest()[:32]}.npy"
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError):
        pass
    value = compute()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, suffix=".npy")
        with os.fdopen(fd, "wb") as f:
            np.save(f, value, allow_pickle=False)
        os.replace(tmp, path)
    except OSError:
        pass
    return value
