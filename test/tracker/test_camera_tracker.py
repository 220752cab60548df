"""CameraTracker on small synthetic streams: identities, gaps, crossings, look-alikes, time, features, memory."""
from __future__ import annotations

from typing import List, Optional

import numpy as np
import pytest

from mars_core.detections import DetectionFrame, Detections
from mars_core.feature_codec import FeatureMismatchError
from mars_tracker.camera_tracker import CameraTracker
from mars_tracker.config import TrackerConfig
from mars_sim.synthetic_stream import FieldStreamSpec, field_stream
from mars_core.tracks import TrackStatus

FPS = 30.0


def frame(i: int, xywh: np.ndarray, scores: Optional[np.ndarray] = None, feats: Optional[np.ndarray] = None,
          stamp_ns: Optional[int] = None, model: str = "m1", camera: str = "cam") -> DetectionFrame:
    xywh = np.asarray(xywh, dtype=np.float64).reshape(-1, 4)
    n = xywh.shape[0]
    scores = np.full(n, 0.9) if scores is None else np.asarray(scores)
    dets = Detections(Detections.xyxy_from_xywh(xywh), scores, np.zeros(n, np.int32), feats,
                      model if feats is not None else "")
    stamp = int(1e9 + i * 1e9 / FPS) if stamp_ns is None else stamp_ns
    return DetectionFrame(camera, stamp, i, 1280, 960, dets)


def matched_ids(update, n_dets: int) -> List[int]:
    """Track id matched to each detection (-1 when none)."""
    out = [-1] * n_dets
    tr = update.tracks
    for tid, di in zip(tr.track_ids, tr.detection_index):
        if di >= 0:
            out[int(di)] = int(tid)
    return out


def test_constant_velocity_object_with_gap_keeps_one_id_and_counts_once() -> None:
    tracker = CameraTracker(TrackerConfig(min_hits=3))
    ids = set()
    for i in range(60):
        if 20 <= i < 28:          # 8 frames occluded
            update = tracker.update(frame(i, np.zeros((0, 4))))
            assert all(s == TrackStatus.LOST for s in update.tracks.status)
            continue
        update = tracker.update(frame(i, [[100 + 10 * i, 300, 40, 40]]))
        ids.update(t for t in matched_ids(update, 1) if t >= 0)
        if i == 1:
            assert update.tracks.status[0] == TrackStatus.NEW and update.confirmed_count == 0
        if i >= 2:
            assert update.tracks.status[0] == TrackStatus.TRACKED
    assert ids == {1}
    assert update.confirmed_count == 1
    np.testing.assert_allclose(update.tracks.velocity[0], [300.0, 0.0], atol=15.0)  # px/s, not px/frame


def test_dropped_frames_are_predicted_by_time() -> None:
    tracker = CameraTracker()
    for i in list(range(10)) + [14, 15, 16, 22, 23]:       # frames 10-13 and 17-21 never arrive
        update = tracker.update(frame(i, [[50 + 12 * i, 200, 30, 30]]))
        assert matched_ids(update, 1) == [1]


def test_crossing_objects_keep_identities() -> None:
    tracker = CameraTracker()
    for i in range(50):
        a = [100 + 12 * i, 300 + 2 * i, 40, 40]
        b = [700 - 12 * i, 320 + 2 * i, 40, 40]   # boxes overlap half-way at the crossing
        update = tracker.update(frame(i, [a, b]))
        got = matched_ids(update, 2)
        assert got == [1, 2], f"frame {i}: {got}"


