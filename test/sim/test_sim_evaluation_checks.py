"""mars-eval beyond the scores: --radius auto, duplicated true flowers, scoring in the truth's frame whatever the
result's map frame, and truths and results of different runs told apart (issues 14 and 17)."""
from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path
from typing import Dict, Optional

import numpy as np
import pytest

from mars_core.geometry.map_frame import MapFrame
from mars_fusion.map_store import MapState, save_map
from mars_sim import simulate, write_run
from mars_sim.evaluation import map_scores
from mars_sim.evaluation.cli import main as eval_main
from mars_sim.evaluation.run_evaluation import AUTO_RADIUS_SIGMAS, DEFAULT_MATCH_RADIUS_M, evaluate_run
from mars_sim.evaluation.run_facts import RESULT_MAP_STATE_FILE, read_truth_run

NS = 1_000_000_000


def _observed(truth: Path):
    return [r for r in csv.DictReader(open(truth / "flowers.csv")) if r["observed"] == "1"]


def _write(out: Path, rows, columns=("id", "x", "y", "lat", "lon"), summary: Optional[Dict] = None) -> Path:
    """A result folder: flowers.csv with the given columns (rows: dicts) and optionally summary.json."""
    out.mkdir(parents=True)
    with open(out / "flowers.csv", "w") as fh:
        fh.write(",".join(columns) + "\n")
        for r in rows:
            fh.write(",".join(str(r[c]) for c in columns) + "\n")
    if summary is not None:
        (out / "summary.json").write_text(json.dumps(summary))
    return out


def _shifted_rows(truth: Path, dx: float, dy: float = 0.0):
    """The observed true flowers moved by (dx, dy) in the truth's frame, x,y and lat,lon alike."""
    datum = read_truth_run(truth).datum
    rows = []
    for r in _observed(truth):
        x, y = float(r["x"]) + dx, float(r["y"]) + dy
        lat, lon, _ = datum.geodetic_from_map(np.array([x]), np.array([y]))
        rows.append({"id": r["id"], "x": x, "y": y, "lat": f"{lat[0]:.9f}", "lon": f"{lon[0]:.9f}"})
    return rows


def _gnss_summary(sd: float, quality: str = "RTK float") -> Dict:
    return {"gnss": {"median_reported_sd_m": sd, "quality_name": quality}}


# ----------------------------------------------------------------------------------------- --radius auto
def test_radius_auto_scales_with_the_reported_gnss_sd(quick_run_dir, tmp_path, capsys):
    truth = quick_run_dir / "truth"
    # A map off by 0.3 m everywhere, as RTK float with 0.2 m reported sd leaves it: within 0.15 m only chance
    # neighbours match.
    res = _write(tmp_path / "float", _shifted_rows(truth, 0.3), summary=_gnss_summary(0.2))
    default = evaluate_run(truth, res)["map"]
    assert default["radius_m"] == DEFAULT_MATCH_RADIUS_M and default["recall"] < 0.5
    auto = evaluate_run(truth, res, "auto")["map"]
    assert auto["radius_m"] == pytest.approx(AUTO_RADIUS_SIGMAS * 0.2) and auto["recall"] == 1.0
    assert "2.45 x the median reported GNSS sd 0.200 m (RTK float)" in auto["radius_reason"]
    assert eval_main(["--truth", str(truth), "--result", str(res), "--radius", "auto"]) == 0
    printed = capsys.readouterr().out
    assert "radius    0.49 m (auto: 2.45 x the median reported GNSS sd 0.200 m" in printed


def test_radius_auto_never_goes_below_the_default(quick_run_dir, tmp_path):
    truth = quick_run_dir / "truth"
    res = _write(tmp_path / "fixed", _shifted_rows(truth, 0.0), summary=_gnss_summary(0.015, "RTK fixed"))
    m = evaluate_run(truth, res, "auto")["map"]
    assert m["radius_m"] == DEFAULT_MATCH_RADIUS_M and "below the floor" in m["radius_reason"]


