"""The gated sparse association of crowded frames: same matches as the dense path, and bounded memory at 100k."""
from __future__ import annotations

import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path
from typing import List

import numpy as np
import pytest

from mars_core.detections import DetectionFrame, Detections
from mars_tracker.association import FORBIDDEN_COST, assign
from mars_tracker.association_scorers import DEFAULT_MODEL_PATH, OnnxAssociationScorer
from mars_tracker.camera_tracker import CameraTracker
from mars_tracker.config import TrackerConfig
from mars_tracker.sparse_association import assign_pairs, pairs_within
from mars_sim.synthetic_stream import FieldStreamSpec, crowded_mot_detections, field_stream

REPO = Path(__file__).resolve().parents[2]


def _with_classes(frame: DetectionFrame, rng: np.random.Generator) -> DetectionFrame:
    """The frame with each detection given one of two classes at random."""
    det = frame.detections
    classes = rng.integers(0, 2, len(det)).astype(np.int32)
    return replace(frame, detections=Detections(det.xyxy, det.scores, classes, det.features, det.feature_model_id))


def _matches(tracker: CameraTracker, frames: List[DetectionFrame]) -> List[List[int]]:
    """Per frame, the track id given to each detection (-1 for none)."""
    out = []
    for f in frames:
        tr = tracker.update(f).tracks
        ids = [-1] * len(f.detections)
        for tid, di in zip(tr.track_ids, tr.detection_index):
            if di >= 0:
                ids[int(di)] = int(tid)
        out.append(ids)
    return out


def _crowd(seed: int, n_frames: int = 60, classes: bool = False) -> List[DetectionFrame]:
    """A moderate random scene: a few hundred look-alike flowers with features, misses, occlusions, FPs."""
    spec = FieldStreamSpec(density=0.15, look_alike=0.85, occlusion_probability=0.05, false_positives_per_frame=3)
    rng = np.random.default_rng(seed)
    frames = [f for f, _ in field_stream(spec, seed, n_frames)]
    return [_with_classes(f, rng) for f in frames] if classes else frames


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_sparse_path_gives_the_dense_matches_on_random_scenes(seed: int) -> None:
    frames = _crowd(seed, classes=seed == 3)
    assert max(len(f.detections) for f in frames) > 100
    dense = _matches(CameraTracker(TrackerConfig()), frames)
    sparse = _matches(CameraTracker(TrackerConfig(), dense_pair_limit=0), frames)
    assert sum(i >= 0 for ids in dense for i in ids) > 1000   # real work: many matches, both stages
    assert sparse == dense


def test_sparse_path_gives_the_dense_matches_without_features_and_across_classes() -> None:
    frames = [replace(f, detections=replace(f.detections, features=None, feature_model_id=""))
              for f in _crowd(4, 40, classes=True)]
    config = TrackerConfig(match_across_classes=True)
    assert _matches(CameraTracker(config, dense_pair_limit=0), frames) == _matches(CameraTracker(config), frames)


@pytest.mark.skipif(not DEFAULT_MODEL_PATH.is_file(), reason="learned model not trained yet")
def test_sparse_path_gives_the_dense_matches_with_the_learned_scorer() -> None:
    frames = _crowd(5, 40)
    dense = _matches(CameraTracker(TrackerConfig(), scorer=OnnxAssociationScorer()), frames)
    sparse = _matches(CameraTracker(TrackerConfig(), scorer=OnnxAssociationScorer(), dense_pair_limit=0), frames)
    assert sparse == dense


@pytest.mark.parametrize("seed", range(6))
def test_sparse_assignment_equals_the_dense_one(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n_rows, n_cols = rng.integers(1, 40, 2)
    cost = rng.uniform(0.0, 1.0, (n_rows, n_cols))
    cost[rng.random(cost.shape) < 0.7] = FORBIDDEN_COST
    limit = 0.6
    rows, cols = assign(cost, limit)
    pr, pc = np.nonzero(cost < FORBIDDEN_COST)
    chosen = assign_pairs(pr, pc, cost[pr, pc], limit)
    assert sorted(zip(pr[chosen].tolist(), pc[chosen].tolist())) == sorted(zip(rows.tolist(), cols.tolist()))


def test_candidate_pairs_are_exactly_those_within_each_radius() -> None:
    rng = np.random.default_rng(0)
    a = rng.uniform(0, 100, (300, 2))
    b = rng.uniform(0, 100, (200, 2))
    radii = rng.uniform(0.5, 12.0, 300)
    radii[:3] = 80.0                       # a few very uncertain tracks
    rows, cols = pairs_within(a, radii, b)
    distance = np.linalg.norm(a[:, None, :] - b[None, :, :], axis=2)
    want = set(zip(*np.nonzero(distance <= radii[:, None])))
    assert set(zip(rows.tolist(), cols.tolist())) == want and rows.size == len(want)


@pytest.mark.slow
def test_100k_detections_per_frame_track_under_a_memory_limit(tmp_path: Path) -> None:
    # Dense T x D matrices of two 100k frames would need tens of GiB; the gated path stays far below 3 GiB of
    # address space (the limit makes a dense allocation fail with MemoryError).
    det = tmp_path / "det.txt"
    np.savetxt(det, crowded_mot_detections(100_000, 2, seed=7), delimiter=",", fmt="%.2f")
    script = textwrap.dedent(f"""
        import resource, sys
        resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))
        from mars_tracker.mot_cli import main
        sys.exit(main([{str(det)!r}, "--out", {str(tmp_path / 'tracks.txt')!r}]))
    """)
    env = {"PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    rows = np.loadtxt(tmp_path / "tracks.txt", delimiter=",")
    assert rows.shape[0] > 60_000             # tens of thousands of tracks matched in both frames
