"""The simulated world, drive, stamps and detections behave as configured."""
from __future__ import annotations

import numpy as np
import pytest

from mars_sim import simulate
from mars_sim.detection_sim import frame_stamps
from mars_sim.config import CameraTimingConfig
from mars_sim.presets import preset_config
from mars_sim.world import row_line


def test_robot_straddles_the_rows_and_hard_drives_them_twice_opposite():
    result = simulate(preset_config("hard", {"field": {"row_length_m": 10.0}}), seed=0)
    traj, cfg = result.trajectory, result.config
    on_row = traj.row >= 0
    for row in range(cfg.field.rows):
        start, end = row_line(cfg.field, row)
        for pass_idx in (0, 1):
            sel = on_row & (traj.row == row) & (traj.pass_index == pass_idx)
            assert sel.sum() > 100
            offset = cfg.drive.second_pass_lateral_offset_m if pass_idx == 1 else 0.0
            lateral = traj.y[sel] - start[1] - offset    # rows run along +x
            # Wander = 3 unit sinusoids scaled to sd lateral_wander_m: bounded by 3 / sqrt(1.5) sd.
            assert np.max(np.abs(lateral)) <= cfg.drive.lateral_wander_m * 3 / np.sqrt(1.5) + 1e-9
            heading = np.cos(traj.yaw[sel]).mean()
            if pass_idx == 0:
                first_dir = np.sign(heading)
            else:
                assert np.sign(heading) == -first_dir   # the second pass drives the row the other way
    # Constant speed, continuous path.
    step = np.hypot(np.diff(traj.x), np.diff(traj.y))
    assert step.max() < 0.05


def test_frame_stamps_offset_and_jitter():
    rng = np.random.default_rng(0)
    stamps = frame_stamps(30.0, CameraTimingConfig(offset_s=0.013, jitter_s=0.002), 10**18, 10**18 + 60 * 10**9, rng)
    t = (stamps - 10**18) * 1e-9
    k = np.arange(t.size)
    resid = t - (0.013 + k / 30.0)
    assert abs(resid.mean()) < 3e-4 and resid.std() == pytest.approx(0.002, rel=0.1)
    assert np.all(np.diff(stamps) > 0)


def test_camera_timing_from_config(quick_result):
    hard = simulate(preset_config("hard", {"duration_s": 5.0}), seed=1)
    first = {name: s.frames[0].stamp_ns - hard.start_time_ns for name, s in hard.cameras.items()}
    assert first["cam_right"] > first["cam_center"] > first["cam_left"] - 10**7
    for s in quick_result.cameras.values():
        nums = [f.frame_number for f in s.frames]
        assert nums == list(range(len(nums)))
        assert all(f.frame_id == f"{s.name}_optical_frame" for f in s.frames[:3])


