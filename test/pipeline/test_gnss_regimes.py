"""The count under degraded GNSS, on the user's path (simulate -> bag -> count_bag with defaults -> evaluate).

Short drives (one row of 12 m) per regime. Before pass registration and the RTK-float pose, two RTK float passes
over one row counted +63 % to +105 % (seeds 1-3); these bounds fail on that code.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from mars_pipeline.bag_counting import count_bag
from mars_pipeline.count_outputs import write_outputs
from mars_sim import simulate, write_run
from mars_sim.evaluation.run_evaluation import evaluate_run
from mars_sim.simulation import SimulationResult
from mars_sim.sensors import COVARIANCE_TYPE_UNKNOWN, STATUS_NO_FIX

pytestmark = pytest.mark.slow

ONE_ROW = {"field": {"rows": 1, "row_length_m": 12.0}, "drive": {"headland_m": 0.8}}


def _with_dropout(result: SimulationResult, from_s: float, to_s: float) -> SimulationResult:
    """The run with no fix from from_s to to_s after its start (what the receiver reports in a dropout)."""
    g = result.gnss
    t = (g.stamp_ns - result.start_time_ns) * 1e-9
    lost = (t >= from_s) & (t < to_s)
    nan = np.where(lost, np.nan, 1.0)
    gnss = dataclasses.replace(g, latitude=g.latitude * nan, longitude=g.longitude * nan, altitude=g.altitude * nan,
                               status=np.where(lost, STATUS_NO_FIX, g.status).astype(g.status.dtype),
                               covariance=np.where(lost[:, None], 0.0, g.covariance),
                               covariance_type=np.where(lost, COVARIANCE_TYPE_UNKNOWN,
                                                        g.covariance_type).astype(g.covariance_type.dtype),
                               measured_xyz=g.measured_xyz * nan[:, None])
    return dataclasses.replace(result, gnss=gnss)


def _count(tmp_path, config, seed, dropout_s=None):
    run = tmp_path / f"run{seed}"
    result = simulate(config, seed=seed)
    write_run(result if dropout_s is None else _with_dropout(result, *dropout_s), run)
    report = count_bag(run / "bag")
    summary = write_outputs(report, tmp_path / f"count{seed}")
    return evaluate_run(run / "truth", tmp_path / f"count{seed}"), summary


@pytest.mark.parametrize("seed", [1, 2])
def test_two_rtk_float_passes_over_one_row_count_each_flower_once(tmp_path, seed):
    config = dict(ONE_ROW, drive={"passes": 2, "headland_m": 0.8}, gnss={"mode": "rtk_float"})
    scores, summary = _count(tmp_path, config, seed)
    assert abs(scores["count"]["error_pct"]) <= 10.0, scores["count"]
    gnss = summary["gnss"]
    assert gnss["quality"] == "rtk_float" and gnss["fix_shares"]["rtk_float"] == 1.0
    assert gnss["revisits"], "the second pass over the row is found and its GNSS offset reported"
    assert any("RTK float" in w for w in gnss["warnings"])


@pytest.mark.parametrize("seed", [1, 2])
def test_a_4_s_dropout_mid_row_neither_splits_nor_loses_flowers(tmp_path, seed):
    config = dict(ONE_ROW, gnss={"mode": "rtk_fixed", "dropouts_per_minute": 3.0, "dropout_duration_s": 4.0})
    scores, summary = _count(tmp_path, config, seed)
    assert scores["count"]["error"] == 0, scores["count"]
    assert scores["map"]["duplicates"] == 0 and scores["map"]["recall"] == 1.0
    gnss = summary["gnss"]
    assert gnss["quality"] == "rtk_fixed" and gnss["fix_shares"]["no_fix"] > 0
    assert gnss["dropouts_bridged"] >= 1 and any("dropouts were bridged" in w for w in gnss["warnings"])


@pytest.mark.parametrize("seed", [1, 2])
def test_a_10_s_dropout_mid_row_is_dead_reckoned_and_loses_no_flowers(tmp_path, seed):
    # Longer than max_fix_gap_s: before dead reckoning the flowers seen in it got no pose and were lost.
    scores, summary = _count(tmp_path, dict(ONE_ROW, gnss={"mode": "rtk_fixed"}), seed, dropout_s=(9.0, 19.0))
    assert scores["count"]["error"] == 0, scores["count"]
    assert scores["map"]["duplicates"] == 0 and scores["map"]["recall"] == 1.0
    assert scores["map"]["loc_error_median_m"] <= 0.03, scores["map"]
    gnss = summary["gnss"]
    assert gnss["quality"] == "rtk_fixed" and gnss["fix_shares"]["no_fix"] > 0
    assert gnss["dropouts_dead_reckoned"] == 1 and gnss["gaps_not_bridged"] == 0
    assert gnss["longest_gap_s"] == pytest.approx(10.0, abs=0.2)
    assert any("dead-reckoned" in w for w in gnss["warnings"])


TWO_ROWS = {"field": {"rows": 2, "row_length_m": 20.0}, "drive": {"headland_m": 0.8}}


@pytest.mark.parametrize("seed", [1, 2])
def test_plain_gnss_without_imu_over_two_neighbouring_rows_maps_each_flower_once(tmp_path, seed):
    # The outer camera sees the neighbouring row; the pass over that row sees its flowers again metres away in
    # GNSS error. Before the row swath every such flower was mapped twice (+8.0 and +9.3 % on these drives, with
    # the swath +2.4 and +5.1 %): what is left are flowers split within a pass, whose plain-GNSS pose between
    # views seconds apart is off by centimetres (issue 14: relative motion from visual ego-motion).
    config = dict(TWO_ROWS, gnss={"mode": "gnss", "rate_hz": 5.0}, heading={"source": "none"})
    scores, summary = _count(tmp_path, config, seed)
    gnss = summary["gnss"]
    assert gnss["quality"] == "gnss" and gnss["row_swath_m"] is not None, gnss
    assert gnss["flowers_left_to_neighbouring_row"] > 0
    assert any("neighbouring row" in w for w in gnss["warnings"])
    assert abs(scores["count"]["error_pct"]) <= 6.0, scores["count"]
