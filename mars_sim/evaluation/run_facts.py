"""What a truth folder and a result folder say about the run they come from, and whether the two belong together.

Truth (mars_sim.truth_files): world.yaml's datum (UTM map frame), drive time span, cameras, preset and seed.
Result (mars-count): summary.json (datum, GNSS report, bag, duration, cameras), map_state.npz (datum and map
projection), tracks/<camera>.txt and the flowers' first/last seen stamps. Every file but the flowers is
optional: a hand-made result is scored with what it has, and the checks it cannot make are skipped.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import yaml

from mars_fusion.map_store import MapStoreError, load_map
from mars_sim.geodesy import MapDatum

# mars-count's resumable map (mars_pipeline.season_merge.MAP_STATE_FILE; mars_sim must not import mars_pipeline,
# test/sim/test_sim_evaluation.py checks the two names agree).
RESULT_MAP_STATE_FILE = "map_state.npz"
# Datums closer than this are the same (the summary rounds nothing; a first-fix datum is metres away).
DATUM_TOLERANCE_M = 0.001
# A bag's stamps lie within its simulation's drive; the slack covers rounding and the last camera frame.
TIME_SLACK_S = 1.0
# Result flowers further than this outside the truth's field cannot be its flowers, whatever the GNSS did
# (plain GNSS is off by metres, not tens of metres).
FIELD_MARGIN_M = 20.0
# Below this share of the result's track boxes overlapping a truth box (IoU 0.5) in every camera, the tracks
# were not made from this run's detections (a real detector on this run's images scores far above it).
FOREIGN_TRACK_PRECISION = 0.2


class EvaluationInputError(ValueError):
    """A truth or result file is missing or malformed; the message names it."""


class ForeignResultError(EvaluationInputError):
    """The result cannot come from the truth's run (its flowers lie elsewhere or were seen at other times)."""


@dataclass(frozen=True)
class TruthRun:
    """The simulated run a truth folder describes."""

    folder: Path
    datum: Optional[MapDatum]
    start_ns: Optional[int]
    end_ns: Optional[int]
    cameras: Tuple[str, ...]
    name: str                      # "preset 'quick' seed 1", for messages


@dataclass(frozen=True)
class ResultRun:
    """What a result folder says about the run it counted."""

    folder: Path
    summary: Dict[str, Any]
    datum: Optional[Tuple[float, float, float]]
    projection: Optional[str]      # the result's map frame ('enu' or 'utm'); None when the result does not say
    cameras: Tuple[str, ...]
    seen_ns: Optional[Tuple[float, float]]   # first and last stamp any flower was seen
    problems: List[str] = field(default_factory=list)

    @property
    def reported_sd_m(self) -> Optional[float]:
        """The median horizontal sd (m, per axis) the fusion's accepted fixes reported, if the result has it."""
        value = (self.summary.get("gnss") or {}).get("median_reported_sd_m")
        return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


