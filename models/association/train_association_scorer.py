"""Train the learned association scorer from simulated fields and export it to ONNX.

Candidate (track, detection) pairs of the first association stage are recorded while the hand-tuned tracker
runs on mars_sim streams (training seeds); a pair is positive when the track's flower (the true id of its last
matched detection) is the detection's flower. A gradient-boosting classifier on PAIR_FEATURE_NAMES is exported
with skl2onnx (dev-only dependency); the runtime needs only onnxruntime. Then the hand-tuned and learned scorers
are compared on held-out seeds and the figures printed (copy them into README.md).
Run: .venv/bin/python models/association/train_association_scorer.py [--preset quick] [--train-seeds 11,12,13,14]
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Dict, List, Optional, Sequence  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from mars_core.detections import DetectionFrame  # noqa: E402
from mars_core.geometry import CameraModel  # noqa: E402
from mars_tracker.ego_motion import MotionPrior  # noqa: E402
from mars_tracker.association import AssociationInputs, pair_features, PAIR_FEATURE_NAMES  # noqa: E402
from mars_tracker.association_scorers import HandTunedScorer, OnnxAssociationScorer  # noqa: E402
from mars_tracker.camera_tracker import CameraTracker  # noqa: E402
from mars_tracker.config import TrackerConfig  # noqa: E402

OUT = Path(__file__).resolve().parent / "association_scorer.onnx"
COST_THRESHOLD = 0.5   # match when P(same flower) >= 0.5


class RecordingScorer:
    """Hand-tuned scorer that also records the features of every allowed pair with the track ids."""

    name = "recording"
    cost_threshold: Optional[float] = None

    def __init__(self, config: TrackerConfig) -> None:
        self.inner = HandTunedScorer(config.appearance_weight, config.adaptive_appearance,
                                     config.appearance_gap_reference)
        self.pending: List[tuple] = []

    def cost(self, inputs: AssociationInputs) -> np.ndarray:
        rows, cols = np.nonzero(inputs.allowed)
        if rows.size:
            self.pending.append((inputs.track_ids[rows].copy(), cols.copy(), pair_features(inputs, rows, cols)))
        return self.inner.cost(inputs)


def collect(presets: List[str], seeds: List[int]) -> tuple:
    """Features (P, F) and labels (P,) from the streams of all cameras of the given presets and seeds."""
    from tracker_field_accuracy import sim_streams

    xs, ys = [], []
    for preset in presets:
        for seed in seeds:
            for frames, truth, priors, camera_model in sim_streams(preset, seed).values():
                _record(frames, truth, priors, camera_model, xs, ys)
    return np.concatenate(xs), np.concatenate(ys)


def _record(frames: Sequence[DetectionFrame], truth: Sequence[np.ndarray], priors: Sequence[MotionPrior],
            camera_model: CameraModel, xs: list, ys: list) -> None:
    """Run the hand-tuned tracker over one camera stream and append its labelled stage-1 pairs."""
    config = TrackerConfig()
    scorer = RecordingScorer(config)
    tracker = CameraTracker(config, scorer=scorer, camera_model=camera_model)
    track_truth: Dict[int, int] = {}
    for frame, ids, prior in zip(frames, truth, priors):
        scorer.pending.clear()
        update = tracker.update(frame, prior)
        high = np.nonzero(frame.detections.scores >= config.high_score_threshold)[0]
        for track_ids, cols, feats in scorer.pending[:1]:     # stage 1 only
            det_truth = ids[high[cols]]
            known = np.array([track_truth.get(int(t), -2) for t in track_ids])
            # Persistent false objects carry no id: a pair of two of them has no known label.
            keep = (known != -2) & ~((known == -1) & (det_truth == -1))
            xs.append(feats[keep])
            ys.append(((known[keep] == det_truth[keep]) & (det_truth[keep] >= 0)).astype(np.int64))
        tr = update.tracks
        for tid, di in zip(tr.track_ids, tr.detection_index):
            if di >= 0:
                track_truth[int(tid)] = int(ids[di])
        for tid in update.removed.track_ids:
            track_truth.pop(int(tid), None)


def main() -> None:
    """Train, export, compare."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", default="quick,hard")
    parser.add_argument("--train-seeds", default="11,12")
    parser.add_argument("--test-seeds", default="1,2")
    args = parser.parse_args()
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from skl2onnx import to_onnx

    presets = args.presets.split(",")
    x, y = collect(presets, [int(s) for s in args.train_seeds.split(",")])
    print(f"pairs {len(y)}, positives {int(y.sum())}")
    # Logistic regression on standardised features: tiny, calibrated, and converted reliably by skl2onnx
    # (the tree-ensemble converter of skl2onnx 1.20 fails with onnx 1.23 here).
    classifier = LogisticRegression(C=1.0, class_weight="balanced", max_iter=2000)
    model = make_pipeline(StandardScaler(), classifier)
    model.fit(x, y)
    onx = to_onnx(model, x[:1].astype(np.float32), options={id(classifier): {"zipmap": False}}, target_opset=17)
    for key, value in (("mars.pair_features", json.dumps(list(PAIR_FEATURE_NAMES))),
                       ("mars.cost_threshold", str(COST_THRESHOLD)),
                       ("mars.trained_on", f"mars_sim presets {args.presets} seeds {args.train_seeds}")):
        prop = onx.metadata_props.add()
        prop.key, prop.value = key, value
    OUT.write_bytes(onx.SerializeToString())
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")

    from tracker_evaluation import evaluate
    from tracker_field_accuracy import run_ours, sim_streams, true_count

    learned = OnnxAssociationScorer(OUT)
    print(f"held-out seeds {args.test_seeds} (all cameras, odometry prior): |count err| %, IDF1, HOTA, ID switches")
    for preset in presets:
        totals: Dict[str, list] = {"hand_tuned": [], "learned": []}
        for seed in (int(s) for s in args.test_seeds.split(",")):
            for stream in sim_streams(preset, seed).values():
                n = true_count(stream[1], stream[0])
                for name, scorer in (("hand_tuned", None), ("learned", learned)):
                    seq, count = run_ours(stream, scorer)
                    m = evaluate(seq)
                    totals[name].append([100 * abs(count - n) / max(n, 1), m["idf1"], m["hota"], m["num_switches"]])
        for name, rows in totals.items():
            a = np.asarray(rows)
            print(f"  {preset:6s} {name:10s} {a[:, 0].mean():6.2f} {a[:, 1].mean():6.3f} {a[:, 2].mean():6.3f} "
                  f"{a[:, 3].sum():6.0f}", flush=True)


if __name__ == "__main__":
    main()
