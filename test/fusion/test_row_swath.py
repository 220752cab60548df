"""The own row's swath from the tracks' lateral offsets, and the flowers it leaves to a neighbouring row's pass."""
from __future__ import annotations

import numpy as np
import pytest

from fusion_synthetic import enu_config
from mars_fusion.flower_map import FlowerMap
from mars_fusion.flower_map.row_swath import LateralHistogram, RowSwath
from mars_fusion.geolocation import TrackEstimate

S = 1_000_000_000
CAMS = ("cam_left", "cam_center", "cam_right")


def _laterals(rng, own: int, spacing: float, left: int = 0, right: int = 0, spread: float = 0.12) -> np.ndarray:
    return np.concatenate([rng.normal(0.0, spread, own), rng.normal(spacing, spread, left),
                           rng.normal(-spacing, spread, right)])


@pytest.mark.parametrize("spacing", [0.76, 0.97, 1.5])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_swath_edge_is_the_valley_between_the_own_and_the_neighbouring_rows(spacing, seed) -> None:
    rng = np.random.default_rng(seed)
    h = LateralHistogram()
    h.add(_laterals(rng, own=600, spacing=spacing, left=30, right=12))
    swath = h.swath()
    assert swath is not None and swath.left_m is not None and swath.right_m is not None
    # The valley lies between the rows: well outside the own row's flowers, well inside the neighbour's.
    for edge in (swath.left_m, swath.right_m):
        assert 0.3 * spacing < edge < 0.7 * spacing, (spacing, swath)
    assert swath.inside(np.array([0.0, 0.2, -0.2])).all()
    assert not swath.inside(np.array([spacing, -spacing])).any()


def test_one_side_only_and_no_neighbour_at_all() -> None:
    rng = np.random.default_rng(4)
    h = LateralHistogram()
    h.add(_laterals(rng, own=500, spacing=0.97, left=25))
    swath = h.swath()
    assert swath is not None and swath.left_m is not None and swath.right_m is None
    assert swath.inside(-2.0) and not swath.inside(1.0)
    alone = LateralHistogram()
    alone.add(_laterals(rng, own=500, spacing=0.97))
    assert alone.swath() is None


def test_no_swath_from_few_tracks_scattered_false_positives_or_a_drive_between_rows() -> None:
    rng = np.random.default_rng(5)
    few = LateralHistogram()
    few.add(_laterals(rng, own=30, spacing=0.97, left=10))
    assert few.swath() is None
    noisy = LateralHistogram()
    noisy.add(np.concatenate([rng.normal(0.0, 0.12, 500), rng.uniform(-1.5, 1.5, 10)]))
    assert noisy.swath() is None, "a few scattered tracks are no neighbouring row"
    between = LateralHistogram()
    between.add(np.concatenate([rng.normal(0.48, 0.1, 300), rng.normal(-0.48, 0.1, 300)]))
    assert between.swath() is None, "the robot drives between two rows: no own row under it"
    nan = LateralHistogram()
    nan.add(np.array([np.nan, np.inf, 5.0]))
    assert nan.n_tracks == 0


def _estimate(point: np.ndarray, lateral: float, gnss_var: float, t0: float, track_id: int) -> TrackEstimate:
    stamps = (np.arange(int(t0 * 15), int(t0 * 15) + 20) * (S // 15)).astype(np.int64)
    origins = np.column_stack([point[0] + 0.5 * (stamps - stamps.mean()) / S, np.full(stamps.shape, point[1] - lateral),
                               np.full(stamps.shape, 1.6)])
    dirs = point - origins
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    return TrackEstimate("cam_center", 1, track_id, 0, point.copy(), np.eye(2) * 4e-5, gnss_var, stamps, origins,
                         dirs, np.full(stamps.shape, 0.005), 0.0, 1e-4, score_sum=0.85 * stamps.shape[0],
                         lateral_m=lateral, yaw=0.0)


@pytest.mark.parametrize("gnss_sd,left_out", [(0.02, False), (0.2, True), (1.5, True)])
def test_beyond_rtk_fixed_a_flower_seen_only_from_the_neighbouring_row_is_kept_but_not_counted(gnss_sd, left_out):
    fmap = FlowerMap(enu_config(), CAMS)
    rng = np.random.default_rng(6)
    fmap.laterals.add(_laterals(rng, own=500, spacing=0.97, left=30))
    own = _estimate(np.array([1.0, 0.05, 0.8]), 0.05, gnss_sd ** 2, 1.0, 1)
    across = _estimate(np.array([3.0, 0.9, 0.8]), 0.9, gnss_sd ** 2, 3.0, 2)
    fmap.add_track(own)
    flower = fmap.add_track(across)
    assert fmap.row_swath() is not None
    assert fmap.count() == (1 if left_out else 2)
    assert fmap.outside_own_row_count() == (1 if left_out else 0)
    assert len(fmap.store_columns()["ids"]) == 2, "the flower stays in the map (resume, later passes)"
    # The pass over its own row counts it once: as the same flower (RTK fixed) or as its own-row flower, the
    # neighbouring row's view staying unreported.
    fmap.add_track(_estimate(np.array([3.0, 0.9, 0.8]), -0.07, gnss_sd ** 2, 200.0, 3))
    assert fmap.count() == 2
    if not left_out:
        assert fmap.current_id(flower) in fmap.flowers().ids.tolist()


def test_an_explicit_swath_half_width_switches_the_derived_swath_off() -> None:
    fmap = FlowerMap(enu_config(swath_half_width_m=0.5), CAMS)
    fmap.laterals.add(_laterals(np.random.default_rng(7), own=500, spacing=0.97, left=30))
    assert fmap.row_swath() is None


def test_swath_as_dict() -> None:
    assert RowSwath(0.481, None).as_dict() == {"left_m": 0.481, "right_m": None}
