"""Per-plot hand counts: the simulator's plot truth, the agreement figures on known answers, and mars-eval's mode."""
from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest

from mars_sim import preset_config
from mars_sim.evaluation.cli import main as eval_main
from mars_sim.evaluation.hand_counts import hand_count_scores, predicted_plot_counts, read_hand_counts
from mars_sim.evaluation.run_facts import EvaluationInputError
from mars_sim.field_plots import plot_of_points, plot_rectangles, plots_per_row


def _truth_flowers(truth: Path):
    return list(csv.DictReader(open(truth / "flowers.csv")))


def _write_flowers(out: Path, rows, with_plot_id: str = "") -> Path:
    """A result folder whose flowers.csv holds the given truth rows (lat/lon), optionally one plot_id for all."""
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "flowers.csv", "w") as fh:
        fh.write("id,x,y,lat,lon,plot_id\n")
        for r in rows:
            fh.write(f"{r['id']},{r['x']},{r['y']},{r['lat']},{r['lon']},{with_plot_id}\n")
    return out


def test_plots_tile_the_rows_and_hand_counts_hold_every_flower(quick_run_dir):
    truth = quick_run_dir / "truth"
    hand = read_hand_counts(truth / "hand_counts.csv")
    flowers = _truth_flowers(truth)
    field = preset_config("quick").field
    assert len(hand) == field.rows * plots_per_row(field) >= 2
    assert sum(hand.values()) == len(flowers)          # every true flower lies in exactly one plot
    observed = {r["plot_id"]: int(r["observed_count"]) for r in csv.DictReader(open(truth / "hand_counts.csv"))}
    assert sum(observed.values()) == sum(int(r["observed"]) for r in flowers)
    ids, corners = plot_rectangles(field)
    a, b = corners[:, 1] - corners[:, 0], corners[:, 3] - corners[:, 0]
    area = float(np.abs(a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0]).sum())
    assert area == pytest.approx(field.rows * field.row_length_m * field.row_spacing_m)
    # A plot's own centre lies in it; a point beyond the row's end or half a spacing off the last row in none.
    centres = corners.mean(axis=1)
    assert plot_of_points(field, centres).tolist() == ids
    outside = np.array([[field.row_length_m + 0.1, 0.0], [1.0, (field.rows - 0.5) * field.row_spacing_m + 0.01]])
    assert plot_of_points(field, outside).tolist() == ["", ""]


def test_scores_on_known_answers():
    s = hand_count_scores({"a": 10, "b": 22, "c": 28, "zzz": 5}, {"a": 10.0, "b": 20.0, "c": 30.0})
    assert s["plots"] == 3 and s["predicted_total"] == 60 and s["hand_total"] == 60
    assert s["mape_pct"] == pytest.approx(100 * (0 + 2 / 20 + 2 / 30) / 3)
    assert s["rmse"] == pytest.approx(math.sqrt(8 / 3))
    assert s["bias"] == 0.0
    assert s["r2"] == pytest.approx(1 - 8 / 200)
    assert s["slope"] == pytest.approx(0.9) and s["intercept"] == pytest.approx(2.0)
    sd = np.std([0, 2, -2], ddof=1)
    assert s["limits_of_agreement"] == pytest.approx([-1.96 * sd, 1.96 * sd])
    # A counter that is off by the same 5 flowers everywhere correlates perfectly but scores lower on the 1:1 line.
    biased = hand_count_scores({"a": 15, "b": 25, "c": 35}, {"a": 10.0, "b": 20.0, "c": 30.0})
    assert biased["pearson_r2"] == pytest.approx(1.0) and biased["r2"] == pytest.approx(1 - 75 / 200)
    assert biased["bias"] == 5.0
    # Plots without flowers count in RMSE and bias but cannot enter a percentage error.
    empty = hand_count_scores({"a": 2}, {"a": 0.0, "b": 4.0})
    assert empty["plots_in_mape"] == 1 and empty["mape_pct"] == 100.0 and empty["bias"] == -1.0


