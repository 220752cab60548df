"""mars-track-mot: run the tracker on MOTChallenge detections and write MOTChallenge tracks.

Lets the tracker be compared with other trackers on public sequences: boxes only (features optional, as an
.npy file row-aligned with the detection file), stamps from the frame number and --fps.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np
import yaml

from mars_core.cli_help import HelpFormatter, plain_description
from mars_core.detections import DetectionFrame, Detections
from mars_tracker.association_scorers import scorer_from_name
from mars_tracker.camera_tracker import CameraTracker
from mars_tracker.config import TrackerConfig
from mars_tracker.mot_format import MotDetections, read_mot_detections, write_mot_tracks

MOT_FEATURE_MODEL_ID = "mot-features"


def load_tracker_config(path: Optional[Path], overrides: Dict[str, object]) -> TrackerConfig:
    """TrackerConfig from a YAML file (the mapping itself or its 'tracker' section) plus overrides."""
    values: Dict[str, object] = {}
    if path is not None:
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except (OSError, yaml.YAMLError) as err:
            raise ValueError(f"cannot read tracker config {path}: {err}") from err
        if not isinstance(data, dict):
            raise ValueError(f"{path}: expected a mapping of tracker settings")
        section = data.get("tracker", data)
        if not isinstance(section, dict):
            raise ValueError(f"{path}: 'tracker' must be a mapping of settings")
        values.update(section)
    values.update(overrides)
    return TrackerConfig.from_dict(values, source=str(path) if path else "command line")


def track_mot(detections: MotDetections, tracker: CameraTracker, fps: float, features: Optional[np.ndarray] = None,
              boxes: str = "detection", backfill: bool = True, interpolate_gaps: int = 0) -> np.ndarray:
    """Track all frames; rows (M, 6) frame, id, x, y, w, h of confirmed tracks, sorted by frame then id.

    backfill: also write the frames a track had before it was confirmed (offline; the online count is the same).
    interpolate_gaps: fill gaps of up to this many frames of a track by linear interpolation (0 = off).
    """
    if fps <= 0:
        raise ValueError(f"--fps must be positive, got {fps}")
    rows: Dict[int, List[List[float]]] = {}
    confirmed: set = set()
    slices = detections.frame_slices()
    if not slices:
        return np.zeros((0, 6))
    for frame_number in range(min(slices), max(slices) + 1):
        sl = slices.get(frame_number, slice(0, 0))
        tlwh = detections.tlwh[sl]
        xyxy = np.concatenate([tlwh[:, 0:2], tlwh[:, 0:2] + tlwh[:, 2:4]], axis=1)
        feats = None
        if features is not None:
            feats = features[detections.source_rows[sl]]
        dets = Detections(xyxy, detections.scores[sl], np.zeros(xyxy.shape[0], np.int32), feats,
                          MOT_FEATURE_MODEL_ID if feats is not None else "")
        # Image size unknown in MOT files: 0 disables the out-of-image removal (boxes may leave the hull).
        frame = DetectionFrame("mot", int(round(frame_number * 1e9 / fps)), frame_number, 0, 0, dets)
        update = tracker.update(frame)
        tr = update.tracks
        seen = tr.detection_index >= 0
        for i in np.nonzero(seen)[0]:
            tid = int(tr.track_ids[i])
            if boxes == "detection":
                box = tlwh[tr.detection_index[i]]
            else:
                x, y, w, h = tr.xywh[i].astype(np.float64)
                box = np.array([x - w / 2, y - h / 2, w, h])
            if not backfill and not tr.confirmed[i]:
                continue
            rows.setdefault(tid, []).append([frame_number, tid, *box.tolist()])
            if tr.confirmed[i]:
                confirmed.add(tid)
    out: List[np.ndarray] = []
    for tid in sorted(confirmed):
        track = np.asarray(rows[tid], dtype=np.float64)
        if interpolate_gaps > 0:
            track = _interpolate(track, interpolate_gaps)
        out.append(track)
    if not out:
        return np.zeros((0, 6))
    result = np.concatenate(out)
    return result[np.lexsort((result[:, 1], result[:, 0]))]


def _interpolate(track: np.ndarray, max_gap: int) -> np.ndarray:
    """Linear interpolation of a track's boxes over gaps of at most max_gap frames."""
    frames = track[:, 0].astype(np.int64)
    pieces = [track]
    for a, b in zip(np.nonzero(np.diff(frames) > 1)[0], np.nonzero(np.diff(frames) > 1)[0] + 1):
        gap = frames[b] - frames[a] - 1
        if gap > max_gap:
            continue
        fill = np.arange(frames[a] + 1, frames[b])
        t = ((fill - frames[a]) / (frames[b] - frames[a]))[:, None]
        boxes = track[a, 2:6] * (1 - t) + track[b, 2:6] * t
        pieces.append(np.concatenate([fill[:, None], np.full((fill.size, 1), track[0, 1]), boxes], axis=1))
    merged = np.concatenate(pieces)
    return merged[np.argsort(merged[:, 0], kind="stable")]


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(prog="mars-track-mot", description=plain_description(__doc__),
                                     formatter_class=HelpFormatter)
    parser.add_argument("det_file", type=Path, help="MOTChallenge detections: frame,id,x,y,w,h,score,... (id ignored)")
    parser.add_argument("--out", type=Path, default=None, help="output MOTChallenge tracks (default: stdout)")
    parser.add_argument("--fps", type=float, default=30.0, help="frame rate of the sequence (stamps = frame / fps)")
    parser.add_argument("--features", type=Path, default=None,
                        help=".npy (N, D) appearance features, row i for the i-th data row of DET_FILE")
    parser.add_argument("--config", type=Path, default=None, help="YAML with tracker settings (or a 'tracker:' section)")
    parser.add_argument("--min-hits", type=int, default=None, help="override TrackerConfig.min_hits (default: the config's)")
    parser.add_argument("--scorer", default="hand_tuned", choices=["hand_tuned", "learned"],
                        help="association scorer (learned = the shipped ONNX model, needs features to help)")
    parser.add_argument("--boxes", default="detection", choices=["detection", "filtered"],
                        help="write the matched detection's box or the Kalman-filtered box")
    parser.add_argument("--no-backfill", action="store_true",
                        help="do not write the frames a track had before it was confirmed")
    parser.add_argument("--interpolate-gaps", type=int, default=0, metavar="N",
                        help="fill track gaps of up to N frames by linear interpolation")
    args = parser.parse_args(argv)
    try:
        overrides: Dict[str, object] = {}
        if args.min_hits is not None:
            overrides["min_hits"] = args.min_hits
        config = load_tracker_config(args.config, overrides)
        detections = read_mot_detections(args.det_file)
        features = None
        if args.features is not None:
            features = np.load(args.features).astype(np.float32)
            if features.ndim != 2 or features.shape[0] != detections.frames.size:
                raise ValueError(f"{args.features}: features must be ({detections.frames.size}, D) to match "
                                 f"{args.det_file}, got shape {features.shape}")
        scorer = scorer_from_name(args.scorer, config.appearance_weight, config.adaptive_appearance,
                                  config.appearance_gap_reference, config.appearance_scale_factor)
        tracker = CameraTracker(config, scorer=scorer)
        result = track_mot(detections, tracker, args.fps, features, args.boxes, not args.no_backfill,
                           args.interpolate_gaps)
    except (OSError, ValueError) as err:
        print(f"mars-track-mot: error: {err}", file=sys.stderr)
        return 2
    if args.out is None:
        write_mot_tracks(sys.stdout, result[:, 0], result[:, 1], result[:, 2:6])
    else:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        with args.out.open("w") as handle:
            write_mot_tracks(handle, result[:, 0], result[:, 1], result[:, 2:6])
        print(f"mars-track-mot: {int(np.unique(result[:, 1]).size)} tracks, {result.shape[0]} rows -> {args.out}",
              file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
