"""Compiled per-frame kernels (numba): the one place that decides where their compiled code is cached.

Kernels are declared with `compiled` (numba.njit with cache=True): the first call compiles (seconds), later
processes load the cache. The cache lives next to the source (numba's default) when that folder is writable;
in a read-only install (a ROS install space, a system site-packages) it goes to $XDG_CACHE_HOME/mars_counting/
numba (~/.cache/...), or a temporary folder when even that cannot be written. NUMBA_CACHE_DIR set by the user
wins. NUMBA_DISABLE_JIT=1 runs the same functions as plain Python (debugging).
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, Callable, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


def cache_folder() -> str:
    """The folder numba caches compiled kernels in ('' = numba's default, next to the source)."""
    if os.environ.get("NUMBA_CACHE_DIR"):
        return os.environ["NUMBA_CACHE_DIR"]
    if os.access(Path(__file__).resolve().parent, os.W_OK):
        return ""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "mars_counting" / "numba"
    try:
        base.mkdir(parents=True, exist_ok=True)
        if os.access(base, os.W_OK):
            return str(base)
    except OSError:
        pass
    return str(Path(tempfile.gettempdir()) / f"mars_counting_numba_{os.getuid()}")


_FOLDER = cache_folder()
if _FOLDER:
    os.environ["NUMBA_CACHE_DIR"] = _FOLDER   # read by numba when it is first imported (below)

import numba  # noqa: E402

if _FOLDER:
    setattr(numba.config, "CACHE_DIR", _FOLDER)   # numba was imported before this module: set it there too


def compiled(function: F) -> F:
    """A kernel compiled to machine code on first use and cached on disk (numba.njit, cache=True, no GIL)."""
    kernel: Any = numba.njit(cache=True, nogil=True)(function)
    return kernel
