"""The simulated field's plots: rectangles along each row, as a GeoJSON file and with their true flower counts.

A plot is one row's strip (one row spacing wide, centred on the row line) cut into lengths of
``field.plot_length_m`` along the row, the way breeding and agronomy trials lay out their plots. The truth
folder gets ``plots.geojson`` (what a user's own plot file looks like) and ``hand_counts.csv`` (plot_id,count:
what a person counting the plot would report, every flower in it, seen by a camera or not), so that
``mars-eval --hand-counts`` is tested on the same files a user brings from the field.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, List, Tuple, Union

import numpy as np

from mars_core.geometry.map_frame import MapFrame
from mars_sim.config import FieldConfig
from mars_sim.world import row_axes

HAND_COUNTS_HEADER = "plot_id,count,observed_count"


def plot_id(row: int, plot: int) -> str:
    """The id of a plot: row and position along it, both 0-based."""
    return f"row{row:02d}_plot{plot:02d}"


def plots_per_row(field: FieldConfig) -> int:
    """Plots along one row (the last may be shorter)."""
    return max(1, int(np.ceil(field.row_length_m / field.plot_length_m - 1e-9)))


def plot_rectangles(field: FieldConfig) -> Tuple[List[str], np.ndarray]:
    """Plot ids and their corners (P, 4, 2) in map metres, row by row, counter-clockwise."""
    along, across = row_axes(field)
    origin = np.asarray(field.origin_xy, dtype=float)
    ids, corners = [], []
    for row in range(field.rows):
        centre = origin + across * (row * field.row_spacing_m)
        for k in range(plots_per_row(field)):
            s0 = k * field.plot_length_m
            s1 = min(field.row_length_m, s0 + field.plot_length_m)
            half = 0.5 * field.row_spacing_m
            corners.append([centre + along * s0 - across * half, centre + along * s1 - across * half,
                            centre + along * s1 + across * half, centre + along * s0 + across * half])
            ids.append(plot_id(row, k))
    return ids, np.asarray(corners, dtype=float).reshape(-1, 4, 2)


def plot_of_points(field: FieldConfig, xy: np.ndarray) -> np.ndarray:
    """Plot id per map point (N, 2); '' for points outside every plot."""
    xy = np.asarray(xy, dtype=float).reshape(-1, 2)
    along, across = row_axes(field)
    rel = xy - np.asarray(field.origin_xy, dtype=float)[None, :]
    s = rel @ along
    row = np.floor(rel @ across / field.row_spacing_m + 0.5).astype(np.int64)
    k = np.floor(s / field.plot_length_m).astype(np.int64)
    inside = (row >= 0) & (row < field.rows) & (s >= 0.0) & (s <= field.row_length_m)
    k = np.minimum(k, plots_per_row(field) - 1)  # a point exactly on the row's end belongs to the last plot
    out = np.full(xy.shape[0], "", dtype=object)
    out[inside] = [plot_id(int(r), int(p)) for r, p in zip(row[inside], k[inside])]
    return out


def plots_geojson(field: FieldConfig, map_frame: MapFrame) -> Dict[str, object]:
    """The plots as a GeoJSON FeatureCollection of WGS-84 lon/lat polygons with a 'plot_id' property."""
    ids, corners = plot_rectangles(field)
    features = []
    for pid, ring in zip(ids, corners):
        closed = np.vstack([ring, ring[:1]])
        lat, lon, _ = map_frame.geodetic_from_map(closed[:, 0], closed[:, 1], np.zeros(closed.shape[0]))
        features.append({"type": "Feature", "properties": {"plot_id": pid},
                         "geometry": {"type": "Polygon",
                                      "coordinates": [[[round(float(a), 9), round(float(b), 9)]
                                                       for a, b in zip(lon, lat)]]}})
    return {"type": "FeatureCollection", "features": features}


def write_plot_truth(field: FieldConfig, map_frame: MapFrame, flower_xy: np.ndarray, observed: np.ndarray,
                     truth_dir: Union[str, Path]) -> Tuple[Path, Path]:
    """Write plots.geojson and hand_counts.csv (every flower per plot, and those a camera saw) into truth_dir."""
    truth_dir = Path(truth_dir)
    ids, _ = plot_rectangles(field)
    where = plot_of_points(field, flower_xy)
    observed = np.asarray(observed, dtype=bool)
    geojson_path = truth_dir / "plots.geojson"
    geojson_path.write_text(json.dumps(plots_geojson(field, map_frame)))
    counts_path = truth_dir / "hand_counts.csv"
    with open(counts_path, "w") as fh:
        fh.write(HAND_COUNTS_HEADER + "\n")
        for pid in ids:
            here = where == pid
            fh.write(f"{pid},{int(here.sum())},{int((here & observed).sum())}\n")
    return geojson_path, counts_path
