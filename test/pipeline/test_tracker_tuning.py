"""mars-tune: the objective on known answers, the search, the cross-validation, the YAML it writes, bad inputs."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from mars_core.config_schema import config_from_dict
from mars_core.detections import DetectionFrame, Detections
from mars_tracker.config import TrackerConfig
from mars_tracker.tuning import (ID_SWITCH_WEIGHT, LabelledSequence, SequenceScore, TuningError, cross_validate,
                                 id_switches, score_sequence, search_settings, search_space, true_count_from_ids)


@pytest.fixture(scope="module")
def tuning_run(tmp_path_factory):
    """A 2 m row of the quick preset cut after 4 s whose detector scores true flowers low (beta(5, 4), mean 0.56):
    the default confirmation (mean score 0.62) misses most flowers, so there is something to tune."""
    from mars_sim import preset_config, simulate, write_run

    out = tmp_path_factory.mktemp("tune") / "low_scores"
    config = preset_config("quick", {"field": {"row_length_m": 2.0}, "duration_s": 4.0,
                                     "detection": {"score_tp_beta": [5.0, 4.0]}})
    write_run(simulate(config, seed=5), out)
    return out


@pytest.fixture(scope="module")
def tuning_sequences(tuning_run):
    from mars_pipeline.tracker_tuning import load_sequences

    return load_sequences([tuning_run])


def _straight_sequence(n_frames: int = 20, score: float = 0.9) -> LabelledSequence:
    """Two boxes moving right at 3 px per frame, detected in every frame, plus one one-frame false positive."""
    frames, truth = [], []
    for k in range(n_frames):
        boxes = [[100 + 3 * k, 100, 140 + 3 * k, 140], [400 + 3 * k, 300, 440 + 3 * k, 340]]
        ids = [7, 9]
        if k == 5:
            boxes.append([800, 600, 830, 630])
            ids.append(-1)
        xyxy = np.asarray(boxes, np.float32)
        d = Detections(xyxy, np.full(len(boxes), score, np.float32), np.zeros(len(boxes), np.int32), None, "")
        frames.append(DetectionFrame("synthetic", int(k * 1e9 / 30), k, 1280, 960, d))
        truth.append(np.asarray(ids, np.int64))
    return LabelledSequence("synthetic", frames, truth, true_count_from_ids(truth))


def test_objective_on_known_answers():
    assert true_count_from_ids([np.array([1, 2, -1]), np.array([1, 3]), np.array([2])]) == 2   # 3 seen once
    truth = [np.array([1, 2]), np.array([1, 2]), np.array([1, 2]), np.array([1])]
    tracks = [np.array([10, 0]), np.array([10, 20]), np.array([11, 20]), np.array([10])]
    assert id_switches(truth, tracks) == 2   # object 1: 10 -> 11 -> 10; object 2 keeps 20; 0 = not output
    score = SequenceScore("s", count=11, true_count=10, id_switches=2)
    assert score.count_error_pct == pytest.approx(10.0)
    assert score.cost == pytest.approx(10.0 + ID_SWITCH_WEIGHT * 20.0)
    sequence = _straight_sequence()
    assert sequence.true_count == 2
    result = score_sequence(TrackerConfig(), sequence)
    assert (result.count, result.id_switches, result.cost) == (2, 0, 0.0)
    # A confirmation no track can reach counts nothing: -100 %.
    assert score_sequence(TrackerConfig(min_hits=50), sequence).count_error_pct == pytest.approx(-100.0)


def test_search_space_comes_from_the_config_metadata():
    space = {d.name: d for d in search_space()}
    assert space["min_hits"].low == 1 and space["min_hits"].integer          # TrackerConfig: minimum=1
    assert space["confirm_min_mean_score"].low == 0.0                         # minimum=0.0
    for d in space.values():
        assert d.value(0.0) == pytest.approx(d.low) and d.value(1.0) == pytest.approx(d.high)
        assert TrackerConfig(**{d.name: d.value(0.5)})                         # every point is a valid setting
    with pytest.raises(TuningError, match="appearance_gate"):
        search_space(["appearance_gate"])


def test_the_search_improves_a_bad_start_and_is_deterministic(tuning_sequences):
    bad = TrackerConfig(confirm_min_mean_score=0.8, min_hits=5)
    space = search_space(["min_hits", "confirm_min_mean_score", "confirm_prior_hits"])
    found = search_settings(tuning_sequences, bad, space, trials=6, budget_s=60.0, seed=3)
    assert found.start_cost > 50.0          # the bad start misses most flowers
    assert found.best_cost < found.start_cost / 2
    assert [s.cost for s in found.best_scores] == [score_sequence(found.best, s).cost for s in tuning_sequences]
    again = search_settings(tuning_sequences, bad, space, trials=6, budget_s=60.0, seed=3)
    assert again.best_values == found.best_values and again.best_cost == found.best_cost


def test_cross_validation_reports_held_out_figures(tuning_sequences):
    start = TrackerConfig()
    space = search_space(["confirm_min_mean_score"])
    folds = cross_validate(tuning_sequences, start, space, trials=3, budget_s=60.0, seed=1)
    assert [f.group for f in folds] == [s.name for s in tuning_sequences]   # one run: leave one camera out
    for fold, held in zip(folds, tuning_sequences):
        assert [s.name for s in fold.tuned_scores] == [held.name]
        tuned = TrackerConfig(**fold.tuned_values)
        assert fold.tuned_cost == pytest.approx(score_sequence(tuned, held).cost)
        assert fold.start_cost == pytest.approx(score_sequence(start, held).cost)


def test_mars_tune_writes_a_yaml_that_mars_count_takes(tuning_run, tmp_path, capsys):
    from mars_pipeline.count_cli import main as mars_count
    from mars_pipeline.tune_cli import main as mars_tune

    out = tmp_path / "tuned.yaml"
    code = mars_tune([str(tuning_run), "--out", str(out), "--trials", "2", "--budget-s", "60", "--no-cv",
                      "--settings", "confirm_min_mean_score,min_hits", "--no-progress"])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "before" in printed and "after" in printed and "low_scores/cam_left" in printed
    document = yaml.safe_load(out.read_text())
    tuned = config_from_dict(TrackerConfig, document["tracker"], "tuned.yaml:tracker")
    assert TrackerConfig.from_dict(document["tracker"]) == tuned
    assert "rig" in document
    assert mars_count([str(tuning_run / "bag"), "--out", str(tmp_path / "count"), "--config", str(out),
                       "--no-progress"]) == 0
    summary = yaml.safe_load((tmp_path / "count" / "summary.json").read_text())
    from mars_pipeline.tracker_tuning import load_sequences

    expected = {s.name.split("/")[1]: score_sequence(tuned, s).count for s in load_sequences([tuning_run])}
    assert summary["per_camera"] == expected   # mars-count counts what mars-tune scored


def test_bad_inputs_are_named(tuning_run, tmp_path, capsys):
    from mars_pipeline.tune_cli import main as mars_tune

    out = str(tmp_path / "t.yaml")
    cases = [
        ([str(tmp_path / "nowhere"), "--out", out], "nowhere does not exist"),
        ([str(tmp_path), "--out", out], "neither a mars-sim output folder"),
        ([str(tuning_run), "--out", out, "--settings", "appearance_gate"], "appearance_gate"),
        ([str(tuning_run), "--out", out, "--budget-s", "0"], "--budget-s must be positive"),
        ([str(tuning_run), "--out", out, "--trials", "0"], "--trials must be at least 1"),
        ([str(tuning_run), "--out", str(tmp_path)], "is a folder"),
    ]
    for argv, message in cases:
        assert mars_tune(argv + ["--no-progress"]) == 2, argv
        assert message in capsys.readouterr().err, argv
    bad_start = tmp_path / "start.yaml"
    bad_start.write_text("tracker:\n  min_hitz: 3\n")
    assert mars_tune([str(tuning_run), "--out", out, "--start", str(bad_start), "--no-progress"]) == 2
    assert "min_hitz" in capsys.readouterr().err


def test_truth_of_another_run_is_refused(tuning_run, tmp_path):
    import shutil

    from mars_pipeline.tracker_tuning import load_sequences

    copy = tmp_path / "run"
    shutil.copytree(tuning_run, copy)
    truth = copy / "truth" / "mot" / "cam_left" / "det_truth.txt"
    rows = truth.read_text().splitlines()
    truth.write_text("\n".join(rows[1:]) + "\n")   # one detection fewer than the bag has
    with pytest.raises(TuningError, match="not of the same run"):
        load_sequences([copy])


def test_a_mot_sequence_is_labelled_by_overlap(tmp_path: Path):
    from mars_pipeline.tracker_tuning import load_sequences

    seq = tmp_path / "SEQ-01"
    (seq / "det").mkdir(parents=True)
    (seq / "gt").mkdir()
    (seq / "seqinfo.ini").write_text("[Sequence]\nname=SEQ-01\nframeRate=10\nseqLength=3\nimWidth=640\n"
                                     "imHeight=480\n")
    gt, det = [], []
    for f in (1, 2, 3):
        gt.append(f"{f},1,{10 + f},10,20,20,1,1,1")
        gt.append(f"{f},2,300,300,20,20,0,1,1")          # conf 0: ignored
        det.append(f"{f},-1,{11 + f},11,20,20,0.9")       # overlaps object 1
        det.append(f"{f},-1,500,100,20,20,0.8")           # overlaps nothing: a false positive
    gt.append("3,5,100,100,20,20,1,1,1")                  # object 5 seen in one frame only: not countable
    (seq / "gt" / "gt.txt").write_text("\n".join(gt) + "\n")
    (seq / "det" / "det.txt").write_text("\n".join(det) + "\n")
    (sequence,) = load_sequences([seq])
    assert sequence.true_count == 1
    assert [ids.tolist() for ids in sequence.truth_ids] == [[1, -1], [1, -1], [1, -1]]
    assert sequence.frames[1].stamp_ns == 200_000_000 and sequence.frames[0].image_width == 640
