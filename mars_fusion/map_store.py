"""Durable storage of the flower map: atomic writes (temp file in the same directory, fsync, os.replace)
and resume. A crash leaves either the previous complete file or the new complete file, never a partial one;
a corrupt file gives a MapStoreError naming it and is never silently replaced by an empty map."""
from __future__ import annotations

import json
import os
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Optional, Tuple, Union

import numpy as np

FORMAT = "mars-flower-map"
VERSION = 1
_ARRAYS = {"ids": 1, "xyz": 2, "cov": 3, "n_obs": 1, "n_tracks": 1, "camera_mask": 1, "first_ns": 1, "last_ns": 1,
           "gnss_var": 1, "score_sum": 1, "path_xy": 2}


class MapStoreError(RuntimeError):
    """A map file cannot be read or written; the message names the file and the problem."""


@dataclass(frozen=True)
class MapState:
    """What a restarted mapper needs: datum, cameras, flower columns, robot path, next id."""

    datum: Tuple[float, float, float]
    projection: str
    camera_names: Tuple[str, ...]
    next_id: int
    arrays: Dict[str, np.ndarray]
    counters: Dict[str, int]


def save_map(state: MapState, path: Union[str, Path]) -> Path:
    """Write the state atomically to path (.npz)."""
    path = Path(path)
    n = int(state.arrays["ids"].shape[0])
    for name, ndim in _ARRAYS.items():
        arr = state.arrays.get(name)
        if arr is None or arr.ndim != ndim or (name != "path_xy" and arr.shape[0] != n):
            raise MapStoreError(f"refusing to write {path}: array '{name}' missing or of wrong shape")
    meta = {"format": FORMAT, "version": VERSION, "datum": list(state.datum), "projection": state.projection,
            "camera_names": list(state.camera_names), "next_id": int(state.next_id), "count": n,
            "counters": {k: int(v) for k, v in state.counters.items()}, "saved_unix": time.time()}
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=str(path.parent))
    try:
        with os.fdopen(fd, "wb") as fh:
            # numpy's stubs type savez's allow_pickle keyword, so a **dict of arrays reads as a bool to mypy.
            np.savez(fh, meta=np.array(json.dumps(meta)), **state.arrays)  # type: ignore[arg-type]
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    try:   # make the rename itself durable
        dir_fd = os.open(str(path.parent), os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:
        pass
    return path


def load_map(path: Union[str, Path]) -> Optional[MapState]:
    """Read a saved map; None when the file does not exist; MapStoreError when it is unreadable or corrupt."""
    path = Path(path)
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            if "meta" not in data.files:
                raise MapStoreError(f"map file {path} has no 'meta' entry: not a MARS flower map")
            meta: Dict[str, Any] = json.loads(str(data["meta"]))
            arrays = {name: data[name] for name in _ARRAYS if name in data.files}
    except MapStoreError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile, EOFError, KeyError, json.JSONDecodeError) as exc:
        raise MapStoreError(f"map file {path} is corrupt or unreadable ({type(exc).__name__}: {exc}); it was left "
                            f"untouched - move it away to start a new map") from None
    if meta.get("format") != FORMAT or meta.get("version") != VERSION:
        raise MapStoreError(f"map file {path}: format {meta.get('format')!r} version {meta.get('version')!r}, "
                            f"expected {FORMAT!r} version {VERSION}")
    missing = sorted(set(_ARRAYS) - set(arrays))
    if missing:
        raise MapStoreError(f"map file {path} lacks arrays {missing}")
    n = int(meta.get("count", -1))
    for name, ndim in _ARRAYS.items():
        arr = arrays[name]
        if arr.ndim != ndim or (name != "path_xy" and arr.shape[0] != n):
            raise MapStoreError(f"map file {path}: array '{name}' has shape {arr.shape}, expected {n} rows")
    if not np.all(np.isfinite(arrays["xyz"])) or not np.all(np.isfinite(arrays["cov"])):
        raise MapStoreError(f"map file {path}: non-finite flower positions or covariances")
    try:
        datum = tuple(float(v) for v in meta["datum"])
        if len(datum) != 3:
            raise ValueError("datum needs 3 values")
        state = MapState(datum, str(meta["projection"]), tuple(str(c) for c in meta["camera_names"]),
                         int(meta["next_id"]), arrays, {str(k): int(v) for k, v in meta.get("counters", {}).items()})
    except (KeyError, TypeError, ValueError) as exc:
        raise MapStoreError(f"map file {path}: bad metadata ({exc})") from None
    return state
