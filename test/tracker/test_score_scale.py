"""The tracker learns each camera's detector score scale: a detector with another calibration counts alike,
the reference detector's scores are left untouched."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from mars_sim.synthetic_stream import FieldStreamSpec, field_stream
from mars_tracker.camera_tracker import CameraTracker
from mars_tracker.config import TrackerConfig
from mars_tracker.score_scale import DEAD_BAND_LOGIT, MIN_SAMPLES, ScoreScale


def _logit(p):
    return np.log(p / (1 - p))


def test_reference_scores_stay_bit_for_bit():
    scale = ScoreScale(0.8)
    scale.observe(np.random.default_rng(1).beta(8.0, 2.0, 400) * 0.98)   # the reference detector's flowers
    assert abs(scale.typical_score - 0.8) < 0.05 and scale.shift_logit == 0.0
    scores = np.random.default_rng(2).random(50).astype(np.float32)
    assert scale.calibrate(scores) is scores


def test_a_lower_detector_is_shifted_onto_the_reference_scale():
    scale = ScoreScale(0.8)
    scale.observe(np.full(MIN_SAMPLES - 1, 0.55))
    assert scale.shift_logit == 0.0                     # too few samples yet: the scale does not move
    scale.observe(np.full(2, 0.55))
    assert scale.shift_logit == pytest.approx(_logit(0.8) - _logit(0.55))
    raw = np.array([0.1, 0.3, 0.55, 0.6, 0.9], np.float32)
    cal = scale.calibrate(raw)
    assert cal.dtype == np.float32 and cal[2] == pytest.approx(0.8, abs=1e-6)
    assert np.all(np.diff(cal) > 0) and np.all(cal > raw)   # monotone: the detector's ranking is kept
    # Within the dead band the scale stays the identity.
    near = ScoreScale(0.8)
    near.observe(np.full(100, 1 / (1 + np.exp(-(_logit(0.8) - 0.9 * DEAD_BAND_LOGIT)))))
    assert near.shift_logit == 0.0
    # A live parameter change keeps what was learned: off, then on again, then another reference.
    scale.reconfigure(0.8, enabled=False)
    assert scale.shift_logit == 0.0
    scale.reconfigure(0.8, enabled=True)
    assert scale.shift_logit == pytest.approx(_logit(0.8) - _logit(0.55))
    scale.reconfigure(0.7, enabled=True)
    assert scale.shift_logit == pytest.approx(_logit(0.7) - _logit(0.55))
    off = ScoreScale(0.8, enabled=False)
    off.observe(np.full(100, 0.3))
    assert off.shift_logit == 0.0 and off.as_dict()["typical_flower_score"] is None


def _count(stream, config):
    tracker = CameraTracker(config)
    for frame, _ in stream:
        tracker.update(frame)
    return tracker


def _recalibrated(spec, seed, n, gamma):
    for frame, ids in field_stream(spec, seed=seed, n_frames=n):
        d = frame.detections
        yield replace(frame, detections=replace(d, scores=np.power(d.scores, gamma).astype(np.float32))), ids


@pytest.mark.parametrize("gamma", [2.5, 0.6])
def test_a_detector_with_another_calibration_counts_like_the_reference(gamma):
    spec = FieldStreamSpec()
    reference = _count(field_stream(spec, seed=4, n_frames=900), TrackerConfig())
    assert reference.score_scale.shift_logit == 0.0      # the synthetic stream scores on the reference scale
    adapted = _count(_recalibrated(spec, 4, 900, gamma), TrackerConfig())
    fixed = _count(_recalibrated(spec, 4, 900, gamma), TrackerConfig(adapt_score_scale=False))
    ref = reference.confirmed_count
    assert abs(adapted.confirmed_count - ref) <= 0.05 * ref, (adapted.confirmed_count, ref)
    assert adapted.score_scale.shift_logit != 0.0
    if gamma > 1:   # scores pushed down: without the adaptation a third of the flowers never confirm
        assert fixed.confirmed_count < 0.8 * ref, (fixed.confirmed_count, ref)


def test_a_camera_counts_flower_visits_it_detected_twice():
    from mars_sim.evaluation.run_evaluation import countable_visits
    frames = np.array([1, 2, 3, 400, 401, 10, 10, 500, 7])
    ids = np.array([5, 5, 5, 5, 5, 6, -1, 7, 7])
    # flower 5: two visits (a gap of 397 frames > 5 s at 30 fps), both detected twice or more; flower 6 once
    # (not countable); the false positive never; flower 7 twice but 493 frames apart: two single detections.
    assert countable_visits(frames, ids, 30.0) == 2
    # At 100 fps both gaps are under 5 s: flower 5 is one visit, flower 7 one visit detected twice.
    assert countable_visits(frames, ids, 100.0) == 2
    assert countable_visits(frames[:5], ids[:5], 100.0) == 1
