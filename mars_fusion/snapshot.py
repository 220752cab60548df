"""A self-contained picture of the map for exports, the ROS node and the store: flowers with geodetic
positions and plot ids, the camera names, the robot path and the datum."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Tuple

import numpy as np

from mars_fusion.flower_map.flower_store import FlowerTable


@dataclass(frozen=True)
class MapSnapshot:
    """Flowers (table + lat/lon/alt + plot id per flower), camera names, robot path (M, 2) in map, datum."""

    flowers: FlowerTable
    latitude: np.ndarray
    longitude: np.ndarray
    altitude: np.ndarray
    plot_ids: np.ndarray
    camera_names: Tuple[str, ...]
    path_xy: np.ndarray
    datum: Tuple[float, float, float]
    projection: str

    def __len__(self) -> int:
        return len(self.flowers)

    def cameras(self, row: int) -> List[str]:
        """Camera names that saw flower row."""
        mask = int(self.flowers.camera_mask[row])
        return [n for i, n in enumerate(self.camera_names) if mask >> i & 1]

    def first_camera(self) -> np.ndarray:
        """Rig index of the lowest-index camera that saw each flower (how the map colours a flower once)."""
        masks = np.asarray(self.flowers.camera_mask, dtype=np.int64)
        lowest = masks & -masks
        return np.where(lowest > 0, np.log2(np.maximum(lowest, 1)).astype(np.int64), -1)

    def counts_per_plot(self) -> Dict[str, int]:
        """Flowers per plot or row segment ('' = outside every plot)."""
        names, counts = np.unique(self.plot_ids.astype(str), return_counts=True)
        return {str(n): int(c) for n, c in zip(names, counts)}
