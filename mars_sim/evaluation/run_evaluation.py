"""Score a pipeline result folder against a simulator truth folder (count, map, tracking per camera).

Result folder: ``flowers.csv`` (header with x,y in the map frame and/or lat,lon; one row per counted
flower) and optionally ``tracks/<camera>.txt`` (MOTChallenge, frame = frame_number + 1). Truth folder:
as written by mars_sim.truth_files. Only flowers the cameras saw (``observed`` = 1) count as true.
"""
from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any, Collection, Dict, List, Mapping, Optional, Tuple, Union

import numpy as np

from mars_core.geometry.map_frame import MapFrame
from mars_sim.evaluation.count_metrics import count_scores
from mars_sim.evaluation.map_metrics import map_scores
from mars_sim.evaluation.mot_files import read_mot
from mars_sim.evaluation.run_facts import (DATUM_TOLERANCE_M, EvaluationInputError, ForeignResultError, ResultRun,
                                           TruthRun, check_cameras, check_datum, check_place, check_source,
                                           check_time_span, check_tracks, datum_offset_m, read_result_run,
                                           read_truth_run)
from mars_sim.evaluation.tracking_metrics import tracking_scores

__all__ = ["AUTO_RADIUS_SIGMAS", "DEFAULT_MATCH_RADIUS_M", "EvaluationInputError", "ForeignResultError",
           "evaluate_mot_files", "evaluate_run", "json_ready", "match_radius", "read_flower_csv", "render_table"]

DEFAULT_MATCH_RADIUS_M = 0.15
# --radius auto: k x the median horizontal sd (per axis) the result's fixes reported. 2.45 = sqrt(-2 ln 0.05) is
# the radius of the circle that holds 95 % of a 2-D Gaussian error with that sd per axis, so a flower mapped
# within its GNSS error still matches; the default radius stays the floor (flower size plus RTK-fixed error).
AUTO_RADIUS_SIGMAS = 2.45
# A result's x,y are in the truth's frame when they agree with its own lat,lon projected into it this closely
# (lat,lon with 9 decimals carry 0.1 mm; an ENU frame turned by the grid convergence differs by 5 mm 0.2 m from
# its origin, a UTM frame at another datum by the datum offset).
FRAME_AGREEMENT_M = 0.005


def read_flower_csv(path: Path) -> Dict[str, np.ndarray]:
    """Columns of a flowers.csv as float arrays by header name."""
    if not path.is_file():
        raise EvaluationInputError(f"{path} does not exist")
    with open(path, newline="") as fh:
        reader = csv.reader(fh)
        try:
            header = [h.strip() for h in next(reader)]
        except StopIteration:
            raise EvaluationInputError(f"{path} is empty (a header line is required)") from None
        rows = []
        for lineno, row in enumerate(reader, 2):
            if not row or all(not c.strip() for c in row):
                continue
            if len(row) != len(header):
                raise EvaluationInputError(f"{path}:{lineno}: {len(row)} values but {len(header)} header columns")
            rows.append((lineno, row))
    # Text columns (cameras, plot ids) are carried by richer result files; only numeric columns are used.
    columns: Dict[str, np.ndarray] = {}
    for i, name in enumerate(header):
        try:
            columns[name] = np.array([float(r[i]) if r[i].strip() != "" else math.nan for _, r in rows], dtype=float)
        except ValueError:
            if name in NUMERIC_COLUMNS:
                bad = next((ln, r[i]) for ln, r in rows if not _is_number(r[i]))
                raise EvaluationInputError(f"{path}:{bad[0]}: column '{name}' has non-numeric value {bad[1]!r}") \
                    from None
            continue
        if name in NUMERIC_COLUMNS and np.isinf(columns[name]).any():  # blank or nan: missing; inf: broken
            bad = next((ln, r[i]) for ln, r in rows if math.isinf(float(r[i] or "nan")))
            raise EvaluationInputError(f"{path}:{bad[0]}: column '{name}' has non-finite value {bad[1]!r}")
    return columns


