"""What mars-count prints (issue 17, "what users expect"): progress across workers in folder mode, GNSS
quality by name, the rig's camera order everywhere, no leading blank line."""
from __future__ import annotations

import csv
import json
import re
import shutil
from pathlib import Path

import pytest

from mars_pipeline.count_cli import main as mars_count

pytestmark = pytest.mark.slow

RIG_ORDER = ["cam_left", "cam_center", "cam_right"]  # the quick preset's rig: not alphabetical


def test_folder_mode_shows_bags_done_frames_per_second_and_time_left(tiny_run, tmp_path, capsys):
    season = tmp_path / "season"
    for name in ("a", "b"):
        shutil.copytree(tiny_run / "bag", season / name / "bag")
        shutil.copy(tiny_run / "rig.yaml", season / name / "rig.yaml")
    assert mars_count([str(season), "--out", str(tmp_path / "result"), "--workers", "2"]) == 0
    captured = capsys.readouterr()
    assert "bags: 2/2 done" in captured.err and "left" in captured.err, captured.err
    assert re.search(r"\b[1-9]\d* frames/s", captured.err), captured.err  # the workers' frames summed
    frames = json.loads((tmp_path / "result" / "a" / "bag" / "summary.json").read_text())["frames_total"]
    assert frames > 0
    assert captured.out.splitlines()[0].strip(), "the output starts with a blank line"
    assert "done |" not in captured.out  # the bar is on stderr, the results on stdout


def test_no_progress_keeps_folder_mode_quiet(tiny_run, tmp_path, capsys):
    season = tmp_path / "season"
    shutil.copytree(tiny_run / "bag", season / "a" / "bag")
    assert mars_count([str(season), "--out", str(tmp_path / "result"), "--workers", "1", "--no-progress"]) == 0
    assert "done |" not in capsys.readouterr().err


def test_the_console_names_gnss_quality_and_keeps_the_rigs_camera_order(tiny_run, tmp_path, capsys):
    bag = tmp_path / "bag"  # no rig.yaml beside it: the rig comes from the bag's camera_info and /tf_static
    shutil.copytree(tiny_run / "bag", bag)
    out = tmp_path / "result"
    assert mars_count([str(bag), "--out", str(out), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    lines = printed.splitlines()
    assert lines[0].startswith(str(bag)), "the output starts with a blank line"
    assert "{" not in printed, printed  # no raw dicts such as {'2': 31}
    assert "NavSatStatus GBAS_FIX" in printed and "GNSS: RTK fixed (RTK fixed 100 %)" in printed, printed
    (per_camera,) = [line for line in lines if "per camera" in line]
    assert [part.split()[0] for part in per_camera.split(": ")[1].split(", ")] == RIG_ORDER
    summary = json.loads((out / "summary.json").read_text())
    for key in ("per_camera", "per_camera_in_map", "frames", "detections", "tracker_warnings"):
        assert list(summary[key]) == RIG_ORDER, key
    with open(out / "flowers.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert rows
    for row in rows:
        cameras = row["cameras"].split(";")
        assert cameras == [name for name in RIG_ORDER if name in cameras], row["cameras"]
    assert sorted(Path(p).name for p in (out / "tracks").iterdir()) == sorted(f"{n}.txt" for n in RIG_ORDER)