def test_the_truth_itself_agrees_exactly_and_a_missing_flower_shows_in_its_plot(quick_run_dir, tmp_path):
    truth = quick_run_dir / "truth"
    flowers = _truth_flowers(truth)
    hand = read_hand_counts(truth / "hand_counts.csv")
    perfect = _write_flowers(tmp_path / "perfect", flowers)
    predicted, how = predicted_plot_counts(perfect, list(hand), truth / "plots.geojson")
    assert predicted == {k: int(v) for k, v in hand.items()} and how["outside_plots"] == 0
    field = preset_config("quick").field
    lost_plot = plot_of_points(field, np.array([[float(flowers[0]["x"]), float(flowers[0]["y"])]]))[0]
    fewer = _write_flowers(tmp_path / "fewer", flowers[1:])
    predicted, _ = predicted_plot_counts(fewer, list(hand), truth / "plots.geojson")
    assert {k for k in hand if predicted[k] != hand[k]} == {lost_plot}
    assert predicted[lost_plot] == hand[lost_plot] - 1


def test_mars_eval_hand_counts_on_a_counted_run(quick_run_dir, tmp_path, capsys):
    from mars_pipeline.count_cli import main as count_main

    truth = quick_run_dir / "truth"
    result = tmp_path / "counted"
    assert count_main([str(quick_run_dir / "bag"), "--out", str(result), "--no-progress"]) == 0
    counted = int(json.loads((result / "summary.json").read_text())["flowers"])
    rc = eval_main(["--result", str(result), "--hand-counts", str(truth / "hand_counts.csv"),
                    "--plots", str(truth / "plots.geojson"), "--json", str(tmp_path / "scores" / "s.json")])
    assert rc == 0
    out = capsys.readouterr().out
    assert "MAPE" in out and "R^2" in out and "row00_plot00" in out
    scores = json.loads((tmp_path / "scores" / "s.json").read_text())["hand_counts"]
    a = scores["assignment"]
    assert a["flowers"] == counted and scores["predicted_total"] == counted - a["outside_plots"]
    assert scores["hand_total"] == len(_truth_flowers(truth))
    assert {Path(p).name for p in scores["figures"]} == {"hand_counts_scatter.png", "hand_counts_bland_altman.png"}
    for p in scores["figures"]:
        assert Path(p).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # With --truth too, the map is scored in the same call.
    assert eval_main(["--result", str(result), "--truth", str(truth), "--hand-counts", str(truth / "hand_counts.csv"),
                      "--plots", str(truth / "plots.geojson"), "--figures", str(tmp_path / "f2")]) == 0
    assert "count     predicted" in capsys.readouterr().out


@pytest.mark.parametrize("text, message", [
    ("plot,count\na,3\n", "lacks column(s) ['plot_id']"),
    ("plot_id,count\na,3\na,4\n", "counted twice"),
    ("plot_id,count\na,-1\n", "finite number >= 0"),
    ("plot_id,count\na,many\n", "is not a number"),
    ("plot_id,count\na,nan\n", "finite number >= 0"),
    ("plot_id,count\n", "no plots"),
    ("", "is empty"),
    ("plot_id,count\n,3\n", "empty plot_id"),
])
def test_bad_hand_count_files_are_named(tmp_path, quick_run_dir, capsys, text, message):
    path = tmp_path / "hand.csv"
    path.write_text(text)
    with pytest.raises(EvaluationInputError, match=f"{path}"):
        read_hand_counts(path)
    result = _write_flowers(tmp_path / "r", _truth_flowers(quick_run_dir / "truth")[:3])
    assert eval_main(["--result", str(result), "--hand-counts", str(path), "--figures", str(tmp_path)]) == 2
    assert message in capsys.readouterr().err


def test_plots_that_do_not_match_are_refused(quick_run_dir, tmp_path, capsys):
    truth = quick_run_dir / "truth"
    result = _write_flowers(tmp_path / "r", _truth_flowers(truth), with_plot_id="pass00_seg000")
    # The result knows only row segments: the hand-counted plots need the plot file.
    assert eval_main(["--result", str(result), "--hand-counts", str(truth / "hand_counts.csv"),
                      "--figures", str(tmp_path)]) == 2
    assert "give the plot file with --plots" in capsys.readouterr().err
    unknown = tmp_path / "hand.csv"
    unknown.write_text("plot_id,count\nrow00_plot00,3\nnot_a_plot,4\n")
    assert eval_main(["--result", str(result), "--hand-counts", str(unknown), "--plots", str(truth / "plots.geojson"),
                      "--figures", str(tmp_path)]) == 2
    assert "['not_a_plot'] are not in" in capsys.readouterr().err
    assert eval_main(["--result", str(result), "--plots", str(truth / "plots.geojson")]) == 2
    assert "go with --hand-counts" in capsys.readouterr().err