def test_detections_truth_and_features():
    result = simulate(preset_config("quick", {"detection": {"distractors_per_m": 0.0}}), seed=7)
    det_cfg = result.config.detection
    n_tp = n_fp = n_frames = 0
    for stream in result.cameras.values():
        gt = stream.true_boxes
        gt_per_frame = np.bincount(gt.frame_index, minlength=len(stream.frames))
        for k, (frame, ids) in enumerate(zip(stream.frames, stream.truth_ids)):
            assert len(ids) == len(frame.detections)
            tp = ids >= 0
            n_tp += tp.sum()
            n_fp += (~tp).sum()
            n_frames += 1
            # Every true positive is a flower visible in that frame, at most once per frame.
            visible = set(gt.flower_id[gt.frame_index == k].tolist()) if tp.any() else set()
            assert set(ids[tp].tolist()) <= visible and len(set(ids[tp].tolist())) == tp.sum()
            f = frame.detections.features
            np.testing.assert_allclose(np.linalg.norm(f, axis=1), 1.0, atol=1e-5)
            assert np.all(frame.detections.scores >= 0) and np.all(frame.detections.scores <= 1)
            assert np.all(frame.detections.xyxy[:, 2] >= frame.detections.xyxy[:, 0])
            assert np.all(frame.detections.xyxy[:, 2] <= frame.image_width)
        # Recall against the visible truth is the configured detection probability.
        assert n_tp / max(gt_per_frame.sum(), 1) > 0
    total_visible = sum(len(s.true_boxes.flower_id) for s in result.cameras.values())
    assert n_tp / total_visible == pytest.approx(det_cfg.detect_probability, abs=0.03)
    assert n_fp / n_frames == pytest.approx(det_cfg.false_positives_per_frame, rel=0.15)
    # Features: views of one flower agree more than views of different flowers.
    stream = result.cameras["cam_center"]
    feats = np.concatenate([f.detections.features for f in stream.frames])
    ids = np.concatenate(stream.truth_ids)
    keep = ids > 0
    feats, ids = feats[keep], ids[keep]
    sim = feats @ feats.T
    same_mask = ids[:, None] == ids[None, :]
    np.fill_diagonal(same_mask, False)
    diff_mask = ids[:, None] != ids[None, :]
    assert sim[same_mask].mean() > 0.85 and sim[same_mask].mean() > sim[diff_mask].mean() + 0.3
    assert sim[same_mask].max() < 1.0 - 1e-4    # not identical across views


def test_hard_preset_has_look_alike_flowers():
    hard = simulate(preset_config("hard", {"duration_s": 1.0}), seed=0)
    normal = simulate(preset_config("field", {"duration_s": 1.0}), seed=0)

    def nearest_other(field):
        lat = field.latent
        s = lat @ lat.T
        np.fill_diagonal(s, -1)
        return np.median(s.max(axis=1))
    # Look-alikes: other flowers as similar as two views of one flower (view similarity is ~0.93).
    assert nearest_other(hard.field) > 0.97 and nearest_other(normal.field) < 0.95
    assert len(hard.field) / (hard.config.field.rows * hard.config.field.row_length_m) > \
        2 * len(normal.field) / (normal.config.field.rows * normal.config.field.row_length_m)


def test_occlusion_comes_in_runs():
    result = simulate(preset_config("quick", {"detection": {"occlusion_base": 0.4}}), seed=0)
    gt = result.cameras["cam_left"].true_boxes
    # For a flower, the frames it is visible in form few runs (occlusion is smooth in the view angle).
    fid = np.bincount(gt.flower_id).argmax()
    frames = np.sort(gt.frame_index[gt.flower_id == fid])
    runs = 1 + np.sum(np.diff(frames) > 1)
    assert frames.size > 10 and runs <= frames.size / 5


def test_distractors_are_persistent_false_positives():
    cfg = preset_config("quick", {"detection": {"distractors_per_m": 1.0, "false_positives_per_frame": 0.0,
                                                "distractor_detect_probability": 1.0}})
    result = simulate(cfg, seed=3)
    assert len(result.field.distractor_xyz) > 3
    stream = result.cameras["cam_center"]
    fp_frames = [k for k, ids in enumerate(stream.truth_ids) if np.any(ids < 0)]
    assert len(fp_frames) > 30
    # Seen in runs of consecutive frames (a persistent object), unlike one-frame false positives.
    runs = 1 + np.sum(np.diff(fp_frames) > 1)
    assert len(fp_frames) / runs > 10
    # Their features look like flowers' (same appearance families), and stay consistent over frames.
    k = fp_frames[len(fp_frames) // 2]
    f0 = stream.frames[k].detections.features[stream.truth_ids[k] < 0][0]
    f1 = stream.frames[k + 1].detections.features[stream.truth_ids[k + 1] < 0]
    assert f1.shape[0] >= 1 and np.max(f1 @ f0) > 0.8
    none = simulate(preset_config("quick", {"detection": {"distractors_per_m": 0.0, "false_positives_per_frame": 0.0}}),
                    seed=3)
    assert all(np.all(ids >= 0) for s in none.cameras.values() for ids in s.truth_ids)