NUMERIC_COLUMNS = ("id", "x", "y", "z", "lat", "lon", "alt")


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return text.strip() == ""


def place_result(columns: Dict[str, np.ndarray], truth: TruthRun, result: ResultRun, path: Path
                 ) -> Tuple[np.ndarray, str]:
    """Result flowers in the truth's map frame, and how they got there. x,y are used only where their frame is
    shown to be the truth's (the result's datum and projection, or its own lat,lon, agree); otherwise lat,lon
    projected with the truth's datum, or x,y converted from the result's stated frame; x,y of unknown frame
    without lat,lon are taken as they are, and the reason says so."""
    def finite(*names: str) -> bool:
        return all(n in columns for n in names) and bool(np.isfinite(np.column_stack([columns[n] for n in names])).all())

    n_rows = max((v.size for v in columns.values()), default=0)
    if n_rows == 0 and ({"x", "y"} <= set(columns) or {"lat", "lon"} <= set(columns)):
        return np.zeros((0, 2)), "no flowers in the result"
    has_xy, has_ll = finite("x", "y"), finite("lat", "lon")
    xy = np.column_stack([columns["x"], columns["y"]]) if "x" in columns and "y" in columns else None
    if truth.datum is None:
        if xy is None:
            raise EvaluationInputError(f"{path} has no x,y columns and the truth folder has no world.yaml datum to "
                                       "place its lat,lon")
        return xy, "the result's x,y as they are (the truth has no world.yaml datum to check their frame)"
    ll_xy = None
    if has_ll:
        x, y, _ = truth.datum.map_from_geodetic(columns["lat"], columns["lon"])
        ll_xy = np.column_stack([x, y])
    from_ll = "from the result's lat,lon, projected with the truth's datum (UTM)"
    if has_xy and xy is not None:
        if result.datum is not None and result.projection is not None:
            if datum_offset_m(truth, result.datum) <= DATUM_TOLERANCE_M and result.projection == "utm":
                return xy, "the result's x,y (its map frame is the truth's: same datum, UTM)"
            stated = f"its '{result.projection}' frame at {result.datum[0]:.7f}, {result.datum[1]:.7f}"
            if ll_xy is not None:
                return ll_xy, f"{from_ll}; its x,y are in {stated}"
            frame = MapFrame(*result.datum, projection=result.projection)
            z = columns["z"] if finite("z") else np.zeros(xy.shape[0])
            lat, lon, _ = frame.geodetic_from_map(xy[:, 0], xy[:, 1], z)
            x, y, _ = truth.datum.map_from_geodetic(lat, lon)
            return np.column_stack([x, y]), f"the result's x,y converted from {stated} to the truth's frame"
        if ll_xy is not None:
            deviation = float(np.max(np.linalg.norm(xy - ll_xy, axis=1))) if xy.shape[0] else 0.0
            if deviation <= FRAME_AGREEMENT_M:
                return xy, (f"the result's x,y (they agree with its lat,lon in the truth's frame within "
                            f"{1000 * FRAME_AGREEMENT_M:g} mm)")
            return ll_xy, f"{from_ll}; its x,y differ from them by up to {deviation:.3f} m: another map frame"
        if result.datum is not None and datum_offset_m(truth, result.datum) > DATUM_TOLERANCE_M:
            raise EvaluationInputError(f"{path}: the flowers' x,y are in a map frame at another datum "
                                       f"({result.datum[0]:.7f}, {result.datum[1]:.7f}) of unknown projection and "
                                       "not every flower has lat,lon: they cannot be placed in the truth's frame")
        return xy, ("the result's x,y taken as the truth's map frame, unchecked: not every flower has lat,lon and "
                    "the result states no map projection (map_state.npz)")
    if ll_xy is not None:
        return ll_xy, from_ll
    if xy is not None or ("lat" in columns and "lon" in columns):
        names = "x,y" if xy is not None else "lat,lon"
        bad = int(np.sum(~np.isfinite(xy if xy is not None else np.column_stack([columns["lat"], columns["lon"]]))
                         .all(1)))
        raise EvaluationInputError(f"{path}: {bad} flowers have no finite position ({names})")
    raise EvaluationInputError(f"{path} needs columns x,y (map frame) or lat,lon; it has {sorted(columns)}")


