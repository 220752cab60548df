"""FlowerMap: grid index, cross-camera de-duplication by simultaneous rays, cannot-link, multi-pass, bulk."""
from __future__ import annotations


import numpy as np

from fusion_synthetic import enu_config
from mars_fusion.flower_map import FlowerMap, GridIndex, ray_distances, simultaneous_pairs
from mars_fusion.geolocation import TrackEstimate

S = 1_000_000_000
CAMS = ("cam_left", "cam_center", "cam_right")


def test_grid_index_insert_move_query() -> None:
    g = GridIndex(1.0)
    g.insert(0, 0.5, 0.5)
    g.insert(1, 3.2, -0.4)
    g.insert_many(np.array([2, 3]), np.array([[0.9, 0.1], [10.0, 10.0]]))
    assert sorted(g.query(0.4, 0.4, 0.5).tolist()) == [0, 2]
    g.move(0, (0.5, 0.5), (3.1, -0.3))
    assert sorted(g.query(3.0, -0.5, 0.3).tolist()) == [0, 1]
    g.remove(1, 3.2, -0.4)
    assert g.query(3.0, -0.5, 0.3).tolist() == [0]
    assert len(g) == 3


def test_ray_distance_and_pairs() -> None:
    d, mid = ray_distances(np.array([[0.0, 0, 1], [0.0, 0, 1]]), np.array([[1.0, 0, 0], [1.0, 0, 0]]),
                           np.array([[0.5, -1, 1], [0.5, -1, 0]]), np.array([[0.0, 1, 0], [0.0, 1, 0]]))
    np.testing.assert_allclose(d, [0.0, 1.0], atol=1e-12)
    np.testing.assert_allclose(mid[0], [0.5, 0.0, 1.0], atol=1e-12)
    ia, ib = simultaneous_pairs(np.array([0, 100, 200]), np.array([5, 150, 400]), 10)
    assert ia.tolist() == [0] and ib.tolist() == [0]


