"""Compiled per-frame kernels: numba's ``njit`` with an on-disk cache that also works from a read-only install.

Every kernel of the cores is declared with ``@kernel`` (one code path: the Python body IS the kernel; with
``NUMBA_DISABLE_JIT=1`` numba runs it as plain Python, the debugging switch). Compiled code is cached on disk
(``cache=True``): next to the sources (``__pycache__``) when that folder is writable, else, unless the user set
``NUMBA_CACHE_DIR``, under ``$XDG_CACHE_HOME/mars_counting/numba`` (a colcon/ROS or system install is read-only),
else under the temporary folder. Kernels compile on first call; ``warm_up`` compiles them up front (the nodes
call it at start and log the seconds, so the first frame is not late) and says how long it took.
"""
from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Callable, List, Optional, TypeVar, cast

_PACKAGE_ROOT = Path(__file__).resolve().parents[1]
_CACHE_ENV = "NUMBA_CACHE_DIR"


def _is_writable_folder(path: Path) -> bool:
    """True when files can be created in path (created if missing)."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path):
            return True
    except OSError:
        return False


def choose_cache_dir(package_root: Path = _PACKAGE_ROOT) -> Optional[str]:
    """The folder numba must cache in, or None when numba's default (``__pycache__`` by the sources) will do.

    A user's NUMBA_CACHE_DIR always wins (None: numba reads it itself).
    """
    if os.environ.get(_CACHE_ENV):
        return None
    if _is_writable_folder(package_root / "mars_core" / "__pycache__"):
        return None
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    for candidate in (Path(xdg) / "mars_counting" / "numba",
                      Path(tempfile.gettempdir()) / f"mars_counting-numba-{os.getuid()}"):
        if _is_writable_folder(candidate):
            return str(candidate)
    raise OSError(f"no writable folder for numba's compiled-kernel cache (tried {package_root}, {xdg} and "
                  f"{tempfile.gettempdir()}): set {_CACHE_ENV} to a writable folder")


_chosen = choose_cache_dir()
if _chosen is not None:
    os.environ[_CACHE_ENV] = _chosen   # before numba is imported, which reads it once

import numba  # noqa: E402  (after the cache folder is chosen)

if _chosen is not None:
    setattr(numba.config, "CACHE_DIR", _chosen)   # numba was imported earlier by someone else: set it there too

_F = TypeVar("_F", bound=Callable)
_warm_ups: List[Callable[[], None]] = []


def kernel(function: _F) -> _F:
    """Compile ``function`` with numba in nopython mode, cached on disk, without the GIL."""
    return cast(_F, numba.njit(cache=True, nogil=True)(function))


def register_warm_up(run: Callable[[], None]) -> Callable[[], None]:
    """Register a function that calls a module's kernels on tiny inputs of the types used in production."""
    _warm_ups.append(run)
    return run


def warm_up() -> float:
    """Compile (or load from the cache) every registered kernel; returns the seconds it took."""
    t0 = time.perf_counter()
    for run in _warm_ups:
        run()
    return time.perf_counter() - t0


def cache_dir() -> str:
    """Where compiled kernels are cached (for logs)."""
    return os.environ.get(_CACHE_ENV) or "__pycache__ next to the sources"


def jit_disabled() -> bool:
    """True when NUMBA_DISABLE_JIT runs the kernels as plain Python."""
    return bool(getattr(numba.config, "DISABLE_JIT"))