def match_radius(radius: Union[float, str], result: ResultRun) -> Tuple[float, str]:
    """The map-matching radius (m) and why: a number as given, or 'auto' = AUTO_RADIUS_SIGMAS x the result's
    median reported GNSS sd, at least DEFAULT_MATCH_RADIUS_M."""
    if radius != "auto":
        value = float(radius)
        if not (math.isfinite(value) and value > 0):
            raise EvaluationInputError(f"the matching radius must be a positive number of metres or 'auto', "
                                       f"got {radius!r}")
        return value, "as given" if value != DEFAULT_MATCH_RADIUS_M else "the default"
    sd = result.reported_sd_m
    if sd is None:
        raise EvaluationInputError(f"--radius auto needs the GNSS sd the result's fixes reported "
                                   f"(gnss.median_reported_sd_m in {result.folder / 'summary.json'}, written by "
                                   "mars-count); give a radius in metres instead")
    if sd <= 0:
        return DEFAULT_MATCH_RADIUS_M, f"auto: the result reports no GNSS sd (no accepted fix): the default " \
                                       f"{DEFAULT_MATCH_RADIUS_M} m"
    quality = (result.summary.get("gnss") or {}).get("quality_name", "GNSS")
    scaled = AUTO_RADIUS_SIGMAS * sd
    why = (f"auto: {AUTO_RADIUS_SIGMAS:g} x the median reported GNSS sd {sd:.3f} m ({quality}) = {scaled:.3f} m, "
           f"the 95 % circle of the GNSS error")
    if scaled < DEFAULT_MATCH_RADIUS_M:
        return DEFAULT_MATCH_RADIUS_M, why + f", below the floor: the default {DEFAULT_MATCH_RADIUS_M} m"
    return round(scaled, 4), why


