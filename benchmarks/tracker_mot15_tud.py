"""MOT15 TUD-Campus / TUD-Stadtmitte (shipped in motmetrics): our tracker on the boxes of the file it came from.

The tracker output file test.txt shipped with motmetrics has its ids stripped and is used as detections;
mars-track-mot's output must reach at least the IDF1 and MOTA of that file (both scored against gt.txt).
Also runs the Roboflow `trackers` ByteTrack on the same detections for reference.
Run: .venv/bin/python benchmarks/tracker_mot15_tud.py
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from tracker_evaluation import evaluate, load_mot_rows, mot_frames  # noqa: E402

import motmetrics  # noqa: E402

from mars_tracker.camera_tracker import CameraTracker  # noqa: E402
from mars_tracker.mot_format import read_mot_detections  # noqa: E402
from mars_tracker.mot_cli import load_tracker_config, track_mot  # noqa: E402

# Pedestrian settings (people turn and stop; a lost person is not where the robot's motion would put it).
PEDESTRIAN_CONFIG = Path(__file__).resolve().parents[1] / "config" / "tracker_mot_pedestrians.yaml"

DATA = Path(motmetrics.__file__).resolve().parent / "data"
FPS = 25.0  # both TUD sequences


def roboflow_bytetrack(path: Path) -> np.ndarray:
    """Rows (frame, id, x, y, w, h) of trackers.ByteTrackTracker on the same detections."""
    import supervision as sv
    from trackers import ByteTrackTracker

    dets = read_mot_detections(path)
    tracker = ByteTrackTracker(frame_rate=FPS)
    out = []
    slices = dets.frame_slices()
    for f in range(min(slices), max(slices) + 1):
        sl = slices.get(f, slice(0, 0))
        tlwh = dets.tlwh[sl]
        xyxy = np.concatenate([tlwh[:, 0:2], tlwh[:, 0:2] + tlwh[:, 2:4]], axis=1)
        res = tracker.update(sv.Detections(xyxy=xyxy, confidence=dets.scores[sl]))
        for box, tid in zip(res.xyxy, res.tracker_id):
            if tid >= 0:
                out.append([f, tid, box[0], box[1], box[2] - box[0], box[3] - box[1]])
    return np.asarray(out, dtype=np.float64).reshape(-1, 6)


def main() -> None:
    """Print the table."""
    print(f"{'sequence':16s} {'run':34s} {'MOTA':>7s} {'IDF1':>7s} {'HOTA':>7s} {'IDsw':>5s} {'Frag':>5s}")
    for name in ("TUD-Campus", "TUD-Stadtmitte"):
        gt = load_mot_rows(str(DATA / name / "gt.txt"))
        source = load_mot_rows(str(DATA / name / "test.txt"))
        runs = {"source file (test.txt)": source}
        dets = read_mot_detections(DATA / name / "test.txt")
        ped = load_tracker_config(PEDESTRIAN_CONFIG, {})
        runs["mars-track-mot (flower defaults)"] = track_mot(dets, CameraTracker(), FPS)
        runs["mars-track-mot --config ped"] = track_mot(dets, CameraTracker(ped), FPS)
        runs["  same, --no-backfill"] = track_mot(dets, CameraTracker(ped), FPS, backfill=False)
        runs["trackers ByteTrack"] = roboflow_bytetrack(DATA / name / "test.txt")
        for run, rows in runs.items():
            m = evaluate(mot_frames(gt, rows))
            print(f"{name:16s} {run:34s} {m['mota']:7.3f} {m['idf1']:7.3f} {m['hota']:7.3f} "
                  f"{int(m['num_switches']):5d} {int(m['num_fragmentations']):5d}")


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()
