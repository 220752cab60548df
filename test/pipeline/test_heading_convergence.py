"""The IMU's true heading is turned into the map's grid heading, on the user's path at a UTM zone's edge.

At 60 N 17.99 E the UTM grid is 2.6 deg from true north. The simulator's IMU reports yaw from true east, as a
real one does; mars-count on the run's rig.yaml (map_projection utm, heading_reference left at its default
'true_north') must count each flower once. The same bag counted with the heading left unconverted
(heading_reference 'map': what the fusion did before it knew about the convergence) splits flowers: 51 for 49
(seed 1) and 44 for 43 (seed 3).
"""
from __future__ import annotations

import pytest
import yaml

from mars_pipeline.bag_counting import count_bag
from mars_pipeline.count_outputs import write_outputs
from mars_sim import simulate, write_run
from mars_sim.evaluation.run_evaluation import evaluate_run

pytestmark = pytest.mark.slow

ZONE_EDGE_ROW = {"field": {"rows": 1, "row_length_m": 12.0}, "drive": {"headland_m": 0.8},
                 "datum": {"latitude": 60.0, "longitude": 17.99}}


def _count(run, out, robot_config=None):
    write_outputs(count_bag(run / "bag", robot_config=robot_config), out)
    return evaluate_run(run / "truth", out)


@pytest.mark.parametrize("seed", [1, 3])
def test_a_true_imu_heading_at_a_zone_edge_counts_each_flower_once(tmp_path, seed):
    run = tmp_path / "run"
    result = simulate(ZONE_EDGE_ROW, seed=seed)
    assert abs(result.heading.grid_convergence.mean()) > 0.045   # 2.6 deg
    write_run(result, run)
    rig_yaml = yaml.safe_load((run / "rig.yaml").read_text())
    assert rig_yaml["fusion"]["map_projection"] == "utm" and "heading_reference" not in rig_yaml["fusion"]
    scores = _count(run, tmp_path / "count")
    assert scores["count"]["error"] == 0, scores["count"]
    assert scores["map"]["duplicates"] == 0 and scores["map"]["recall"] == 1.0
    assert scores["map"]["loc_error_median_m"] < 0.03
    # The control: the heading used as if it were already a grid heading splits flowers.
    rig_yaml["fusion"]["heading_reference"] = "map"
    unconverted = tmp_path / "rig_unconverted.yaml"
    unconverted.write_text(yaml.safe_dump(rig_yaml))
    control = _count(run, tmp_path / "count_unconverted", unconverted)
    assert control["count"]["error"] > 0 and control["map"]["duplicates"] > 0, control["count"]
