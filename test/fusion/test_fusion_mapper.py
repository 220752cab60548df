"""FlowerMapper end to end on a synthetic drive through the real rig: counts, positions, ordering, loops."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial import cKDTree

from fusion_synthetic import enu_config, feed, make_field
from mars_fusion import FlowerMapper, GnssFix, TrackFrame


def _errors(mapper: FlowerMapper, truth: np.ndarray) -> np.ndarray:
    t = mapper.flowers()
    d, _ = cKDTree(truth[:, :2]).query(t.xyz[:, :2])
    return d


def test_every_flower_once_at_its_position() -> None:
    field = make_field(n_flowers=14, gnss_sd=0.01, box_sd_px=1.0, seed=3)
    mapper = FlowerMapper(enu_config(), field.rig)
    feed(mapper, field.messages)
    mapper.finalize()
    assert mapper.count() == int(field.visible.sum())
    assert np.median(_errors(mapper, field.flowers_xyz)) < 0.02
    t = mapper.flowers()
    assert np.all(t.n_tracks >= 2)                       # every flower seen by several cameras, merged
    assert mapper.diagnostics()["map_tracks_merged"] > 0


def test_shuffled_late_messages_give_the_same_map() -> None:
    field = make_field(n_flowers=10, gnss_sd=0.005, seed=4)
    ordered = FlowerMapper(enu_config(), field.rig)
    feed(ordered, field.messages)
    ordered.finalize()
    rng = np.random.default_rng(0)
    # every message delayed by up to 0.3 s (less than the 0.5 s reorder delay): arrival order scrambled
    arrival = np.array([m[0] for m in field.messages]) + rng.integers(0, 300_000_000, len(field.messages))
    shuffled = [field.messages[i] for i in np.argsort(arrival, kind="stable")]
    scrambled = FlowerMapper(enu_config(), field.rig)
    feed(scrambled, shuffled)
    scrambled.finalize()
    assert scrambled.count() == ordered.count()
    np.testing.assert_allclose(scrambled.flowers().xyz, ordered.flowers().xyz, atol=1e-9)
    assert scrambled.diagnostics().get("buffer_late_messages", 0) == 0


def test_bag_loop_starts_a_session_and_does_not_double_count() -> None:
    field = make_field(n_flowers=10, gnss_sd=0.005, seed=5)
    mapper = FlowerMapper(enu_config(), field.rig)
    feed(mapper, field.messages)
    feed(mapper, field.messages)        # the bag plays again from the start
    mapper.finalize()
    assert mapper.diagnostics()["session"] == 1
    assert mapper.count() == int(field.visible.sum())
    assert int(mapper.flowers().n_tracks.sum()) >= 2 * 3 * 5


def test_bad_fixes_are_counted_and_do_not_move_flowers() -> None:
    field = make_field(n_flowers=10, gnss_sd=0.005, seed=6)
    msgs = list(field.messages)
    bad = []
    for stamp, kind, payload in msgs:
        if kind == "fix" and (stamp // 100_000_000) % 37 == 5:
            bad.append((stamp + 50_000_000, "fix", GnssFix(stamp + 50_000_000, float("nan"), payload.longitude,
                                                            payload.altitude, 0, payload.position_covariance, 2)))
            bad.append((stamp + 60_000_000, "fix", GnssFix(stamp + 60_000_000, payload.latitude, payload.longitude,
                                                            payload.altitude, -1, payload.position_covariance, 2)))
            # a single wild fix 3 m off
            bad.append((stamp + 70_000_000, "fix", GnssFix(stamp + 70_000_000, payload.latitude + 3e-5,
                                                            payload.longitude, payload.altitude, 2,
                                                            payload.position_covariance, 2)))
    msgs = sorted(msgs + bad, key=lambda m: (m[0], m[1]))
    mapper = FlowerMapper(enu_config(), field.rig)
    feed(mapper, msgs)
    mapper.finalize()
    diag = mapper.diagnostics()
    n_bad = len(bad) // 3
    assert diag["fix_rejected_nan_position"] == n_bad and diag["fix_rejected_no_fix"] == n_bad
    assert diag["pose_outlier_fixes"] == n_bad
    assert mapper.count() == int(field.visible.sum())
    assert np.median(_errors(mapper, field.flowers_xyz)) < 0.02


def test_course_over_ground_without_heading_topic() -> None:
    field = make_field(n_flowers=10, gnss_sd=0.005, seed=7, with_heading=False)
    mapper = FlowerMapper(enu_config(heading_source="auto"), field.rig)
    feed(mapper, field.messages)
    mapper.finalize()
    assert mapper.count() == int(field.visible.sum())
    assert np.median(_errors(mapper, field.flowers_xyz)) < 0.03


def test_second_pass_in_the_other_direction_merges() -> None:
    first = make_field(n_flowers=10, gnss_sd=0.005, seed=8)
    back = make_field(flowers_xyz=first.flowers_xyz, gnss_sd=0.005, seed=9, direction=-1.0,
                      start_ns=first.start_ns + 60_000_000_000)
    mapper = FlowerMapper(enu_config(same_pass_gap_s=20.0), first.rig)
    feed(mapper, first.messages)
    feed(mapper, back.messages)
    mapper.finalize()
    assert mapper.count() == int(first.visible.sum())
    assert mapper.diagnostics()["map_multi_pass_candidates"] > 0


def test_unknown_camera_is_an_error_naming_it() -> None:
    field = make_field(n_flowers=3)
    mapper = FlowerMapper(enu_config(), field.rig)
    frame = TrackFrame("cam_top", 0, np.zeros(0), np.zeros((0, 4)), np.zeros(0), np.zeros(0), np.zeros(0))
    with pytest.raises(ValueError, match="cam_top"):
        mapper.add_tracks(frame)


def test_datum_from_first_good_fix() -> None:
    field = make_field(n_flowers=6, gnss_sd=0.005, seed=10)
    mapper = FlowerMapper(enu_config(datum_latitude=None, datum_longitude=None, datum_altitude=None), field.rig)
    feed(mapper, field.messages)
    mapper.finalize()
    snap = mapper.snapshot()
    # positions relative to the first fix (x = 0 at the start) still give the right lat/lon
    ref = make_field(n_flowers=6, gnss_sd=0.005, seed=10)
    mapper2 = FlowerMapper(enu_config(), ref.rig)
    feed(mapper2, ref.messages)
    mapper2.finalize()
    snap2 = mapper2.snapshot()
    np.testing.assert_allclose(snap.latitude, snap2.latitude, atol=2e-8)
    np.testing.assert_allclose(snap.longitude, snap2.longitude, atol=2e-8)