def evaluate_run(truth_dir: Union[str, Path], result_dir: Union[str, Path],
                 radius_m: Union[float, str] = DEFAULT_MATCH_RADIUS_M,
                 tracked_frames: Optional[Mapping[str, Collection[int]]] = None) -> Dict[str, Any]:
    """The scores as a dict with top-level keys count, map, tracking, checks (warnings: how the result and the
    truth differ). radius_m: metres or 'auto'. tracked_frames: per camera, the MOTChallenge frames the tracker
    was given (e.g. those with an image): tracking is scored on these only (all frames when None or for a
    camera not named). ForeignResultError when the result cannot be the truth's run."""
    truth_dir, result_dir = Path(truth_dir), Path(result_dir)
    if not truth_dir.is_dir():
        raise EvaluationInputError(f"truth folder {truth_dir} does not exist (give mars-sim's OUT/truth)")
    if not result_dir.is_dir():
        raise EvaluationInputError(f"result folder {result_dir} does not exist (give mars-count's --out folder)")
    truth = read_flower_csv(truth_dir / "flowers.csv")
    for key in ("x", "y"):
        if key not in truth:
            raise EvaluationInputError(f"{truth_dir / 'flowers.csv'} lacks column '{key}'")
    keep = truth["observed"] > 0 if "observed" in truth else np.ones(truth["x"].size, bool)
    field_xy = np.column_stack([truth["x"], truth["y"]])
    if not np.isfinite(field_xy).all():
        raise EvaluationInputError(f"{truth_dir / 'flowers.csv'}: {int(np.sum(~np.isfinite(field_xy).all(1)))} true "
                                   f"flowers have no finite x,y")
    true_xy = field_xy[keep]
    truth_run = read_truth_run(truth_dir)
    result_path = result_dir / "flowers.csv"
    pred = read_flower_csv(result_path)
    result_run = read_result_run(result_dir, pred)
    pred_xy, placed = place_result(pred, truth_run, result_run, result_path)
    if not np.all(np.isfinite(pred_xy)):
        raise EvaluationInputError(f"{result_path}: {int(np.sum(~np.isfinite(pred_xy).all(1)))} flowers have no "
                                   "finite position")
    radius, radius_why = match_radius(radius_m, result_run)
    checks = list(result_run.problems)
    checks += check_time_span(truth_run, result_run)
    checks += check_place(field_xy, pred_xy, truth_run)
    checks += check_cameras(truth_run, result_run) + check_datum(truth_run, result_run)
    checks += check_source(truth_run, result_run)
    count = count_scores(pred_xy.shape[0], true_xy.shape[0])
    count["true_in_field"] = int(truth["x"].size)
    tracking: Dict[str, Any] = {}
    mot_dir = truth_dir / "mot"
    tracks_dir = result_dir / "tracks"
    if mot_dir.is_dir() and tracks_dir.is_dir():
        rig_order = {name: k for k, name in enumerate(truth_run.cameras)}  # the rig's order, then by name
        for cam_dir in sorted((p for p in mot_dir.iterdir() if p.is_dir()),
                              key=lambda p: (rig_order.get(p.name, len(rig_order)), p.name)):
            tracks = tracks_dir / f"{cam_dir.name}.txt"
            if not tracks.is_file():
                tracking[cam_dir.name] = {"missing": str(tracks)}
                continue
            gt, tracked = read_mot(cam_dir / "gt.txt", is_ground_truth=True), read_mot(tracks)
            frames = (tracked_frames or {}).get(cam_dir.name)
            if frames is not None:
                scored = np.asarray(sorted(frames), dtype=np.int64)
                gt, tracked = gt.select(np.isin(gt.frame, scored)), tracked.select(np.isin(tracked.frame, scored))
            tracking[cam_dir.name] = tracking_scores(gt, tracked)
    checks += check_tracks(tracking)
    per_camera = camera_count_scores(mot_dir, result_dir)
    scores: Dict[str, Any] = dict(map_scores(true_xy, pred_xy, radius), radius_reason=radius_why, positions=placed)
    out = {"count": count, "map": scores, "tracking": tracking, "checks": checks}
    if per_camera:
        out["count_per_camera"] = per_camera
    return out


# A camera can count a flower it detected at least this often (the tracker's default min_hits).
COUNTABLE_DETECTIONS = 2
# A flower seen again by a camera after this long is a new visit (a second pass, or the return along the next
# row): one camera cannot know it is the same flower, telling that is the fusion's job.
NEW_VISIT_GAP_S = 5.0


def countable_visits(frames: np.ndarray, ids: np.ndarray, frame_rate_hz: float) -> int:
    """Visits (runs of one flower's detections without a gap over NEW_VISIT_GAP_S) detected often enough."""
    keep = ids >= 0
    frames, ids = frames[keep], ids[keep]
    if frames.size == 0:
        return 0
    order = np.lexsort((frames, ids))
    frames, ids = frames[order], ids[order]
    new_visit = np.ones(frames.size, bool)
    new_visit[1:] = (ids[1:] != ids[:-1]) | (np.diff(frames) > NEW_VISIT_GAP_S * frame_rate_hz)
    sizes = np.diff(np.append(np.nonzero(new_visit)[0], frames.size))
    return int((sizes >= COUNTABLE_DETECTIONS).sum())


def _frame_rate(seqinfo: Path) -> float:
    """frameRate of a MOTChallenge seqinfo.ini (30 when absent)."""
    import configparser

    parser = configparser.ConfigParser()
    try:
        parser.read(seqinfo)
        return float(parser["Sequence"]["frameRate"])
    except (KeyError, ValueError, configparser.Error):
        return 30.0