def test_look_alike_features_fall_back_to_motion_and_distinct_features_resolve_a_swap() -> None:
    rng = np.random.default_rng(0)
    same = np.tile(rng.normal(size=(1, 16)), (2, 1)).astype(np.float32)
    tracker = CameraTracker()
    for i in range(30):   # identical appearance: motion must carry the identities
        update = tracker.update(frame(i, [[100 + 10 * i, 200, 40, 40], [100 + 10 * i, 400, 40, 40]],
                                      feats=same + rng.normal(size=(2, 16)).astype(np.float32) * 0.01))
        assert matched_ids(update, 2) == [1, 2]
    # Two still objects overlapping most of the way: appearance decides.
    distinct = np.eye(16, dtype=np.float32)[:2]
    tracker = CameraTracker()
    for i in range(10):
        tracker.update(frame(i, [[300, 300, 60, 60], [330, 300, 60, 60]], feats=distinct))
    update = tracker.update(frame(10, [[330, 300, 60, 60], [300, 300, 60, 60]], feats=distinct[::-1].copy()))
    assert matched_ids(update, 2) == [2, 1]


def test_low_score_detections_extend_but_never_start_tracks() -> None:
    tracker = CameraTracker()
    for i in range(5):
        update = tracker.update(frame(i, [[100, 100, 40, 40]], scores=[0.3]))
        assert len(update.tracks) == 0
    for i in range(5, 10):
        update = tracker.update(frame(i, [[100, 100, 40, 40]], scores=[0.9]))
    for i in range(10, 15):       # partly occluded: low score, same place
        update = tracker.update(frame(i, [[100, 100, 40, 40]], scores=[0.3]))
        assert matched_ids(update, 1) == [1]


def test_lifecycle_removes_after_max_age_and_reports_once() -> None:
    tracker = CameraTracker(TrackerConfig(max_lost_seconds=0.2))
    for i in range(5):
        tracker.update(frame(i, [[100, 100, 40, 40]]))
    removed_reports = 0
    for i in range(5, 20):
        update = tracker.update(frame(i, np.zeros((0, 4))))
        removed_reports += len(update.removed)
        if len(update.removed):
            assert update.removed.status[0] == TrackStatus.REMOVED and update.removed.track_ids[0] == 1
    assert removed_reports == 1 and tracker.track_count == 0


def test_time_going_backwards_resets_camera_keeps_count_and_ids() -> None:
    tracker = CameraTracker()
    for i in range(10):
        tracker.update(frame(i, [[100 + 5 * i, 100, 40, 40]]))
    update = tracker.update(frame(3, [[115, 100, 40, 40]]))          # bag loop
    assert update.was_reset and update.warnings and "backwards" in update.warnings[0]
    assert list(update.removed.track_ids) == [1]
    assert update.confirmed_count == 1 and tracker.reset_count == 1
    assert matched_ids(update, 1) == [2]                                # ids are never reused
    repeat = tracker.update(frame(3, [[115, 100, 40, 40]]))            # same stamp again: ignored
    assert repeat.warnings and not repeat.was_reset and len(repeat.tracks) == 1


def test_features_from_another_model_or_dimension_are_rejected() -> None:
    tracker = CameraTracker(feature_model_id="m1", feature_dim=8)
    tracker.update(frame(0, [[100, 100, 40, 40]], feats=np.ones((1, 8), np.float32)))
    with pytest.raises(FeatureMismatchError, match="m2"):
        tracker.update(frame(1, [[100, 100, 40, 40]], feats=np.ones((1, 8), np.float32), model="m2"))
    with pytest.raises(FeatureMismatchError, match="dim 4"):
        tracker.update(frame(1, [[100, 100, 40, 40]], feats=np.ones((1, 4), np.float32)))
    # Nothing was lost: the next good frame continues the same track.
    update = tracker.update(frame(1, [[100, 100, 40, 40]], feats=np.ones((1, 8), np.float32)))
    assert matched_ids(update, 1) == [1]
    locked = CameraTracker()   # without explicit ids the first frame with features decides
    locked.update(frame(0, [[100, 100, 40, 40]], feats=np.ones((1, 8), np.float32)))
    with pytest.raises(FeatureMismatchError):
        locked.update(frame(1, [[100, 100, 40, 40]], feats=np.ones((1, 8), np.float32), model="other"))


