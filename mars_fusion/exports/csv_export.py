"""CSV export of the flower map (one row per flower; the columns mars-eval reads first)."""
from __future__ import annotations

import csv
from pathlib import Path
from typing import Union

import numpy as np

from mars_fusion.snapshot import MapSnapshot

CSV_COLUMNS = ("id", "x", "y", "z", "lat", "lon", "alt", "sd_x", "sd_y", "cov_xy", "observations", "tracks",
               "cameras", "first_seen_ns", "last_seen_ns", "plot_id")


def write_csv(snapshot: MapSnapshot, path: Union[str, Path]) -> Path:
    """Write the flowers as CSV (map metres, WGS-84 degrees, covariance, support, plot)."""
    path = Path(path)
    f = snapshot.flowers
    sd = np.sqrt(np.maximum(np.stack([f.cov[:, 0, 0], f.cov[:, 1, 1]], axis=1), 0.0))
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(CSV_COLUMNS)
        for i in range(len(f)):
            w.writerow([int(f.ids[i]), f"{f.xyz[i, 0]:.4f}", f"{f.xyz[i, 1]:.4f}", f"{f.xyz[i, 2]:.4f}",
                        f"{snapshot.latitude[i]:.9f}", f"{snapshot.longitude[i]:.9f}", f"{snapshot.altitude[i]:.3f}",
                        f"{sd[i, 0]:.4f}", f"{sd[i, 1]:.4f}", f"{f.cov[i, 0, 1]:.6f}", int(f.n_obs[i]),
                        int(f.n_tracks[i]), ";".join(snapshot.cameras(i)), int(f.first_ns[i]), int(f.last_ns[i]),
                        snapshot.plot_ids[i]])
    return path