def camera_count_scores(mot_dir: Path, result_dir: Path) -> Dict[str, Dict[str, float]]:
    """Per camera: its confirmed tracks (summary.json per_camera) against the flower visits it detected at least
    COUNTABLE_DETECTIONS times at any score (det_truth.txt): what one camera's tracker can count at all, whatever
    the detector's score scale. Empty when either side is missing."""
    import json

    summary_path = result_dir / "summary.json"
    if not summary_path.is_file() or not mot_dir.is_dir():
        return {}
    try:
        per_camera = json.loads(summary_path.read_text()).get("per_camera") or {}
    except (OSError, ValueError):
        return {}
    scores: Dict[str, Dict[str, float]] = {}
    for name, predicted in per_camera.items():
        det_path = mot_dir / name / "det_truth.txt"
        if not det_path.is_file():
            continue
        rows = np.loadtxt(det_path, delimiter=",", ndmin=2) if det_path.stat().st_size else np.zeros((0, 2))
        scores[name] = count_scores(int(predicted), countable_visits(rows[:, 0].astype(np.int64),
                                                                     rows[:, 1].astype(np.int64),
                                                                     _frame_rate(mot_dir / name / "seqinfo.ini")))
    return scores


def evaluate_mot_files(gt_path: Union[str, Path], tracks_path: Union[str, Path]) -> Dict[str, Any]:
    """Tracking scores of an external MOTChallenge pair (gt.txt + tracker output)."""
    return tracking_scores(read_mot(gt_path, is_ground_truth=True), read_mot(tracks_path))


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.4f}"
    return str(value)


def _pct(value: float) -> str:
    return "nan %" if math.isnan(value) else f"{value:.2f} %"


def render_table(scores: Dict[str, Any]) -> str:
    """A plain-text report of evaluate_run's scores."""
    lines: List[str] = []
    c = scores.get("count")
    if c:
        lines.append(f"count     predicted {c['predicted']}  true {c['true']}  error {c['error']:+d} "
                     f"({c['error_pct']:+.2f} %)")
    for name, pc in (scores.get("count_per_camera") or {}).items():
        lines.append(f"  {name:<8} tracks {pc['predicted']}  detected flower visits {pc['true']}  error {pc['error']:+d} "
                     f"({pc['error_pct']:+.2f} %)")
    m = scores.get("map")
    if m:
        lines.append(f"radius    {m['radius_m']:g} m ({m['radius_reason']})")
        lines.append(f"positions {m['positions']}")
        lines.append(f"map       precision {_fmt(m['precision'])}  recall {_fmt(m['recall'])}  F1 {_fmt(m['f1'])}  "
                     f"loc error median {_fmt(m['loc_error_median_m'])} m  p90 {_fmt(m['loc_error_p90_m'])} m")
        lines.append(f"duplicates {m['duplicated_true']} true flowers ({_pct(m['duplicated_true_pct'])}) have more "
                     f"than one map flower within the radius; {m['duplicates']} surplus map flowers")
    tracking = scores.get("tracking") or {}
    if tracking:
        lines.append(f"{'tracking':14s}{'HOTA':>8s}{'MOTA':>8s}{'IDF1':>8s}{'IDSW':>6s}{'FP':>7s}{'FN':>7s}")
        for cam, t in tracking.items():
            if "missing" in t:
                lines.append(f"  {cam:12s}  no tracks file {t['missing']}")
                continue
            lines.append(f"  {cam:12s}{t['HOTA']:8.4f}{t['MOTA']:8.4f}{t['IDF1']:8.4f}{t['IDSW']:6d}{t['FP']:7d}"
                         f"{t['FN']:7d}")
    return "\n".join(lines)


def json_ready(value: Any) -> Any:
    """Scores with NaN turned into None (strict JSON)."""
    if isinstance(value, dict):
        return {k: json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    if isinstance(value, (float, np.floating)):
        return None if math.isnan(float(value)) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    return value
