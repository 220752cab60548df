"""How well the detector's appearance features re-identify flowers between frames (held-out simulated world).

    .venv/bin/python benchmarks/camera_feature_reid.py [--pairs 60] [--gap 3]

Renders frame pairs (k, k + gap) of each camera of the 'field' preset with seed 1 (a world the default
model never saw), runs the detector, labels detections with the simulator's flower ids (IoU >= 0.5 with a
true box) and reports rank-1 re-identification: the share of flowers seen in both frames whose most similar
feature (cosine) in the second frame is the same flower, next to chance (1 / flowers in the second frame).
Sweeps the pooled region (feature_context) and bins (feature_pool_size); feature_dim 64 throughout.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import List, Tuple

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from mars_camera.detector_config import CameraDetectorConfig  # noqa: E402
from mars_camera.frame_detector import FrameDetector  # noqa: E402
from mars_camera.frame_sources.base import Frame  # noqa: E402
from mars_camera.yolo.nms import box_iou  # noqa: E402


def labelled(det: FrameDetector, image: np.ndarray, boxes_full: np.ndarray, ids: np.ndarray,
             scale: float) -> Tuple[np.ndarray, np.ndarray]:
    """(features, flower id or -1) of the detections of one rendered image."""
    d = det.detect(Frame(image, 0, 0)).frame.detections
    if len(d) == 0:
        return np.zeros((0, det.features.feature_dim if det.features else 0), np.float32), np.zeros(0, np.int64)
    truth = np.asarray(boxes_full, np.float32) * np.float32(scale)
    if len(truth) == 0:
        return d.features, np.full(len(d), -1)
    iou = box_iou(d.xyxy, truth)
    best = iou.argmax(axis=1)
    return d.features, np.where(iou.max(axis=1) >= 0.5, np.asarray(ids)[best], -1)


def main() -> None:
    """Render pairs, sweep the feature settings, print rank-1 re-identification."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=60)
    parser.add_argument("--gap", type=int, default=3, help="frames between the two views")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    from mars_sim.rendering import FrameRenderer
    from mars_sim.simulation import simulate
    result = simulate("field", seed=args.seed)
    renderer = FrameRenderer(result, scale=0.5)
    rng = np.random.default_rng(0)
    pairs = []
    cams = list(result.cameras)
    while len(pairs) < args.pairs:
        cam = cams[len(pairs) % len(cams)]
        k = int(rng.integers(0, len(result.cameras[cam].frames) - args.gap))
        a, b = renderer.render(cam, k), renderer.render(cam, k + args.gap)
        if len(set(a.flower_ids.tolist()) & set(b.flower_ids.tolist())) >= 2:
            pairs.append((a, b))
    settings = [(1.0, 1), (1.0, 3), (2.0, 3), (3.0, 3), (4.0, 2), (4.0, 3), (5.0, 3)]
    print(f"{len(pairs)} frame pairs {args.gap} frames apart, preset field seed {args.seed} (held-out world)")
    for context, pool in settings:
        cfg = CameraDetectorConfig(backend="onnx", feature_context=context, feature_pool_size=pool,
                                   feature_dim=64, feature_encoding="float32")
        det = FrameDetector(cfg)
        hits: List[bool] = []
        chance: List[float] = []
        for a, b in pairs:
            fa, ia = labelled(det, a.image, a.boxes_xyxy, a.flower_ids, a.scale)
            fb, ib = labelled(det, b.image, b.boxes_xyxy, b.flower_ids, b.scale)
            if len(fb) < 2:
                continue
            sim = fa @ fb.T
            for i, fid in enumerate(ia):
                if fid >= 0 and fid in ib:
                    hits.append(bool(ib[int(sim[i].argmax())] == fid))
                    chance.append(1.0 / len(fb))
        det.close()
        tag = " (default)" if (context, pool) == (CameraDetectorConfig().feature_context,
                                                  CameraDetectorConfig().feature_pool_size) else ""
        print(f"  context x{context:g}, {pool}x{pool} bins: rank-1 {np.mean(hits):.3f} over {len(hits)} flowers "
              f"(chance {np.mean(chance):.3f}){tag}")


if __name__ == "__main__":
    main()
