"""Plot membership of flowers: GeoJSON plot polygons (shapely STRtree), or row segments along the robot path."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, List, Mapping, Tuple, Union

import numpy as np
import shapely
from shapely.geometry import shape
from shapely.strtree import STRtree

from mars_core.rig import ConfigError
from mars_core.geometry.map_frame import MapFrame


class PlotIndex:
    """Plot polygons in map metres with their ids; assigns flowers to the plot containing them."""

    def __init__(self, polygons: List[Any], plot_ids: List[str]) -> None:
        self.polygons = polygons
        self.plot_ids = np.asarray(plot_ids, dtype=object)
        self._tree = STRtree(polygons)

    @classmethod
    def from_geojson(cls, source: Union[str, Path, Mapping[str, Any]], map_frame: MapFrame,
                     id_property: str = "plot_id") -> "PlotIndex":
        """Plots from a GeoJSON FeatureCollection of (Multi)Polygons in WGS-84 lon/lat (RFC 7946)."""
        where = "plots GeoJSON"
        if isinstance(source, (str, Path)):
            where = str(source)
            try:
                data = json.loads(Path(source).read_text())
            except OSError as exc:
                raise ConfigError(f"cannot read plots file {source}: {exc}") from None
            except json.JSONDecodeError as exc:
                raise ConfigError(f"plots file {source} is not valid JSON: {exc}") from None
        else:
            data = source
        if not isinstance(data, Mapping) or data.get("type") != "FeatureCollection":
            raise ConfigError(f"{where}: expected a GeoJSON FeatureCollection")
        polygons, ids = [], []
        for k, feat in enumerate(data.get("features") or []):
            props = feat.get("properties") or {}
            if id_property not in props:
                raise ConfigError(f"{where}: feature {k} has no property '{id_property}' (plot id)")
            try:
                geom = shape(feat["geometry"])
            except Exception as exc:  # shapely raises several types for malformed geometry
                raise ConfigError(f"{where}: feature {k} ({props[id_property]!r}) has invalid geometry: {exc}") from None
            if geom.geom_type not in ("Polygon", "MultiPolygon"):
                raise ConfigError(f"{where}: feature {k} ({props[id_property]!r}) is a {geom.geom_type}, not a Polygon")

            def to_map(coords: np.ndarray) -> np.ndarray:
                x, y, _ = map_frame.map_from_geodetic(coords[:, 1], coords[:, 0], np.zeros(coords.shape[0]))
                return np.column_stack([x, y])
            polygons.append(shapely.transform(geom, to_map))
            ids.append(str(props[id_property]))
        if not polygons:
            raise ConfigError(f"{where}: no plot polygons")
        return cls(polygons, ids)

    def assign(self, xy: np.ndarray) -> np.ndarray:
        """Plot id per point (N, 2) in map metres; '' outside every plot (first plot wins on overlaps)."""
        xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
        out = np.full(xy.shape[0], "", dtype=object)
        if xy.shape[0] == 0:
            return out
        points = shapely.points(xy)
        pt_idx, poly_idx = self._tree.query(points, predicate="within")
        order = np.lexsort((poly_idx, pt_idx))[::-1]   # lowest polygon index last -> written last -> wins
        out[pt_idx[order]] = self.plot_ids[poly_idx[order]]
        return out


def straight_runs(path_xy: np.ndarray, min_length_m: float = 2.0, max_turn_rad: float = 0.5
                  ) -> List[Tuple[np.ndarray, np.ndarray]]:
    """Straight passes (start, end) of a robot path: split where the direction turns by more than max_turn."""
    p = np.asarray(path_xy, dtype=np.float64).reshape(-1, 2)
    if p.shape[0] < 2:
        return []
    step = np.diff(p, axis=0)
    length = np.hypot(step[:, 0], step[:, 1])
    keep = length > 1e-6
    if not keep.any():
        return []
    heading = np.arctan2(step[:, 1], step[:, 0])
    runs: List[Tuple[np.ndarray, np.ndarray]] = []
    start, ref = 0, None
    for i in range(step.shape[0]):
        if not keep[i]:
            continue
        if ref is None:
            ref = heading[i]
            start = i
        elif abs(np.angle(np.exp(1j * (heading[i] - ref)))) > max_turn_rad:
            runs.append((p[start], p[i]))
            ref, start = heading[i], i
    runs.append((p[start], p[-1]))
    return [(a, b) for a, b in runs if np.hypot(*(b - a)) >= min_length_m]


def row_segment_ids(xy: np.ndarray, path_xy: np.ndarray, segment_length_m: float, chunk: int = 100_000) -> np.ndarray:
    """'pass{k}_seg{s}' per point: the nearest straight pass of the path and the along-pass bin."""
    xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
    out = np.full(xy.shape[0], "", dtype=object)
    runs = straight_runs(path_xy)
    if not runs or xy.shape[0] == 0:
        return out
    a = np.array([r[0] for r in runs])
    b = np.array([r[1] for r in runs])
    ab = b - a
    length = np.hypot(ab[:, 0], ab[:, 1])
    unit = ab / length[:, None]
    for s in range(0, xy.shape[0], chunk):
        q = xy[s:s + chunk, None, :] - a[None]
        along = np.einsum("nrk,rk->nr", q, unit)
        clamped = np.clip(along, 0.0, length[None])
        perp = np.linalg.norm(q - clamped[..., None] * unit[None], axis=2)
        run = np.argmin(perp, axis=1)
        seg = np.floor(clamped[np.arange(run.shape[0]), run] / segment_length_m).astype(int)
        out[s:s + chunk] = [f"pass{r:02d}_seg{g:03d}" for r, g in zip(run.tolist(), seg.tolist())]
    return out