def test_frame_of_another_camera_is_refused() -> None:
    tracker = CameraTracker()
    tracker.update(frame(0, [[100, 100, 40, 40]], camera="cam_left"))
    with pytest.raises(ValueError, match="cam_right"):
        tracker.update(frame(1, [[100, 100, 40, 40]], camera="cam_right"))


def test_counting_line_counts_each_crossing_track_once() -> None:
    tracker = CameraTracker(TrackerConfig(counting_line=(640.0, 0.0, 640.0, 960.0)))
    for i in range(80):   # one object crosses x = 640, one stays left of it
        update = tracker.update(frame(i, [[300 + 8 * i, 300, 40, 40], [100, 600, 40, 40]]))
    assert update.confirmed_count == 2
    assert update.line_count == 1 and update.count == 1


def test_field_stream_counts_and_memory_stay_bounded() -> None:
    spec = FieldStreamSpec(feature_dim=16, frame_drop_probability=0.05)
    tracker = CameraTracker()
    truth = {}
    sizes = []
    for f, ids in field_stream(spec, seed=3, n_frames=450):
        update = tracker.update(f)
        for t in ids[(ids >= 0) & (f.detections.scores >= 0.5)]:
            truth[int(t)] = truth.get(int(t), 0) + 1
        sizes.append(tracker.track_count)
    n_true = sum(1 for v in truth.values() if v >= 3)
    assert abs(update.confirmed_count - n_true) <= 0.1 * n_true
    # Tracks are dropped once they leave: live tracks stay near the visible count.
    assert max(sizes[200:]) < 3 * spec.density * spec.image_width


def test_config_errors_name_the_field() -> None:
    with pytest.raises(ValueError, match="min_hits"):
        TrackerConfig(min_hits=0)
    with pytest.raises(ValueError, match="low_score_threshold"):
        TrackerConfig(low_score_threshold=0.8, high_score_threshold=0.5)
    with pytest.raises(ValueError, match="counting_line"):
        TrackerConfig(counting_line=(1.0, 2.0, 3.0))
    with pytest.raises(ValueError, match="unknown tracker setting"):
        TrackerConfig.from_dict({"min_hit": 3})
    assert all(TrackerConfig.descriptions().values())


def _clipped(xywh: np.ndarray, width: int = 1280, height: int = 960) -> np.ndarray:
    """Boxes cut at the image border, as a detector reports them."""
    xyxy = Detections.xyxy_from_xywh(np.asarray(xywh, dtype=np.float64).reshape(-1, 4))
    xyxy[:, 0::2] = np.clip(xyxy[:, 0::2], 0, width)
    xyxy[:, 1::2] = np.clip(xyxy[:, 1::2], 0, height)
    out = np.empty_like(xyxy)
    out[:, 0:2] = 0.5 * (xyxy[:, 0:2] + xyxy[:, 2:4])
    out[:, 2:4] = xyxy[:, 2:4] - xyxy[:, 0:2]
    return out


def test_object_leaving_through_the_border_stays_one_track() -> None:
    tracker = CameraTracker()
    ids = set()
    for i in range(70):       # 60 px box moving down at 600 px/s, cut more and more by the bottom edge
        box = _clipped([[400.0, 120.0 + 20.0 * i, 60.0, 60.0]])
        if box[0, 3] < 10:
            break
        update = tracker.update(frame(i, box))
        ids.update(t for t in matched_ids(update, 1) if t >= 0)
    assert ids == {1} and update.confirmed_count == 1


def _down_camera():  # type: ignore[no-untyped-def]
    from mars_core.geometry import CameraExtrinsics, CameraIntrinsics, CameraModel
    return CameraModel("cam", CameraIntrinsics(1280, 960, 900.0, 900.0, 640.0, 480.0),
                       CameraExtrinsics((0.0, 0.0, 1.6), (0.0, np.pi / 2, 0.0)))


