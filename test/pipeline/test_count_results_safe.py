"""mars-count's results on re-runs, kills and bad bags (issue 17, defects 1, 2 and 3, exit codes, the console's
file list): a result is always one complete run, and one bad bag costs only itself."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from bag_surgery import rewrite_bag
from harness.ros_processes import REPO_ROOT
from mars_pipeline.count_cli import main as mars_count

pytestmark = pytest.mark.slow

NAVSATFIX = "sensor_msgs/msg/NavSatFix"
MAP_FILES = ("flowers.geojson", "flowers.kml", "map.png", "map_state.npz", "map_bag")


def _bag_copy(run: Path, target: Path, datum: bool = True, **rewrite) -> Path:
    """The run's bag (rewritten when rewrite is given) at target/bag, with the run's rig.yaml beside it (without
    its fusion section, i.e. the field datum, when datum is false: then only a GNSS fix can start the map)."""
    target.mkdir(parents=True, exist_ok=True)
    if rewrite:
        rewrite_bag(run / "bag", target / "bag", **rewrite)
    else:
        shutil.copytree(run / "bag", target / "bag")
    robot = yaml.safe_load((run / "rig.yaml").read_text())
    if not datum:
        robot.pop("fusion")
    (target / "rig.yaml").write_text(yaml.safe_dump(robot))
    return target / "bag"


def _results_line(printed: str) -> str:
    (line,) = [line for line in printed.splitlines() if "results in" in line]
    return line


def test_a_rerun_replaces_the_whole_result_and_the_console_lists_what_was_written(small_run_mcap, tmp_path, capsys):
    out = tmp_path / "result"
    assert mars_count([str(small_run_mcap / "bag"), "--out", str(out), "--no-progress"]) == 0
    line = _results_line(capsys.readouterr().out)
    for name in ("flowers.csv", "flowers.geojson", "flowers.kml", "map.png", "count_over_time.png", "map_state.npz",
                 "map_bag/", "tracks/", "summary.json"):
        assert name in line and (out / name.rstrip("/")).exists(), name
    # The same bag again, now without GNSS: nothing of the mapped run may survive next to the new result.
    no_gnss = _bag_copy(small_run_mcap, tmp_path / "nognss", datum=False, keep=lambda t, m: m != NAVSATFIX)
    assert mars_count([str(no_gnss), "--out", str(out), "--no-progress"]) == 0
    line = _results_line(capsys.readouterr().out)
    assert sorted(p.name for p in out.iterdir()) == ["count_over_time.png", "flowers.csv", "summary.json", "tracks"]
    assert not any(name in line for name in ("geojson", "kml", "map.png", "map_bag", "map_state"))
    assert line.endswith("flowers.csv, count_over_time.png, tracks/, summary.json")
    summary = json.loads((out / "summary.json").read_text())
    assert summary["flowers"] == 0 and summary["files"] == ["flowers.csv", "count_over_time.png", "tracks/",
                                                            "summary.json"]
    assert not list(tmp_path.glob(".result.mars-count-*"))


def test_a_season_rerun_merges_only_this_runs_maps(small_run_mcap, tmp_path, capsys):
    season = tmp_path / "season"
    _bag_copy(small_run_mcap, season / "day1")
    out = tmp_path / "out"
    assert mars_count([str(season), "--out", str(out), "--workers", "1", "--no-progress"]) == 0
    first = json.loads((out / "merge_summary.json").read_text())["flowers"]
    assert first > 0 and (out / "day1" / "bag" / "map_state.npz").is_file()
    shutil.rmtree(season / "day1")   # the bag re-recorded without GNSS
    _bag_copy(small_run_mcap, season / "day1", datum=False, keep=lambda t, m: m != NAVSATFIX)
    capsys.readouterr()
    assert mars_count([str(season), "--out", str(out), "--workers", "1", "--no-progress"]) == 0
    merged = json.loads((out / "merge_summary.json").read_text())
    assert merged["flowers"] == 0 and merged["skipped"], merged   # the old map state is not merged again
    assert not (out / "day1" / "bag" / "map_state.npz").exists() and not (out / "flowers.kml").exists()
    assert "no merged map" in capsys.readouterr().out


def test_one_unreadable_bag_does_not_stop_the_season(small_run_mcap, tmp_path, capsys):
    season = tmp_path / "season"
    _bag_copy(small_run_mcap, season / "day1")
    broken = _bag_copy(small_run_mcap, season / "day2")
    (broken / "bag.mcap").write_bytes(os.urandom(100_000))
    _bag_copy(small_run_mcap, season / "day3", shift_ns=3600 * 10**9)   # the row again an hour later
    out = tmp_path / "out"
    assert mars_count([str(season), "--out", str(out), "--workers", "2", "--no-progress"]) == 3
    printed = capsys.readouterr().out
    assert f"{broken}: not counted: cannot open bag" in printed
    merged = json.loads((out / "merge_summary.json").read_text())
    (problem,) = merged["problems"]
    assert problem.startswith(f"{broken}: not counted: cannot open bag") and "magic" in problem
    assert merged["runs"] == [str(out / "day1" / "bag"), str(out / "day3" / "bag")]
    single = json.loads((out / "day1" / "bag" / "summary.json").read_text())["flowers"]
    assert single > 0 and json.loads((out / "day3" / "bag" / "summary.json").read_text())["flowers"] == single
    assert merged["flowers_before_merge"] == 2 * single and 0 < merged["flowers"] <= single * 1.05
    assert not (out / "day2").exists() and (out / "flowers.csv").is_file()
    assert f"merged map of 2 of 3 bags: {merged['flowers']} flowers" in printed


def test_a_season_where_no_bag_can_be_read_fails_and_keeps_the_earlier_result(small_run_mcap, tmp_path, capsys):
    season = tmp_path / "season"
    broken = _bag_copy(small_run_mcap, season / "day1")
    (broken / "bag.mcap").write_bytes(os.urandom(50_000))
    out = tmp_path / "out"
    out.mkdir()
    (out / "merge_summary.json").write_text('{"flowers": 7}')
    assert mars_count([str(season), "--out", str(out), "--workers", "1", "--no-progress"]) == 2
    assert "none of the 1 bags could be counted" in capsys.readouterr().err
    assert (out / "merge_summary.json").read_text() == '{"flowers": 7}' and not list(tmp_path.glob(".out.*"))


def test_exit_codes_of_a_single_bag(small_run_mcap, tmp_path, capsys):
    broken = _bag_copy(small_run_mcap, tmp_path / "random")
    (broken / "bag.mcap").write_bytes(os.urandom(100_000))
    assert mars_count([str(broken), "--out", str(tmp_path / "o1"), "--no-progress"]) == 2
    assert "cannot open bag" in capsys.readouterr().err and not (tmp_path / "o1").exists()
    truncated = _bag_copy(small_run_mcap, tmp_path / "truncated")
    data = (truncated / "bag.mcap").read_bytes()
    (truncated / "bag.mcap").write_bytes(data[: len(data) * 9 // 10])   # the recorder died in the last chunk
    assert mars_count([str(truncated), "--out", str(tmp_path / "o2"), "--no-progress"]) == 3
    summary = json.loads((tmp_path / "o2" / "summary.json").read_text())
    assert summary["partly_unreadable"] and summary["problems"] and summary["flowers"] > 0


def _snapshot(folder: Path) -> dict:
    """What makes a result one run: its file names, the deterministic files' bytes, the summary's count."""
    names = sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))
    texts = {name: (folder / name).read_bytes() for name in names
             if name.endswith((".csv", ".txt", ".geojson", ".kml"))}
    summary = json.loads((folder / "summary.json").read_text())
    rows = len((folder / "flowers.csv").read_text().splitlines()) - 1
    assert rows == summary["flowers"], f"flowers.csv has {rows} flowers, summary.json {summary['flowers']}"
    return {"names": names, "texts": texts, "flowers": summary["flowers"], "bag": summary["bag"]}


def _stamps(folder: Path) -> dict:
    """Every path below folder with its modification time (a change means something was written there)."""
    try:
        return {str(p): p.stat().st_mtime_ns for p in folder.rglob("*")}
    except FileNotFoundError:   # a file replaced while listed
        return {}


def test_sigkill_while_a_rerun_writes_leaves_one_complete_run(small_run_mcap, tmp_path):
    from mars_pipeline.result_folders import remove_leftovers

    old_bag = _bag_copy(small_run_mcap, tmp_path / "old")
    new_bag = _bag_copy(small_run_mcap, tmp_path / "new", keep=lambda t, m: t != "/cam_right/detections")
    references = {}
    for name, bag in (("old", old_bag), ("new", new_bag)):
        assert mars_count([str(bag), "--out", str(tmp_path / f"ref_{name}"), "--no-progress"]) == 0
        references[name] = _snapshot(tmp_path / f"ref_{name}")
    assert references["old"]["texts"] != references["new"]["texts"]
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    seen = set()
    # Kill moments: while counting (before any output), as the new folder appears, while it is written, and
    # once it is swapped in while the old one is being deleted (or, if that was too quick to see, at the end).
    for moment in ("counting", 0.0, 0.4, 1.5, "swapped"):
        out = tmp_path / "runs" / f"at_{moment}" / "result"
        shutil.copytree(tmp_path / "ref_old", out)
        proc = subprocess.Popen([sys.executable, "-m", "mars_pipeline.count_cli", str(new_bag), "--out", str(out),
                                 "--no-progress"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 300
        before = _stamps(out)
        if moment == "counting":
            time.sleep(1.0)
        else:
            # Writing has begun when the new folder appears next to out, or (writing in place) out changes.
            sign = ".result.mars-count-del-*" if moment == "swapped" else ".result.mars-count-new-*"
            while proc.poll() is None and not list(out.parent.glob(sign)) and \
                    (moment == "swapped" or _stamps(out) == before):
                assert time.monotonic() < deadline
                time.sleep(0.001)
            time.sleep(0.0 if moment == "swapped" else float(moment))
        proc.send_signal(signal.SIGKILL)
        code = proc.wait()
        assert code in (-signal.SIGKILL, 0), proc.stderr.read() if proc.stderr else code
        state = _snapshot(out)     # complete at once: the swap is one step
        matches = [name for name, ref in references.items() if ref == state]
        assert len(matches) == 1, f"killed at {moment}: {out} is neither the old nor the new result: {state['names']}"
        seen.update(matches)
        remove_leftovers(out)      # what the next run into out does first
        assert _snapshot(out) == state and [p.name for p in out.parent.iterdir()] == ["result"], moment
    assert seen == {"old", "new"}, seen
