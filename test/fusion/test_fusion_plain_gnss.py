"""Plain GNSS (metres of error, bias wandering within seconds, no IMU): what keeps de-duplication working.

Simultaneous rays of two cameras share the pose, so their gate follows the pixel noise, not the GNSS; pose
windows lengthen when the fixes report a coarse covariance; geolocated tracks join the map strongest first;
the swath test uses the triangulated point.
"""
from __future__ import annotations

import numpy as np

from fusion_synthetic import enu_config, rig, straight_pose_track
from mars_fusion.flower_map import FlowerMap
from mars_fusion.geolocation import FinishedTrack, TrackEstimate, TrackGeolocator
from mars_fusion.pose import PoseTrack

S = 1_000_000_000
CAMS = ("cam_left", "cam_center", "cam_right")
PLAIN_GNSS_VAR = 1.5 ** 2


def _estimate(cam: int, point: np.ndarray, t0: float, t1: float, seed: int, track_id: int = 1,
              ray_sigma: float = 0.05, pixel_sigma: float = 0.003, gnss_var: float = PLAIN_GNSS_VAR,
              ray_noise: float = 0.002) -> TrackEstimate:
    """A track of camera cam (sideways by index) seeing point while the robot drives along +x at 0.5 m/s;
    ray_sigma is the GNSS-inflated per-ray sd, pixel_sigma the part from pixel noise alone."""
    rng = np.random.default_rng(seed)
    stamps = np.arange(int(round(t0 * 30)), int(round(t1 * 30))) * (S // 30)
    origins = np.column_stack([2.0 + 0.5 * (stamps / S - 3.0), np.full(stamps.shape, (1 - cam) * 0.35),
                               np.full(stamps.shape, 1.6)])
    dirs = point - origins + rng.normal(0, ray_noise, origins.shape)
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    n = stamps.shape[0]
    return TrackEstimate(CAMS[cam], cam, track_id, 0, point + rng.normal(0, 0.003, 3), np.eye(2) * 4e-4, gnss_var,
                         stamps.astype(np.int64), origins, dirs, np.full(n, ray_sigma), 0.0, 1e-4,
                         score_sum=0.9 * n, ray_sigma_pixel=np.full(n, pixel_sigma))


def test_simultaneous_rays_gate_on_pixel_noise_not_on_gnss() -> None:
    # Two flowers 3 cm apart along the row seen by the left and the right camera at the same time: with the
    # GNSS-inflated ray sd both all-view fits pass, only the simultaneous rays (pixel noise) tell them apart.
    fmap = FlowerMap(enu_config(), CAMS)
    fmap.add_track(_estimate(0, np.array([2.0, 0.0, 0.8]), 2.0, 4.0, seed=1))
    fmap.add_track(_estimate(2, np.array([2.03, 0.0, 0.8]), 2.0, 4.0, seed=2))
    assert fmap.count() == 2
    assert fmap.counters["ray_test_rejections"] >= 1
    # The same flower seen by both cameras is one flower.
    fmap = FlowerMap(enu_config(), CAMS)
    fmap.add_track(_estimate(0, np.array([2.0, 0.0, 0.8]), 2.0, 4.0, seed=1))
    fmap.add_track(_estimate(2, np.array([2.0, 0.0, 0.8]), 2.0, 4.0, seed=2))
    assert fmap.count() == 1


def test_long_tracks_join_before_a_neighbours_short_fragment() -> None:
    p, q = np.array([2.0, 0.0, 0.8]), np.array([2.0, 0.07, 0.8])
    right = _estimate(2, p, 1.0, 2.5, seed=1, track_id=1)
    fragment_of_q = _estimate(1, q, 2.6, 2.9, seed=2, track_id=2)     # ends first, no view shared with right
    center = _estimate(1, p, 2.6, 4.0, seed=3, track_id=3)            # same camera, overlaps the fragment
    fmap = FlowerMap(enu_config(association_delay_s=3.0), CAMS)
    for est in (right, fragment_of_q, center):
        fmap.defer_track(est)
    assert fmap.release_tracks() == []            # all ended within association_delay_s of the newest
    assert fmap.waiting_tracks == 3
    ids = {e.track_id: fid for e, fid in fmap.release_tracks(everything=True)}
    assert fmap.waiting_tracks == 0
    assert ids[1] == ids[3] != ids[2]             # p's tracks together, q's fragment on its own
    assert fmap.count() == 2


def test_release_waits_for_the_association_delay() -> None:
    fmap = FlowerMap(enu_config(association_delay_s=1.0), CAMS)
    fmap.defer_track(_estimate(1, np.array([2.0, 0.0, 0.8]), 1.0, 2.0, seed=1, track_id=1))
    fmap.defer_track(_estimate(1, np.array([4.0, 0.0, 0.8]), 2.5, 3.5, seed=2, track_id=2))
    released = fmap.release_tracks()
    assert [e.track_id for e, _ in released] == [1] and fmap.waiting_tracks == 1
    # With RTK-grade fixes the views themselves separate neighbours: no wait.
    fmap.defer_track(_estimate(1, np.array([6.0, 0.0, 0.8]), 3.0, 3.6, seed=3, track_id=3, gnss_var=1e-4))
    assert [e.track_id for e, _ in fmap.release_tracks()] == [3] and fmap.waiting_tracks == 1


def _fixes_with_wandering_bias(sd_reported: float, seed: int = 0):
    """10 Hz fixes of a robot at 0.5 m/s along x, with 0.3 m white noise and a random-walk bias."""
    rng = np.random.default_rng(seed)
    t = np.arange(0, 600) * 0.1
    truth = np.column_stack([0.5 * t, np.zeros_like(t), np.zeros_like(t)])
    bias = np.cumsum(rng.normal(0, 0.04, (t.shape[0], 2)), axis=0)     # ~0.13 m per sqrt(s)
    meas = truth.copy()
    meas[:, :2] += bias + rng.normal(0, 0.3, (t.shape[0], 2))
    cfg = enu_config(heading_source="course_over_ground")
    pose = PoseTrack(cfg)
    for k in range(t.shape[0]):
        pose.add_fix(int(t[k] * S), meas[k], sd_reported)
    return pose, t, truth


def test_pose_windows_lengthen_with_coarse_fixes() -> None:
    cfg = enu_config(heading_source="course_over_ground")
    fine, _, _ = _fixes_with_wandering_bias(0.02)
    coarse, t, truth = _fixes_with_wandering_bias(1.5)
    assert not fine.coarse and fine.smoothing_window_s == cfg.smoothing_window_s
    assert coarse.coarse and coarse.smoothing_window_s == cfg.coarse_smoothing_window_s
    assert coarse.cog_window_s == max(cfg.cog_window_s, cfg.coarse_smoothing_window_s)

    def relative_error(pose: PoseTrack) -> float:
        stamps = (t[100:500] * S).astype(np.int64)
        p = pose.pose_at(stamps)
        k = 20                                     # 2 s apart: the views of one flower by two cameras
        est = p.xyz[k:, :2] - p.xyz[:-k, :2]
        true = truth[100 + k:500, :2] - truth[100:500 - k, :2]
        return float(np.median(np.hypot(*(est - true).T)))

    # The same fixes, reported fine: short windows pass the bias wander on as robot motion.
    assert relative_error(coarse) < 0.6 * relative_error(fine)


def test_swath_uses_the_triangulated_point() -> None:
    # A low flower of the next row seen by the camera looking across meets the canopy plane inside the swath.
    cfg = enu_config(swath_half_width_m=0.45)
    pose = straight_pose_track(cfg)
    model = rig().camera("cam_right").model
    flower = np.array([2.0, 0.85, 0.3])
    stamps, pix = [], []
    for k in range(300):
        base = flower - np.array([0.5 * k / 30.0, 0.0, 0.0])
        uv, depth = model.project_base(base[None])
        if depth[0] > 0 and model.intrinsics.contains(uv, margin=40.0)[0]:
            stamps.append(int(k / 30.0 * S))
            pix.append(uv[0])
    assert len(stamps) > 10
    track = FinishedTrack("cam_right", 7, np.array(stamps, np.int64), np.array(pix), np.full((len(pix), 2), 60.0),
                          np.ones(len(pix)), True, None, "")
    geo = TrackGeolocator(cfg, rig())
    assert geo.geolocate([track], pose, 0) == []
    assert geo.counters["tracks_outside_swath"] == 1