def test_radius_auto_without_a_gnss_report_is_a_clear_error(quick_run_dir, tmp_path, capsys):
    truth = quick_run_dir / "truth"
    res = _write(tmp_path / "plain", _shifted_rows(truth, 0.0))
    assert eval_main(["--truth", str(truth), "--result", str(res), "--radius", "auto"]) == 2
    err = capsys.readouterr().err
    assert "--radius auto needs" in err and "summary.json" in err and "Traceback" not in err


def test_radius_auto_on_a_count_without_any_fix_is_the_default(quick_run_dir, tmp_path):
    # mars-count without GNSS writes an empty flowers.csv and reports a 0 sd: scored, with the reason.
    res = _write(tmp_path / "nofix", [], columns=("id", "x", "y", "z", "lat", "lon"), summary=_gnss_summary(0.0))
    scores = evaluate_run(quick_run_dir / "truth", res, "auto")
    m = scores["map"]
    assert m["radius_m"] == DEFAULT_MATCH_RADIUS_M and "no accepted fix" in m["radius_reason"]
    assert m["recall"] == 0.0 and m["positions"] == "no flowers in the result" and scores["count"]["predicted"] == 0


@pytest.mark.parametrize("value", ["-1", "0", "nan", "inf", "autox", "", "0.1m"])
def test_bad_radius_values_exit_2_naming_the_option(quick_run_dir, tmp_path, capsys, value):
    truth = quick_run_dir / "truth"
    res = _write(tmp_path / "r", _shifted_rows(truth, 0.0))
    with pytest.raises(SystemExit) as exc:
        eval_main(["--truth", str(truth), "--result", str(res), f"--radius={value}"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "--radius" in err and "positive number of metres or 'auto'" in err and "Traceback" not in err


# ----------------------------------------------------------------------------------------- duplicates
def test_duplicates_are_true_flowers_with_more_than_one_map_flower():
    # Three true flowers 0.1 m apart (closer than the radius): a perfect map has no duplicates.
    true_xy = np.array([[0.0, 0.0], [0.1, 0.0], [0.2, 0.0], [5.0, 0.0]])
    perfect = map_scores(true_xy, true_xy.copy(), 0.15)
    assert perfect["duplicated_true"] == 0 and perfect["duplicates"] == 0
    # Flower 0 mapped three times, flower 3 twice: two true flowers duplicated by three surplus map flowers.
    pred = np.concatenate([true_xy, [[0.02, 0.01], [-0.03, 0.0], [5.05, 0.0]]])
    m = map_scores(true_xy, pred, 0.15)
    assert m["matched"] == 4 and m["duplicates"] == 3
    assert m["duplicated_true"] == 2 and m["duplicated_true_pct"] == pytest.approx(50.0)
    assert m["false_positives"] == 0


def test_cli_states_the_duplicates_definition(quick_run_dir, tmp_path, capsys):
    truth = quick_run_dir / "truth"
    rows = _shifted_rows(truth, 0.0)
    rows.append(dict(rows[0], id=99999))
    res = _write(tmp_path / "dup", rows)
    out = tmp_path / "s.json"
    assert eval_main(["--truth", str(truth), "--result", str(res), "--json", str(out)]) == 0
    assert "duplicates 1 true flowers" in capsys.readouterr().out
    s = json.loads(out.read_text())["map"]
    assert s["duplicated_true"] == 1 and s["duplicated_true_pct"] == pytest.approx(100 / len(_observed(truth)))


# ----------------------------------------------------------------------------------------- one frame
def _rows_in_frame(truth: Path, frame: MapFrame):
    """The observed true flowers with x,y in another map frame (and their true lat,lon)."""
    rows = []
    for r in _observed(truth):
        x, y, _ = frame.map_from_geodetic(np.array([float(r["lat"])]), np.array([float(r["lon"])]),
                                          np.array([float(r["alt"])]))
        rows.append({"id": r["id"], "x": x[0], "y": y[0], "lat": r["lat"], "lon": r["lon"]})
    return rows


@pytest.mark.parametrize("projection, north_m", [("enu", 0.0), ("utm", 40.0), ("enu", 40.0)])
def test_a_result_in_another_map_frame_scores_as_in_the_truths(quick_run_dir, tmp_path, projection, north_m):
    # The fusion's own default frame is ENU, and without a configured datum its origin is the first fix.
    truth = quick_run_dir / "truth"
    datum = read_truth_run(truth).datum
    lat, lon, _ = datum.geodetic_from_map(np.array([0.0]), np.array([north_m]))
    frame = MapFrame(float(lat[0]), float(lon[0]), datum.altitude, projection)
    scores = evaluate_run(truth, _write(tmp_path / "other", _rows_in_frame(truth, frame)))
    m = scores["map"]
    assert m["f1"] == 1.0 and m["loc_error_p90_m"] < 1e-3
    assert "lat,lon" in m["positions"] and "another map frame" in m["positions"]


def test_xy_only_result_is_converted_from_its_stated_frame(quick_run_dir, tmp_path):
    truth = quick_run_dir / "truth"
    datum = read_truth_run(truth).datum
    frame = MapFrame(datum.latitude, datum.longitude, datum.altitude, "enu")
    res = _write(tmp_path / "xy", _rows_in_frame(truth, frame), columns=("id", "x", "y"))
    empty = {"ids": np.zeros(0, np.int64), "xyz": np.zeros((0, 3)), "cov": np.zeros((0, 3, 3)),
             "n_obs": np.zeros(0, np.int64), "n_tracks": np.zeros(0, np.int64),
             "camera_mask": np.zeros(0, np.int64), "first_ns": np.zeros(0, np.int64),
             "last_ns": np.zeros(0, np.int64), "gnss_var": np.zeros(0), "score_sum": np.zeros(0),
             "path_xy": np.zeros((0, 2))}
    save_map(MapState((datum.latitude, datum.longitude, datum.altitude), "enu", ("cam_left",), 1, empty, {}),
             res / RESULT_MAP_STATE_FILE)
    m = evaluate_run(truth, res)["map"]
    assert m["f1"] == 1.0 and m["loc_error_p90_m"] < 1e-3 and "converted from its 'enu' frame" in m["positions"]


def test_the_map_state_file_name_is_mars_counts():
    from mars_pipeline.season_merge import MAP_STATE_FILE
    assert RESULT_MAP_STATE_FILE == MAP_STATE_FILE


@pytest.mark.slow
def test_a_count_in_enu_scores_the_same_f1_as_in_utm(quick_run_dir, tmp_path):
    """Issue 17 defect 9: `fusion.map_projection: enu` instead of the simulator's utm scored F1 0.15 on x,y."""
    import yaml

    from mars_pipeline.count_cli import main as mars_count
    rig = yaml.safe_load((quick_run_dir / "rig.yaml").read_text())
    assert rig["fusion"]["map_projection"] == "utm"
    rig["fusion"]["map_projection"] = "enu"
    (tmp_path / "enu.yaml").write_text(yaml.safe_dump(rig))
    bag = str(quick_run_dir / "bag")
    assert mars_count([bag, "--out", str(tmp_path / "utm"), "--no-progress"]) == 0
    assert mars_count([bag, "--out", str(tmp_path / "enu"), "--config", str(tmp_path / "enu.yaml"),
                       "--no-progress"]) == 0
    truth = quick_run_dir / "truth"
    utm, enu = evaluate_run(truth, tmp_path / "utm")["map"], evaluate_run(truth, tmp_path / "enu")["map"]
    assert utm["f1"] >= 0.95 and enu["f1"] == pytest.approx(utm["f1"], abs=0.01)
    assert enu["loc_error_median_m"] == pytest.approx(utm["loc_error_median_m"], abs=0.01)
    # Without lat,lon the x,y are converted from the frame map_state.npz states.
    rows = list(csv.DictReader(open(tmp_path / "enu" / "flowers.csv")))
    with open(tmp_path / "enu" / "flowers.csv", "w") as fh:
        fh.write("id,x,y,z\n" + "".join(f"{r['id']},{r['x']},{r['y']},{r['z']}\n" for r in rows))
    xy_only = evaluate_run(truth, tmp_path / "enu")["map"]
    assert "converted from its 'enu' frame" in xy_only["positions"]
    assert xy_only["f1"] == pytest.approx(enu["f1"], abs=0.01)


# ----------------------------------------------------------------------------------------- mismatched runs
@pytest.fixture(scope="module")
def other_run(tmp_path_factory) -> Path:
    """The same preset with another seed: same datum, cameras and drive times, other flowers."""
    return write_run(simulate("quick", seed=8), tmp_path_factory.mktemp("other") / "run")


def _with_tracks(res: Path, run_truth: Path) -> Path:
    (res / "tracks").mkdir()
    for cam in (run_truth / "mot").iterdir():
        shutil.copy(cam / "gt.txt", res / "tracks" / f"{cam.name}.txt")
    return res


def test_a_result_of_another_seed_is_named_as_such(quick_run_dir, other_run, tmp_path, capsys):
    truth = quick_run_dir / "truth"
    res = _with_tracks(_write(tmp_path / "foreign", _shifted_rows(other_run / "truth", 0.0),
                              summary={"bag": str(other_run / "bag")}), other_run / "truth")
    checks = evaluate_run(truth, res)["checks"]
    assert any(c.startswith("tracks differ") for c in checks)
    assert any(c.startswith("source differs") and "seed 8" in c and "seed 7" in c for c in checks)
    assert eval_main(["--truth", str(truth), "--result", str(res)]) == 0     # same place and time: warned only
    err = capsys.readouterr().err
    assert "mars-eval: warning: tracks differ" in err and "mars-eval: warning: source differs" in err
    # Its own truth has nothing to say.
    assert evaluate_run(other_run / "truth", res)["checks"] == []


def _timed_rows(truth: Path, first_s: float, last_s: float):
    start = read_truth_run(truth).start_ns
    rows = _shifted_rows(truth, 0.0)
    times = np.linspace(first_s, last_s, len(rows))
    for r, t in zip(rows, times):
        r["first_seen_ns"] = r["last_seen_ns"] = int(start + t * NS)
    return rows


TIMED = ("id", "x", "y", "lat", "lon", "first_seen_ns", "last_seen_ns")


def test_a_result_seen_at_other_times_is_refused(quick_run_dir, tmp_path, capsys):
    truth = quick_run_dir / "truth"
    res = _write(tmp_path / "later", _timed_rows(truth, 3600.0, 3610.0), columns=TIMED)
    assert eval_main(["--truth", str(truth), "--result", str(res)]) == 2
    err = capsys.readouterr().err
    assert "does not belong to the truth" in err and "were seen from" in err and "different runs" in err
    assert "Traceback" not in err


def test_a_result_from_another_field_is_refused(quick_run_dir, tmp_path, capsys):
    truth = quick_run_dir / "truth"
    res = _write(tmp_path / "elsewhere", _shifted_rows(truth, 3000.0, -2000.0))
    assert eval_main(["--truth", str(truth), "--result", str(res)]) == 2
    err = capsys.readouterr().err
    assert "does not belong to the truth" in err and "another field" in err and "Traceback" not in err


def test_a_partial_run_is_evaluated_with_a_note(quick_run_dir, tmp_path, capsys):
    # A bag cut short half way: its flowers were seen in the first half, and it lasted half as long.
    truth = quick_run_dir / "truth"
    run = read_truth_run(truth)
    span_s = (run.end_ns - run.start_ns) / NS
    rows = _timed_rows(truth, 0.5, span_s / 2)
    res = _write(tmp_path / "cut", rows[: len(rows) // 2], columns=TIMED,
                 summary={"bag_duration_s": span_s / 2, "per_camera": {c: 1 for c in run.cameras}})
    assert eval_main(["--truth", str(truth), "--result", str(res)]) == 0
    err = capsys.readouterr().err
    assert "partial run" in err and "differ" not in err


def test_cameras_that_differ_are_named(quick_run_dir, tmp_path):
    truth = quick_run_dir / "truth"
    res = _with_tracks(_write(tmp_path / "cams", _shifted_rows(truth, 0.0)), truth)
    (res / "tracks" / "cam_right.txt").unlink()
    shutil.copy(res / "tracks" / "cam_left.txt", res / "tracks" / "cam_rear.txt")
    checks = evaluate_run(truth, res)["checks"]
    cams = [c for c in checks if c.startswith("cameras differ")]
    assert len(cams) == 1 and "only in the truth: cam_right" in cams[0] and "only in the result: cam_rear" in cams[0]


def test_the_same_run_has_no_warnings(quick_run_dir, tmp_path):
    truth = quick_run_dir / "truth"
    run = read_truth_run(truth)
    span_s = (run.end_ns - run.start_ns) / NS
    res = _with_tracks(_write(tmp_path / "same", _timed_rows(truth, 0.5, span_s - 0.5), columns=TIMED,
                              summary={"bag_duration_s": span_s, "bag": str(quick_run_dir / "bag"),
                                       "gnss": {"datum": [run.datum.latitude, run.datum.longitude,
                                                          run.datum.altitude]}}), truth)
    assert evaluate_run(truth, res)["checks"] == []


# ----------------------------------------------------------------------------------------- bad inputs
def _copy_truth(quick_run_dir: Path, dest: Path) -> Path:
    shutil.copytree(quick_run_dir / "truth", dest)
    return dest


@pytest.mark.parametrize("case", ["no_truth", "no_result", "summary_not_json", "summary_a_list", "world_not_yaml",
                                  "world_a_string", "truth_without_xy", "result_bad_number", "result_no_position",
                                  "map_state_corrupt_xy_only", "json_unwritable"])
def test_bad_inputs_exit_2_with_a_clear_message(quick_run_dir, tmp_path, capsys, case):
    truth = _copy_truth(quick_run_dir, tmp_path / "truth")
    res = _write(tmp_path / "res", _shifted_rows(truth, 0.0))
    extra = []
    expected = ""
    if case == "no_truth":
        truth, expected = tmp_path / "nothing", "truth folder"
    elif case == "no_result":
        res, expected = tmp_path / "nothing", "result folder"
    elif case == "summary_not_json":
        (res / "summary.json").write_text("{not json")
        expected = "summary.json is not valid JSON"
    elif case == "summary_a_list":
        (res / "summary.json").write_text("[1, 2]")
        expected = "summary.json must be a JSON object"
    elif case == "world_not_yaml":
        (truth / "world.yaml").write_text("datum: [unclosed\n")
        expected = "world.yaml is not valid YAML"
    elif case == "world_a_string":
        (truth / "world.yaml").write_text("hello world\n")
        expected = "world.yaml must be a mapping"
    elif case == "truth_without_xy":
        (truth / "flowers.csv").write_text("id,lat,lon\n1,31.4,-83.5\n")
        expected = "lacks column 'x'"
    elif case == "result_bad_number":
        (res / "flowers.csv").write_text("id,x,y\n1,0.5,abc\n")
        expected = "column 'y' has non-numeric value 'abc'"
    elif case == "result_no_position":
        (res / "flowers.csv").write_text("id,lat,lon\n1,,\n")
        expected = "1 flowers have no finite position (lat,lon)"
    elif case == "map_state_corrupt_xy_only":
        # A corrupt map_state.npz is said and not used; x,y alone are then scored unchecked, which the reason says.
        (res / "flowers.csv").write_text("id,x,y\n1,0.1,0.1\n")
        (res / RESULT_MAP_STATE_FILE).write_bytes(b"garbage")
        assert eval_main(["--truth", str(truth), "--result", str(res)]) == 0
        captured = capsys.readouterr()
        assert "map_state.npz is corrupt" in captured.err and "unchecked" in captured.out
        return
    elif case == "json_unwritable":
        (tmp_path / "file").write_text("")
        extra, expected = ["--json", str(tmp_path / "file" / "s.json")], "cannot write --json"
    assert eval_main(["--truth", str(truth), "--result", str(res), *extra]) == 2
    err = capsys.readouterr().err
    assert expected in err and "Traceback" not in err
