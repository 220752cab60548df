"""The evaluator scores known answers correctly, and reproduces motmetrics' own figures on external data."""
from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from mars_sim.evaluation import evaluate_run, map_scores, read_mot, tracking_scores, write_mot
from mars_sim.evaluation.cli import main as eval_main
from mars_sim.evaluation.mot_files import MotFileError, MotTable
from mars_sim.evaluation.run_evaluation import EvaluationInputError
from mars_sim.evaluation.run_facts import read_truth_run


def _write_result(truth: Path, out: Path, shift=(0.0, 0.0), drop=0, extra=(), tracks=True) -> Path:
    """A pipeline result built from the truth: observed flowers (optionally shifted, x,y and lat,lon alike) and the
    gt tracks."""
    rows = [r for r in csv.DictReader(open(truth / "flowers.csv")) if r["observed"] == "1"]
    rows = rows[drop:]
    out.mkdir(parents=True)
    datum = read_truth_run(truth).datum
    with open(out / "flowers.csv", "w") as fh:
        fh.write("id,x,y,lat,lon\n")
        for r in rows:
            x, y = float(r["x"]) + shift[0], float(r["y"]) + shift[1]
            lat, lon = (r["lat"], r["lon"]) if shift == (0.0, 0.0) else \
                (f"{v[0]:.9f}" for v in datum.geodetic_from_map(np.array([x]), np.array([y]))[:2])
            fh.write(f"{r['id']},{x},{y},{lat},{lon}\n")
        for i, (x, y) in enumerate(extra):
            fh.write(f"{90000 + i},{x},{y},,\n")
    if not tracks:
        return out
    (out / "tracks").mkdir()
    for cam in (truth / "mot").iterdir():
        shutil.copy(cam / "gt.txt", out / "tracks" / f"{cam.name}.txt")
    return out


def test_perfect_result_scores_zero_error(quick_run_dir, tmp_path):
    truth = quick_run_dir / "truth"
    scores = evaluate_run(truth, _write_result(truth, tmp_path / "perfect"))
    c, m = scores["count"], scores["map"]
    assert c["predicted"] == c["true"] > 20 and c["error_pct"] == 0.0
    assert m["precision"] == m["recall"] == m["f1"] == 1.0
    assert m["loc_error_median_m"] == m["loc_error_p90_m"] == 0.0 and m["duplicates"] == 0
    assert set(scores["tracking"]) == {"cam_left", "cam_center", "cam_right"}
    for t in scores["tracking"].values():
        assert t["HOTA"] == pytest.approx(1.0) and t["MOTA"] == 1.0 and t["IDF1"] == 1.0 and t["IDSW"] == 0


def test_shifted_map_reports_the_shift(quick_run_dir, tmp_path):
    truth = quick_run_dir / "truth"
    scores = evaluate_run(truth, _write_result(truth, tmp_path / "shifted", shift=(0.03, -0.04), tracks=False), radius_m=0.15)
    m = scores["map"]
    assert m["loc_error_median_m"] == pytest.approx(0.05, abs=2e-4)
    assert m["loc_error_p90_m"] == pytest.approx(0.05, abs=2e-4)
    assert m["mean_offset_x_m"] == pytest.approx(0.03, abs=2e-4) and m["mean_offset_y_m"] == pytest.approx(-0.04, abs=2e-4)
    assert m["recall"] == 1.0
    # Beyond the radius nothing matches.
    far = evaluate_run(truth, _write_result(truth, tmp_path / "far", shift=(0.5, 0.0), tracks=False), radius_m=0.15)["map"]
    assert far["matched"] < m["matched"]


def test_missing_flowers_and_duplicates(quick_run_dir, tmp_path):
    truth = quick_run_dir / "truth"
    rows = [r for r in csv.DictReader(open(truth / "flowers.csv")) if r["observed"] == "1"]
    dup = [(float(rows[-1]["x"]) + 0.02, float(rows[-1]["y"]))]
    far = [(1000.0, 1000.0)]
    scores = evaluate_run(truth, _write_result(truth, tmp_path / "r", drop=3, extra=dup + far, tracks=False))
    c, m = scores["count"], scores["map"]
    n = len(rows)
    assert c["true"] == n and c["predicted"] == n - 3 + 2
    assert c["error_pct"] == pytest.approx(100.0 * (-1) / n)
    assert m["matched"] == n - 3 and m["missed"] == 3 and m["duplicates"] == 1 and m["false_positives"] == 1
    assert m["precision"] == pytest.approx((n - 3) / (n - 1)) and m["recall"] == pytest.approx((n - 3) / n)
    assert scores["tracking"] == {}     # no tracks folder: map and count only


def test_hungarian_matching_is_one_to_one_and_optimal():
    true_xy = np.array([[0.0, 0.0], [0.1, 0.0]])
    pred_xy = np.array([[0.06, 0.0], [0.16, 0.0]])
    # Greedy nearest would give true 1 <- pred 0 (0.04) and leave true 0 with 0.06; optimal total is 0.12.
    m = map_scores(true_xy, pred_xy, radius_m=0.1)
    assert m["matched"] == 2 and m["loc_error_median_m"] == pytest.approx(0.06)


def _track(frames, tid, x0=10.0):
    f = np.asarray(frames)
    return np.column_stack([f, np.full(f.size, tid), x0 + 5.0 * f, np.full(f.size, 50.0), np.full(f.size, 30.0),
                            np.full(f.size, 30.0), np.ones(f.size)])