def read_truth_run(folder: Path) -> TruthRun:
    """The truth folder's world.yaml facts (all None/empty without world.yaml)."""
    path = folder / "world.yaml"
    if not path.is_file():
        return TruthRun(folder, None, None, None, (), str(folder))
    try:
        world = yaml.safe_load(path.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise EvaluationInputError(f"{path} is not valid YAML ({type(exc).__name__})") from None
    if not isinstance(world, dict):
        raise EvaluationInputError(f"{path} must be a mapping (datum, start_time_ns, ...), got {type(world).__name__}")
    datum = None
    if world.get("datum"):
        d = world["datum"]
        try:
            datum = MapDatum(float(d["latitude"]), float(d["longitude"]), float(d.get("altitude", 0.0)))
        except (TypeError, KeyError, ValueError) as exc:
            raise EvaluationInputError(f"{path}: datum needs finite latitude and longitude ({exc})") from None
    cameras = world.get("cameras") or []
    name = f"preset {world.get('preset')!r} seed {world.get('seed')}" if "preset" in world else str(folder)
    return TruthRun(folder, datum, _int_or_none(world.get("start_time_ns"), path, "start_time_ns"),
                    _int_or_none(world.get("end_time_ns"), path, "end_time_ns"),
                    tuple(str(c) for c in cameras) if isinstance(cameras, list) else (), name)


def _int_or_none(value: Any, path: Path, key: str) -> Optional[int]:
    if value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise EvaluationInputError(f"{path}: {key} must be an integer (ns), got {value!r}") from None


def read_result_run(folder: Path, flowers: Dict[str, np.ndarray]) -> ResultRun:
    """The result folder's facts: summary.json, map_state.npz, tracks/ and the flowers' seen stamps."""
    summary: Dict[str, Any] = {}
    path = folder / "summary.json"
    if path.is_file():
        try:
            summary = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise EvaluationInputError(f"{path} is not valid JSON ({exc})") from None
        if not isinstance(summary, dict):
            raise EvaluationInputError(f"{path} must be a JSON object, got {type(summary).__name__}")
    datum: Optional[Tuple[float, float, float]] = None
    projection: Optional[str] = None
    problems: List[str] = []
    try:
        state = load_map(folder / RESULT_MAP_STATE_FILE)
    except MapStoreError as exc:
        state = None
        problems.append(f"{exc} (its datum and projection are not used)")
    if state is not None:
        datum = (float(state.datum[0]), float(state.datum[1]), float(state.datum[2]))
        projection = state.projection
    else:
        raw = (summary.get("gnss") or {}).get("datum")
        if isinstance(raw, list) and len(raw) == 3 and all(isinstance(v, (int, float)) for v in raw):
            datum = (float(raw[0]), float(raw[1]), float(raw[2]))
    cameras = [str(c) for c in (summary.get("per_camera") or {})]
    tracks = folder / "tracks"
    if tracks.is_dir():
        cameras += sorted(p.stem for p in tracks.glob("*.txt") if p.stem not in cameras)
    seen_ns = None
    first, last = flowers.get("first_seen_ns"), flowers.get("last_seen_ns")
    if first is not None and last is not None and np.isfinite(first).any() and np.isfinite(last).any():
        seen_ns = (float(np.nanmin(first)), float(np.nanmax(last)))
    return ResultRun(folder, summary, datum, projection, tuple(cameras), seen_ns, problems)


def _utc(ns: float) -> str:
    return datetime.fromtimestamp(ns * 1e-9, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def check_time_span(truth: TruthRun, result: ResultRun) -> List[str]:
    """Warnings where the result's flowers were seen outside the truth's drive; ForeignResultError when no
    flower was seen during it. A shorter result (a bag cut short) is said, not refused."""
    warnings: List[str] = []
    if truth.start_ns is None or truth.end_ns is None:
        return warnings
    span_s = (truth.end_ns - truth.start_ns) * 1e-9
    if result.seen_ns is not None:
        first, last = result.seen_ns
        slack = TIME_SLACK_S * 1e9
        if last < truth.start_ns - slack or first > truth.end_ns + slack:
            raise ForeignResultError(
                f"the result's flowers were seen from {_utc(first)} to {_utc(last)}, the truth's drive "
                f"({truth.name}) ran from {_utc(truth.start_ns)} to {_utc(truth.end_ns)}: they are different runs")
        if first < truth.start_ns - slack or last > truth.end_ns + slack:
            warnings.append(f"time span differs: the result's flowers were seen from "
                            f"{(first - truth.start_ns) * 1e-9:+.1f} s to {(last - truth.start_ns) * 1e-9:+.1f} s "
                            f"after the truth's start, outside its drive (0 to {span_s:.1f} s): probably another run")
    duration = result.summary.get("bag_duration_s")
    if isinstance(duration, (int, float)) and math.isfinite(duration):
        if duration > span_s + TIME_SLACK_S:
            warnings.append(f"time span differs: the result's bag lasted {duration:.1f} s, longer than the truth's "
                            f"drive ({span_s:.1f} s): probably another run")
        elif duration < 0.98 * span_s - TIME_SLACK_S:
            warnings.append(f"partial run: the result's bag covers {duration:.1f} s of the truth's {span_s:.1f} s "
                            f"drive; recall counts every true flower the cameras saw over the whole drive")
    return warnings


def check_cameras(truth: TruthRun, result: ResultRun) -> List[str]:
    """A warning naming the cameras only one of the two has."""
    if not truth.cameras or not result.cameras or set(truth.cameras) == set(result.cameras):
        return []
    only_truth = [c for c in truth.cameras if c not in result.cameras]
    only_result = [c for c in result.cameras if c not in truth.cameras]
    parts = ([f"only in the truth: {', '.join(only_truth)}"] if only_truth else []) + \
            ([f"only in the result: {', '.join(only_result)}"] if only_result else [])
    return [f"cameras differ ({'; '.join(parts)})" + (": the result is from another rig or run"
                                                      if only_result else "")]


def check_datum(truth: TruthRun, result: ResultRun) -> List[str]:
    """A note where the result's map frame is not the truth's (its x,y are then not comparable with the truth's)."""
    if truth.datum is None or result.datum is None:
        return []
    offset = datum_offset_m(truth, result.datum)
    if offset <= DATUM_TOLERANCE_M and result.projection in (None, "utm"):
        return []
    frame = f"'{result.projection}'" if result.projection else "a map frame"
    return [f"map frames differ (handled: the flowers are placed from lat,lon or converted): the result has {frame} at {result.datum[0]:.7f}, {result.datum[1]:.7f} "
            f"({offset:.2f} m from the truth's datum), the truth 'utm' at {truth.datum.latitude:.7f}, "
            f"{truth.datum.longitude:.7f}"]


def datum_offset_m(truth: TruthRun, datum: Tuple[float, float, float]) -> float:
    """Horizontal distance (m) of a datum from the truth's datum."""
    assert truth.datum is not None
    x, y, _ = truth.datum.map_from_geodetic(np.array([datum[0]]), np.array([datum[1]]))
    return float(math.hypot(x[0], y[0]))


def check_place(truth_xy: np.ndarray, pred_xy: np.ndarray, truth: TruthRun) -> List[str]:
    """Warnings where result flowers lie outside the truth's field; ForeignResultError when all do."""
    if pred_xy.shape[0] == 0 or truth_xy.shape[0] == 0:
        return []
    lo, hi = truth_xy.min(axis=0) - FIELD_MARGIN_M, truth_xy.max(axis=0) + FIELD_MARGIN_M
    outside = ~np.all((pred_xy >= lo) & (pred_xy <= hi), axis=1)
    n_out = int(outside.sum())
    if n_out == 0:
        return []
    centre = 0.5 * (truth_xy.min(axis=0) + truth_xy.max(axis=0))
    distance = float(np.median(np.linalg.norm(pred_xy[outside] - centre, axis=1)))
    if n_out == pred_xy.shape[0]:
        raise ForeignResultError(
            f"none of the result's {n_out} flowers lies within {FIELD_MARGIN_M:g} m of the truth's field "
            f"({truth.name}); they are about {distance:.0f} m from its centre: the result is from another field")
    return [f"place differs: {n_out} of the result's {pred_xy.shape[0]} flowers lie more than {FIELD_MARGIN_M:g} m "
            f"outside the truth's field (median {distance:.0f} m from its centre): probably another run"]


def check_tracks(tracking: Dict[str, Any]) -> List[str]:
    """A warning when in every scored camera almost none of the result's boxes overlaps a truth box."""
    precisions = {cam: t.get("precision") for cam, t in tracking.items() if "missing" not in t}
    precisions = {c: p for c, p in precisions.items() if isinstance(p, float) and math.isfinite(p)}
    if not precisions or max(precisions.values()) >= FOREIGN_TRACK_PRECISION:
        return []
    listed = ", ".join(f"{c} {100 * p:.0f} %" for c, p in precisions.items())
    return [f"tracks differ: only {listed} of the result's track boxes overlap a truth box (IoU 0.5); the same "
            f"run scores far higher: probably another run (another seed?)"]


def check_source(truth: TruthRun, result: ResultRun) -> List[str]:
    """A warning when the result names the bag it counted and that bag's own truth folder is another run."""
    bag = result.summary.get("bag")
    if not isinstance(bag, str) or not bag:
        return []
    sibling = Path(bag).parent / "truth"
    try:
        if not sibling.is_dir() or sibling.resolve() == truth.folder.resolve():
            return []
        same = (sibling / "flowers.csv").read_bytes() == (truth.folder / "flowers.csv").read_bytes()
    except OSError:
        return []
    if same:
        return []
    try:
        other = read_truth_run(sibling).name
    except EvaluationInputError:
        other = "unreadable world.yaml"
    return [f"source differs: the result was counted from {bag}, whose own truth {sibling} ({other}) has other "
            f"flowers than the truth given ({truth.name}): the result is probably that run's"]
