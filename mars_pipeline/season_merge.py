"""Merging the maps of several bags (a day or a season of recordings) into one flower map.

Each bag is counted on its own (in parallel) and saves its map state; the merge brings every map into the
first map's frame (through latitude/longitude, as each bag has its own datum) and lets the fusion's
consolidation merge flowers seen again in another bag when their positions agree within uncertainty.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Union

import numpy as np

from mars_fusion.config import FusionConfig
from mars_fusion.exports import write_all, write_png
from mars_fusion.map_store import MapState, MapStoreError, load_map
from mars_fusion.mapper import FlowerMapper
from mars_core.geometry.map_frame import MapFrame

MAP_STATE_FILE = "map_state.npz"


def merge_runs(run_dirs: Sequence[Union[str, Path]], out_dir: Union[str, Path],
               fusion_config: FusionConfig = FusionConfig(), names: Optional[Sequence[str]] = None,
               problems: Sequence[str] = ()) -> Dict[str, object]:
    """Merge the map states of run_dirs into out_dir (flowers.csv/.geojson/.kml, map.png, merge_summary.json).

    names: how merge_summary.json calls the runs (default: their folders; the CLI passes the final places of
    folders it writes elsewhere first); problems: the season's, e.g. bags that could not be read."""
    labels = [str(n) for n in names] if names is not None else [str(r) for r in run_dirs]
    if len(labels) != len(run_dirs):
        raise ValueError(f"{len(labels)} names for {len(run_dirs)} runs")
    states = []
    skipped: List[str] = []
    for run, label in zip(run_dirs, labels):
        path = Path(run) / MAP_STATE_FILE
        state = load_map(path) if path.exists() else None
        if state is None:
            skipped.append(f"{label}: no map (no GNSS fix in that bag)")
            continue
        states.append((label, state))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    result: Dict[str, object] = {"runs": labels, "skipped": skipped, "problems": list(problems), "flowers": 0,
                                 "per_run": {}}
    if not states:
        (out / "merge_summary.json").write_text(json.dumps(result, indent=2))
        return result
    cameras = states[0][1].camera_names
    for run, state in states:
        if tuple(state.camera_names) != tuple(cameras):
            raise MapStoreError(f"{run}: cameras {list(state.camera_names)} differ from {list(cameras)}; "
                                f"maps of different rigs are not merged")
    from mars_core.rig import RigCamera, RigConfig  # a camera-name-only rig is all the map needs
    from mars_core.geometry.camera_model import CameraIntrinsics, CameraModel

    rig = RigConfig(tuple(RigCamera(CameraModel(n, CameraIntrinsics(1, 1, 1.0, 1.0, 0.0, 0.0))) for n in cameras))
    mapper = FlowerMapper(fusion_config, rig)
    mapper.restore(states[0][1])
    target = mapper.map_frame
    assert target is not None  # restore() sets it from the state's datum
    for run, state in states[1:]:
        source = MapFrame(*state.datum, projection=state.projection)
        a = state.arrays
        lat, lon, alt = source.geodetic_from_map(a["xyz"][:, 0], a["xyz"][:, 1], a["xyz"][:, 2])
        x, y, z = target.map_from_geodetic(lat, lon, alt)
        mapper.flower_map.insert_many(np.column_stack([x, y, z]), a["cov"], a["n_obs"], a["first_ns"], a["last_ns"],
                                      a["camera_mask"], n_tracks=a["n_tracks"], gnss_var=a["gnss_var"],
                                      score_sum=a.get("score_sum"))
    before = mapper.count()
    merged = mapper.flower_map.consolidate()
    snapshot = mapper.snapshot()
    write_all(snapshot, out, picture=False)
    paths = [(_run_label(run), _path_in(target, state)) for run, state in states]
    write_png(snapshot, out / "map.png", paths=paths,
              title=f"{mapper.count()} flowers merged from {len(states)} runs")
    result.update(flowers=mapper.count(), flowers_before_merge=before, merged_duplicates=merged,
                  per_run={run: int(state.arrays["ids"].shape[0]) for run, state in states},
                  note="flowers count reported flowers; low-score ones stay in the saved maps, unreported")
    (out / "merge_summary.json").write_text(json.dumps(result, indent=2))
    return result


def _path_in(target: MapFrame, state: MapState) -> np.ndarray:
    """A run's robot path (map x, y of its own datum) in the merged map's frame, through latitude/longitude."""
    xy = np.asarray(state.arrays.get("path_xy", np.zeros((0, 2))), dtype=float).reshape(-1, 2)
    source = MapFrame(*state.datum, projection=state.projection)
    lat, lon, alt = source.geodetic_from_map(xy[:, 0], xy[:, 1], np.zeros(xy.shape[0]))
    x, y, _ = target.map_from_geodetic(lat, lon, alt)
    return np.column_stack([x, y])


def _run_label(run: str) -> str:
    """How the map's legend names a run: its last two path parts (a bag folder is often just 'bag')."""
    return "/".join(Path(run).parts[-2:])