def _estimate(cam: int, point: np.ndarray, t0: float, t1: float, seed: int, track_id: int = 1,
              gnss_var: float = 1e-4, speed: float = 0.5, ray_noise: float = 0.002, score: float = 0.85
              ) -> TrackEstimate:
    """A track of camera cam seeing point from a robot driving along +x; camera offset sideways by index."""
    rng = np.random.default_rng(seed)
    stamps = np.arange(int(t0 * 15), int(t1 * 15)) * (S // 15)
    cam_y = (1 - cam) * 0.35
    robot_x = 2.0 + speed * (stamps - (t0 + t1) / 2 * S) / S      # the robot passes x = 2 m mid-track
    origins = np.column_stack([robot_x, np.full(stamps.shape, cam_y), np.full(stamps.shape, 1.6)])
    dirs = point - origins + rng.normal(0, ray_noise, origins.shape)
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    return TrackEstimate(CAMS[cam], cam, track_id, 0, point + rng.normal(0, 0.003, 3), np.eye(2) * 4e-5, gnss_var,
                         stamps.astype(np.int64), origins, dirs, np.full(stamps.shape, 0.005), 0.0, 1e-4,
                         score_sum=score * stamps.shape[0])


def test_three_cameras_one_flower_become_one() -> None:
    fmap = FlowerMap(enu_config(), CAMS)
    p = np.array([2.0, 0.05, 0.8])
    ids = [fmap.add_track(_estimate(c, p, 3.0, 5.0, seed=c)) for c in range(3)]
    assert fmap.count() == 1 and len(set(ids)) == 1
    f = fmap.flowers()
    assert f.n_tracks[0] == 3 and f.camera_mask[0] == 0b111
    assert np.linalg.norm(f.xyz[0] - p) < 0.01


def test_same_camera_simultaneous_tracks_are_two_flowers_even_when_close() -> None:
    fmap = FlowerMap(enu_config(), CAMS)
    fmap.add_track(_estimate(1, np.array([2.0, 0.0, 0.8]), 3.0, 5.0, seed=1, track_id=1))
    fmap.add_track(_estimate(1, np.array([2.02, 0.01, 0.8]), 3.0, 5.0, seed=2, track_id=2))
    assert fmap.count() == 2
    assert fmap.counters["cannot_link_same_camera"] >= 1


def test_cross_camera_tracks_of_two_nearby_flowers_stay_apart() -> None:
    fmap = FlowerMap(enu_config(), CAMS)
    fmap.add_track(_estimate(0, np.array([2.0, 0.0, 0.5]), 3.0, 5.0, seed=1))
    # another flower 12 cm sideways and 40 cm higher: its rays meet the first flower's rays in the baseline
    # plane, but all views together do not fit one point
    fmap.add_track(_estimate(2, np.array([2.0, 0.12, 0.9]), 3.0, 5.0, seed=2))
    assert fmap.count() == 2


def test_broken_track_of_one_camera_rejoins_its_flower() -> None:
    fmap = FlowerMap(enu_config(), CAMS)
    p = np.array([2.0, 0.05, 0.8])
    fmap.add_track(_estimate(1, p, 2.0, 3.5, seed=1, track_id=1))
    fmap.add_track(_estimate(1, p, 4.0, 5.5, seed=2, track_id=2))      # after an occlusion, new track id
    assert fmap.count() == 1


def test_later_pass_merges_within_uncertainty_and_not_beyond() -> None:
    cfg = enu_config(same_pass_gap_s=20.0)
    fmap = FlowerMap(cfg, CAMS)
    a, b = np.array([2.0, 0.0, 0.8]), np.array([2.3, 0.0, 0.8])
    fmap.add_track(_estimate(1, a, 3.0, 5.0, seed=1))
    fmap.add_track(_estimate(1, b, 3.5, 5.5, seed=2, track_id=2))
    assert fmap.count() == 2
    # 200 s later, a GNSS offset of 2 cm (within the 1 cm sd of each pass... x sqrt 2 x 3)
    fmap.add_track(_estimate(1, a + np.array([0.02, 0.0, 0.0]), 203.0, 205.0, seed=3, track_id=9))
    assert fmap.count() == 2
    assert fmap.counters["multi_pass_candidates"] >= 1
    # a flower 15 cm from both is a new flower
    fmap.add_track(_estimate(1, np.array([2.15, 0.1, 0.8]), 206.0, 208.0, seed=4, track_id=10))
    assert fmap.count() == 3


def test_consolidation_merges_leftover_multi_pass_duplicates_only() -> None:
    cfg = enu_config()
    fmap = FlowerMap(cfg, CAMS)
    xyz = np.array([[0.0, 0.0, 0.8], [0.01, 0.0, 0.8], [5.0, 0.0, 0.8], [5.01, 0.0, 0.8]])
    cov = np.repeat(np.eye(2)[None] * 1e-4, 4, axis=0)
    # flowers 0/1: different passes (1000 s apart) -> merged; 2/3: same pass -> left alone
    first = np.array([0, 1000, 0, 1], dtype=np.int64) * S
    fmap.insert_many(xyz, cov, np.full(4, 10), first, first + S, np.array([1, 1, 2, 4]))
    assert fmap.consolidate() == 1
    assert fmap.count() == 3


def test_bulk_insert_and_flowers_table() -> None:
    fmap = FlowerMap(enu_config(), CAMS)
    n = 5000
    rng = np.random.default_rng(0)
    xyz = np.column_stack([rng.uniform(0, 100, n), rng.uniform(0, 4, n), np.full(n, 0.7)])
    fmap.insert_many(xyz, np.repeat(np.eye(2)[None] * 1e-4, n, axis=0), np.ones(n, int), np.zeros(n, int),
                     np.ones(n, int), np.ones(n, int))
    t = fmap.flowers()
    assert len(t) == n == fmap.count()
    np.testing.assert_allclose(t.xyz, xyz)
    assert t.ids.tolist() == list(range(1, n + 1))
    # a new track near flower 0 finds it through the grid (no linear scan)
    est = _estimate(1, xyz[0], 300.0, 302.0, seed=5)
    assert fmap.add_track(est) == 1 and fmap.count() == n


def test_low_scoring_look_alikes_are_kept_but_not_reported() -> None:
    fmap = FlowerMap(enu_config(min_flower_mean_score=0.6), CAMS)
    fmap.add_track(_estimate(1, np.array([2.0, 0.0, 0.8]), 3.0, 5.0, seed=1, score=0.5))
    assert fmap.count() == 0 and len(fmap.flowers()) == 0
    # the same object seen again with confident detections: now reported
    fmap.add_track(_estimate(0, np.array([2.0, 0.0, 0.8]), 3.0, 5.0, seed=2, score=0.9))
    fmap.add_track(_estimate(2, np.array([2.0, 0.0, 0.8]), 3.0, 5.0, seed=3, score=0.9))
    assert fmap.count() == 1 and len(fmap.flowers()) == 1