def test_one_changed_id_is_one_id_switch():
    gt = MotTable.from_rows(np.concatenate([_track(range(1, 21), 1), _track(range(1, 21), 2, x0=300.0)]))
    changed = np.concatenate([_track(range(1, 11), 1), _track(range(11, 21), 7), _track(range(1, 21), 2, x0=300.0)])
    s = tracking_scores(gt, MotTable.from_rows(changed))
    assert s["IDSW"] == 1 and s["MOTA"] == pytest.approx(1 - 1 / 40) and s["FP"] == 0 and s["FN"] == 0
    assert s["IDF1"] < 1.0 and s["HOTA"] < 1.0
    # Swapping the ids of the two tracks from frame 11 on: both switch.
    swapped = np.concatenate([_track(range(1, 11), 1), _track(range(11, 21), 2), _track(range(1, 11), 2, x0=300.0),
                              _track(range(11, 21), 1, x0=300.0)])
    assert tracking_scores(gt, MotTable.from_rows(swapped))["IDSW"] == 2


def test_external_motchallenge_files_reproduce_motmetrics_reference(tmp_path):
    import motmetrics
    data = Path(motmetrics.__file__).parent / "data" / "TUD-Campus"
    s = tracking_scores(read_mot(data / "gt.txt", is_ground_truth=True), read_mot(data / "test.txt"))
    # motmetrics' published figures for this sequence (motmetrics/tests/test_metrics.py).
    assert s["IDF1"] == pytest.approx(0.557659, abs=1e-6) and s["MOTA"] == pytest.approx(0.526462, abs=1e-6)
    assert (s["IDSW"], s["FP"], s["FN"]) == (7, 13, 150)
    assert 0.0 < s["HOTA"] < 1.0
    # Through the CLI, to JSON.
    out = tmp_path / "tud.json"
    assert eval_main(["--mot-gt", str(data / "gt.txt"), "--mot-tracks", str(data / "test.txt"), "--json", str(out)]) == 0
    scores = json.loads(out.read_text())
    assert scores["tracking"]["TUD-Campus"]["IDSW"] == 7


def test_cli_json_has_the_documented_keys(quick_run_dir, tmp_path, capsys):
    truth = quick_run_dir / "truth"
    res = _write_result(truth, tmp_path / "res", shift=(0.01, 0.0))
    out = tmp_path / "scores.json"
    assert eval_main(["--truth", str(truth), "--result", str(res), "--json", str(out)]) == 0
    s = json.loads(out.read_text())
    for key in ("predicted", "true", "error_pct"):
        assert key in s["count"]
    for key in ("precision", "recall", "loc_error_median_m", "loc_error_p90_m", "duplicates"):
        assert key in s["map"]
    for cam in ("cam_left", "cam_center", "cam_right"):
        assert {"HOTA", "MOTA", "IDF1", "IDSW"} <= set(s["tracking"][cam])
    assert "HOTA" in capsys.readouterr().out


def test_latlon_only_results_are_converted_with_the_truth_datum(quick_run_dir, tmp_path):
    truth = quick_run_dir / "truth"
    rows = [r for r in csv.DictReader(open(truth / "flowers.csv")) if r["observed"] == "1"]
    (tmp_path / "ll").mkdir()
    with open(tmp_path / "ll" / "flowers.csv", "w") as fh:
        fh.write("lat,lon\n" + "".join(f"{r['lat']},{r['lon']}\n" for r in rows))
    m = evaluate_run(truth, tmp_path / "ll")["map"]
    assert m["recall"] == 1.0 and m["loc_error_p90_m"] < 1e-3


def test_bad_inputs_name_the_file(tmp_path, quick_run_dir):
    bad = tmp_path / "bad.txt"
    bad.write_text("1,2,3\n")
    with pytest.raises(MotFileError, match="bad.txt:1"):
        read_mot(bad)
    (tmp_path / "res").mkdir()
    (tmp_path / "res" / "flowers.csv").write_text("id,z\n1,2\n")
    with pytest.raises(EvaluationInputError, match="needs columns x,y"):
        evaluate_run(quick_run_dir / "truth", tmp_path / "res")
    assert eval_main(["--truth", str(quick_run_dir / "truth"), "--result", str(tmp_path / "nothing")]) == 2


def test_write_mot_round_trip(tmp_path):
    table = MotTable.from_rows(_track(range(1, 5), 3))
    write_mot(tmp_path / "t.txt", table)
    back = read_mot(tmp_path / "t.txt")
    np.testing.assert_array_equal(back.frame, table.frame)
    np.testing.assert_allclose(back.xywh, table.xywh)


def test_tracking_is_scored_on_the_tracked_frames_only(quick_run_dir, tmp_path):
    # A tracker given one frame in three (the frames with an image) that tracks those perfectly: scored on all
    # frames it looks broken (the other two thirds are misses); scored on its frames, it is perfect.
    truth = quick_run_dir / "truth"
    out = _write_result(truth, tmp_path / "every_third")
    tracked = {}
    for cam in (truth / "mot").iterdir():
        rows = [line for line in (cam / "gt.txt").read_text().splitlines() if (int(line.split(",")[0]) - 1) % 3 == 0]
        (out / "tracks" / f"{cam.name}.txt").write_text("\n".join(rows) + "\n")
        last = max(int(line.split(",")[0]) for line in (cam / "gt.txt").read_text().splitlines())
        tracked[cam.name] = range(1, last + 1, 3)
    everything = evaluate_run(truth, out)["tracking"]
    imaged = evaluate_run(truth, out, tracked_frames=tracked)["tracking"]
    for name in tracked:
        assert everything[name]["HOTA"] < 0.7
        assert imaged[name]["HOTA"] == pytest.approx(1.0) and imaged[name]["MOTA"] == 1.0
