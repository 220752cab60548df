"""NumPy 2 shims for the metric libraries, applied locally at import (site-packages stay untouched).

motmetrics 1.4.0 calls ``np.asfarray`` (removed in NumPy 2.0); older trackeval releases use the
``np.float``/``np.int``/``np.bool`` aliases (removed in NumPy 1.24). Each shim is installed only when
the name is missing, with the behaviour the removed name had.
"""
from __future__ import annotations

from typing import Any

import numpy as np


def _asfarray(a: Any, dtype: Any = np.float64) -> np.ndarray:
    """The removed np.asfarray: an array of a floating dtype (float64 unless a float dtype is given)."""
    if not np.issubdtype(np.dtype(dtype), np.inexact):
        dtype = np.float64
    return np.asarray(a, dtype=dtype)


def install_numpy2_shims() -> None:
    """Restore the NumPy names the metric libraries still use (idempotent)."""
    if not hasattr(np, "asfarray"):
        np.asfarray = _asfarray  # type: ignore[attr-defined]
    for name, value in (("float", float), ("int", int), ("bool", bool)):
        try:
            getattr(np, name)
        except AttributeError:
            setattr(np, name, value)


def import_motmetrics() -> Any:
    """motmetrics with the NumPy 2 shims in place."""
    install_numpy2_shims()
    import motmetrics
    return motmetrics


def import_trackeval() -> Any:
    """trackeval with the NumPy 2 shims in place."""
    install_numpy2_shims()
    import trackeval
    return trackeval
