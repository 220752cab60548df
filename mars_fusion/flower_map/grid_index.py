"""A uniform-grid spatial hash of point indices: O(1) insert, move and radius query at any map size."""
from __future__ import annotations

import math
from typing import Dict, List, Tuple

import numpy as np


class GridIndex:
    """Maps grid cells (cell_m squares) to the indices of the points inside them."""

    def __init__(self, cell_m: float) -> None:
        if not cell_m > 0:
            raise ValueError(f"grid cell size must be positive, got {cell_m}")
        self.cell_m = float(cell_m)
        self._cells: Dict[Tuple[int, int], List[int]] = {}

    def cell_of(self, x: float, y: float) -> Tuple[int, int]:
        """The cell containing a point."""
        return (math.floor(x / self.cell_m), math.floor(y / self.cell_m))

    def insert(self, index: int, x: float, y: float) -> None:
        """Add a point index at (x, y)."""
        self._cells.setdefault(self.cell_of(x, y), []).append(index)

    def insert_many(self, indices: np.ndarray, xy: np.ndarray) -> None:
        """Add many points (bulk load), grouping by cell with numpy."""
        if indices.shape[0] == 0:
            return
        cells = np.floor(xy / self.cell_m).astype(np.int64)
        order = np.lexsort((cells[:, 1], cells[:, 0]))
        cells, idx = cells[order], indices[order]
        change = np.flatnonzero(np.any(np.diff(cells, axis=0) != 0, axis=1)) + 1
        starts = np.concatenate([[0], change])
        ends = np.concatenate([change, [cells.shape[0]]])
        for s, e in zip(starts.tolist(), ends.tolist()):
            self._cells.setdefault((int(cells[s, 0]), int(cells[s, 1])), []).extend(idx[s:e].tolist())

    def remove(self, index: int, x: float, y: float) -> None:
        """Remove a point index that was inserted at (x, y)."""
        key = self.cell_of(x, y)
        cell = self._cells.get(key)
        if cell is None or index not in cell:
            raise KeyError(f"point {index} is not in grid cell {key}")
        cell.remove(index)
        if not cell:
            del self._cells[key]

    def move(self, index: int, old_xy: Tuple[float, float], new_xy: Tuple[float, float]) -> None:
        """Update a point's position (only touches the grid when its cell changes)."""
        if self.cell_of(*old_xy) != self.cell_of(*new_xy):
            self.remove(index, *old_xy)
            self.insert(index, *new_xy)

    def query(self, x: float, y: float, radius: float) -> np.ndarray:
        """Indices of points in the cells overlapping the disc (callers filter by exact distance)."""
        r = int(math.ceil(radius / self.cell_m))
        cx, cy = self.cell_of(x, y)
        found: List[int] = []
        cells = self._cells
        for ix in range(cx - r, cx + r + 1):
            for iy in range(cy - r, cy + r + 1):
                cell = cells.get((ix, iy))
                if cell:
                    found.extend(cell)
        return np.asarray(found, dtype=np.int64)

    def clear(self) -> None:
        """Remove all points."""
        self._cells.clear()

    def __len__(self) -> int:
        return sum(len(c) for c in self._cells.values())