def test_motion_prior_carries_a_lost_track_through_a_speed_change() -> None:
    from mars_tracker.ego_motion import MotionPrior, expected_image_velocity
    cam = _down_camera()

    def run(use_prior: bool) -> set:
        tracker = CameraTracker(camera_model=cam)
        ids = set()
        y = 100.0
        for i in range(40):
            speed = 0.2 if i < 12 else 0.8          # the robot speeds up while the flower is hidden
            prior = MotionPrior(vx=speed, plane_height=0.6)
            vy = expected_image_velocity(cam, prior, np.array([[640.0, y]]))[0, 1]
            y += vy / FPS
            hidden = 12 <= i < 22
            boxes = np.zeros((0, 4)) if hidden else np.array([[640.0, y, 50.0, 50.0]])
            update = tracker.update(frame(i, boxes), prior if use_prior else None)
            ids.update(t for t in matched_ids(update, len(boxes)) if t >= 0)
        return ids

    assert run(use_prior=True) == {1}
    assert len(run(use_prior=False)) == 2      # without the prior the flower is not where the filter looks


def test_look_alike_with_low_scores_between_high_ones_is_not_confirmed() -> None:
    # A look-alike detected at 0.66 and 0.34 in turn (mean 0.5) next to a flower at 0.85: tentative tracks take
    # the low-score detections too, so the look-alike's confirmation mean sees them and stays below 0.62.
    def run(config: TrackerConfig) -> List[bool]:
        tracker = CameraTracker(config)
        for i in range(60):
            update = tracker.update(frame(i, [[200, 200, 40, 40], [600, 400, 40, 40]],
                                          scores=[0.85, 0.66 if i % 2 == 0 else 0.34]))
        return [bool(update.tracks.confirmed[update.tracks.detection_index == k][0]) for k in range(2)]

    defaults = TrackerConfig()
    assert defaults.tentative_low_score_matches and defaults.confirm_min_mean_score > 0.5
    assert run(defaults) == [True, False]
    # Seeing only its high-score detections, the same look-alike looks like a flower and gets counted.
    assert run(TrackerConfig(tentative_low_score_matches=False)) == [True, True]


def test_flower_hidden_for_three_seconds_is_found_again_not_counted_twice() -> None:
    # A flower drifting at 100 px/s is hidden by leaves for 3 s (frames 30..119), then seen where it should be.
    def run(config: TrackerConfig) -> int:
        tracker = CameraTracker(config)
        for i in range(150):
            boxes = np.zeros((0, 4)) if 30 <= i < 120 else np.array([[100 + 100 * i / FPS, 300, 40, 40]])
            update = tracker.update(frame(i, boxes))
        return update.confirmed_count

    assert run(TrackerConfig()) == 1
    assert run(TrackerConfig(max_lost_seconds=2.0)) == 2


def test_global_motion_estimate_seeds_new_tracks() -> None:
    tracker = CameraTracker()
    rng = np.random.default_rng(2)
    xs = rng.uniform(100, 1100, 6)
    for i in range(15):   # six flowers scrolling left at 300 px/s
        update = tracker.update(frame(i, np.stack([xs - 10.0 * i, np.full(6, 300.0), np.full(6, 40.0),
                                                   np.full(6, 40.0)], axis=1)))
    update = tracker.update(frame(15, [[1200.0, 700.0, 40.0, 40.0]]))      # a newcomer at the right edge
    newcomer = update.tracks.detection_index == 0
    assert update.tracks.velocity[newcomer][0, 0] == pytest.approx(-300.0, abs=30.0)


