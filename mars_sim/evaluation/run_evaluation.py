"""Score a pipeline result folder against a simulator truth folder (count, map, tracking per camera).

Result folder: ``flowers.csv`` (header with x,y in the map frame and/or lat,lon; one row per counted
flower) and optionally ``tracks/<camera>.txt`` (MOTChallenge, frame = frame_number + 1). Truth folder:
as written by mars_sim.truth_files. Only flowers the cameras saw (``observed`` = 1) count as true.
"""
from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any, Dict, List, Optional, Union

import numpy as np
import yaml

from mars_sim.evaluation.count_metrics import count_scores
from mars_sim.evaluation.map_metrics import map_scores
from mars_sim.evaluation.mot_files import read_mot
from mars_sim.evaluation.tracking_metrics import tracking_scores
from mars_sim.geodesy import MapDatum

DEFAULT_MATCH_RADIUS_M = 0.15


class EvaluationInputError(ValueError):
    """A truth or result file is missing or malformed; the message names it."""


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
    return columns


NUMERIC_COLUMNS = ("id", "x", "y", "z", "lat", "lon", "alt")


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return text.strip() == ""


def load_datum(truth_dir: Path) -> Optional[MapDatum]:
    """The map datum recorded in truth/world.yaml (None when absent)."""
    path = truth_dir / "world.yaml"
    if not path.is_file():
        return None
    datum = (yaml.safe_load(path.read_text()) or {}).get("datum")
    if not datum:
        return None
    return MapDatum(float(datum["latitude"]), float(datum["longitude"]), float(datum.get("altitude", 0.0)))


def result_xy(columns: Dict[str, np.ndarray], datum: Optional[MapDatum], path: Path) -> np.ndarray:
    """Map x,y of result flowers: the x,y columns (in the truth's map frame), or lat,lon converted with the
    truth datum when the result has no x,y."""
    if "x" in columns and "y" in columns:
        return np.column_stack([columns["x"], columns["y"]])
    if "lat" in columns and "lon" in columns:
        if datum is None:
            raise EvaluationInputError(f"{path} has only lat,lon and the truth folder has no world.yaml datum")
        x, y, _ = datum.map_from_geodetic(columns["lat"], columns["lon"])
        return np.column_stack([x, y])
    raise EvaluationInputError(f"{path} needs columns x,y (map frame) or lat,lon; it has {sorted(columns)}")


def evaluate_run(truth_dir: Union[str, Path], result_dir: Union[str, Path],
                 radius_m: float = DEFAULT_MATCH_RADIUS_M) -> Dict[str, Any]:
    """The scores as a dict with top-level keys count, map, tracking."""
    truth_dir, result_dir = Path(truth_dir), Path(result_dir)
    truth = read_flower_csv(truth_dir / "flowers.csv")
    for key in ("x", "y"):
        if key not in truth:
            raise EvaluationInputError(f"{truth_dir / 'flowers.csv'} lacks column '{key}'")
    keep = truth["observed"] > 0 if "observed" in truth else np.ones(truth["x"].size, bool)
    true_xy = np.column_stack([truth["x"], truth["y"]])[keep]
    result_path = result_dir / "flowers.csv"
    pred = read_flower_csv(result_path)
    pred_xy = result_xy(pred, load_datum(truth_dir), result_path)
    if not np.all(np.isfinite(pred_xy)):
        raise EvaluationInputError(f"{result_path}: {int(np.sum(~np.isfinite(pred_xy).all(1)))} flowers have no "
                                   "finite position")
    count = count_scores(pred_xy.shape[0], true_xy.shape[0])
    count["true_in_field"] = int(truth["x"].size)
    tracking: Dict[str, Any] = {}
    mot_dir = truth_dir / "mot"
    tracks_dir = result_dir / "tracks"
    if mot_dir.is_dir() and tracks_dir.is_dir():
        for cam_dir in sorted(p for p in mot_dir.iterdir() if p.is_dir()):
            tracks = tracks_dir / f"{cam_dir.name}.txt"
            if not tracks.is_file():
                tracking[cam_dir.name] = {"missing": str(tracks)}
                continue
            tracking[cam_dir.name] = tracking_scores(read_mot(cam_dir / "gt.txt", is_ground_truth=True),
                                                     read_mot(tracks))
    return {"count": count, "map": map_scores(true_xy, pred_xy, radius_m), "tracking": tracking}


def evaluate_mot_files(gt_path: Union[str, Path], tracks_path: Union[str, Path]) -> Dict[str, Any]:
    """Tracking scores of an external MOTChallenge pair (gt.txt + tracker output)."""
    return tracking_scores(read_mot(gt_path, is_ground_truth=True), read_mot(tracks_path))


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.4f}"
    return str(value)


def render_table(scores: Dict[str, Any]) -> str:
    """A plain-text report of evaluate_run's scores."""
    lines: List[str] = []
    c = scores.get("count")
    if c:
        lines.append(f"count     predicted {c['predicted']}  true {c['true']}  error {c['error']:+d} "
                     f"({c['error_pct']:+.2f} %)")
    m = scores.get("map")
    if m:
        lines.append(f"map       precision {_fmt(m['precision'])}  recall {_fmt(m['recall'])}  F1 {_fmt(m['f1'])}  "
                     f"loc error median {_fmt(m['loc_error_median_m'])} m  p90 {_fmt(m['loc_error_p90_m'])} m  "
                     f"duplicates {m['duplicates']}  (radius {m['radius_m']} m)")
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