def test_mean_score_confirmation_keeps_middling_look_alikes_uncounted() -> None:
    tracker = CameraTracker(TrackerConfig(confirm_min_mean_score=0.6))
    for i in range(40):   # a flower scored 0.85 and a persistent look-alike scored 0.62 then 0.55 ...
        look_alike_score = 0.62 if i == 0 else 0.55
        update = tracker.update(frame(i, [[200, 200, 40, 40], [600, 400, 40, 40]], scores=[0.85, look_alike_score]))
    assert update.confirmed_count == 1
    assert list(update.tracks.confirmed) == [True, False]
    plain = CameraTracker(TrackerConfig(confirm_min_mean_score=0.0))   # confirmation by score off
    for i in range(40):
        update = plain.update(frame(i, [[200, 200, 40, 40], [600, 400, 40, 40]], scores=[0.85, 0.62 if i == 0 else 0.55]))
    assert update.confirmed_count == 2


def test_lost_track_keeps_its_parallax_and_forgets_its_drift_across_the_ego_motion() -> None:
    # A low flower moves at 0.7x the canopy-plane ego-motion (parallax, real) and, over its first 12 frames,
    # drifts sideways at 100 px/s (boxes cut by the image edge; not real). Hidden 2 s, it comes back where a
    # still flower would be: the track must predict along the ego direction at the learnt speed, not sideways.
    from mars_tracker.ego_motion import MotionPrior, expected_image_velocity
    cam = _down_camera()
    prior = MotionPrior(vx=0.3, plane_height=0.6)

    def run(config: TrackerConfig):  # type: ignore[no-untyped-def]
        tracker = CameraTracker(config, camera_model=cam)
        x, y = 400.0, 80.0
        ids = set()
        for i in range(95):
            ego = expected_image_velocity(cam, prior, np.array([[x, y]]))[0]
            x += (0.7 * ego[0] + (100.0 if i < 12 else 0.0)) / FPS
            y += 0.7 * ego[1] / FPS
            boxes = np.zeros((0, 4)) if 12 <= i < 72 else np.array([[x, y, 50.0, 50.0]])
            update = tracker.update(frame(i, boxes), prior)
            ids.update(t for t in matched_ids(update, len(boxes)) if t >= 0)
            if i == 71:
                lost_velocity, ego_at_end = update.tracks.velocity[0], ego
        return ids, lost_velocity, ego_at_end

    ids, velocity, ego = run(TrackerConfig())
    assert ids == {1}
    assert velocity[1] == pytest.approx(0.7 * ego[1], rel=0.05)     # along the ego-motion: parallax kept
    assert abs(velocity[0]) < 0.2 * 100.0                            # across it: relaxed over 2 s (tau 1 s)
    assert len(run(TrackerConfig(lost_motion_relax_seconds=0.0))[0]) == 2


def test_reconfigure_keeps_tracks_and_counts_and_applies_from_the_next_frame() -> None:
    """A live parameter change (tracker node): the new config is used from the next update on, nothing
    collected is lost."""
    tracker = CameraTracker(TrackerConfig(min_hits=2))
    for i in range(5):
        update = tracker.update(frame(i, [[100 + 10 * i, 300, 40, 40]]))
    assert update.confirmed_count == 1 and tracker.track_count == 1
    ids_before = list(update.tracks.track_ids)
    tracker.reconfigure(TrackerConfig(min_hits=7, measurement_noise=0.1))
    assert tracker.confirmed_count == 1 and tracker.track_count == 1
    update = tracker.update(frame(5, [[150, 300, 40, 40], [600, 500, 40, 40]]))
    assert list(update.tracks.track_ids)[:1] == ids_before  # the live track continues under the new config
    for i in range(6, 11):  # a new object needs 7 hits now
        update = tracker.update(frame(i, [[100 + 10 * i, 300, 40, 40], [600 + 10 * (i - 5), 500, 40, 40]]))
    assert update.confirmed_count == 1
    update = tracker.update(frame(11, [[210, 300, 40, 40], [660, 500, 40, 40]]))
    assert update.confirmed_count == 2 and tracker.config.min_hits == 7
