"""Result folders replaced in one step (issue 17, defects 1, 2 and 6): no file of an older result survives, a
SIGKILL at any step of the swap leaves the old complete result or the new one, and a bad --out is refused
before any work."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.ros_processes import REPO_ROOT
from mars_pipeline import result_folders
from mars_pipeline.result_folders import (ResultLocationError, check_result_location, remove_leftovers,
                                          replace_folder, result_folder)

OLD = {"summary.json": "old", "old_only.kml": "old", "tracks/cam.txt": "old"}
NEW = {"summary.json": "new", "new_only.csv": "new", "tracks/cam.txt": "new"}


def _fill(folder: Path, files: dict) -> Path:
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    return folder


def _contents(folder: Path) -> dict:
    return {str(p.relative_to(folder)): p.read_text() for p in folder.rglob("*") if p.is_file()}


def _leftovers(final: Path) -> list:
    return [p.name for p in final.parent.iterdir() if p.name.startswith(f".{final.name}.mars-count-")]


@pytest.fixture(params=["exchange", "dance"])
def swap_mode(request, monkeypatch):
    """Both ways of swapping: the atomic exchange (Linux) and the rename dance used where it is missing."""
    if request.param == "dance":
        monkeypatch.setattr(result_folders, "_exchange", lambda a, b: False)
    return request.param


def test_a_new_result_replaces_the_whole_folder(tmp_path, swap_mode):
    final = _fill(tmp_path / "result", OLD)
    with result_folder(final) as folder:
        assert folder.parent == final.parent and not any(folder.iterdir())   # fresh, same file system
        _fill(folder, NEW)
        assert _contents(final) == OLD   # nothing of the new run is visible before it is complete
    assert _contents(final) == NEW and _leftovers(final) == []


def test_a_failing_write_leaves_the_old_result_untouched(tmp_path, swap_mode):
    final = _fill(tmp_path / "result", OLD)
    with pytest.raises(RuntimeError, match="disk full"):
        with result_folder(final) as folder:
            _fill(folder, {"summary.json": "half"})
            raise RuntimeError("disk full")
    assert _contents(final) == OLD and _leftovers(final) == []


def test_a_first_result_is_created_with_its_parents(tmp_path):
    final = tmp_path / "a" / "b" / "result"
    with result_folder(final) as folder:
        _fill(folder, NEW)
    assert _contents(final) == NEW and oct(final.stat().st_mode & 0o777) != "0o700"


# Kills the process with SIGKILL just before the n-th file-system step of replace_folder (renames, the
# exchange, the deletion), so every moment between two steps is seen once.
KILL_AT_STEP = """
import os, signal, sys
from pathlib import Path
sys.path.insert(0, {root!r})
from mars_pipeline import result_folders as rf
mode, kill_at, new, final = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3]), Path(sys.argv[4])
steps = [0]
def step(fn):
    def wrapped(*args, **kwargs):
        if steps[0] == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
        steps[0] += 1
        return fn(*args, **kwargs)
    return wrapped
rf._exchange = step(rf._exchange if mode == "exchange" else (lambda a, b: False))
rf.os.rename = step(os.rename)
rf.shutil.rmtree = step(rf.shutil.rmtree)
rf.replace_folder(new, final)
print("steps", steps[0])
"""


@pytest.mark.parametrize("mode,steps", [("exchange", 3), ("dance", 5)])
def test_sigkill_at_every_step_of_the_swap_leaves_one_complete_result(tmp_path, mode, steps):
    program = KILL_AT_STEP.format(root=str(REPO_ROOT))
    for kill_at in range(steps + 1):
        case = tmp_path / f"{mode}{kill_at}"
        case.mkdir()
        final = _fill(case / "result", OLD)
        new = _fill(case / f".result.mars-count-new-{os.getpid()}-0", NEW)
        done = subprocess.run([sys.executable, "-c", program, mode, str(kill_at), str(new), str(final)],
                              capture_output=True, text=True, timeout=60)
        if kill_at < steps:
            assert done.returncode == -signal.SIGKILL, (kill_at, done.stderr)
        else:
            assert done.returncode == 0 and f"steps {steps}" in done.stdout, done.stderr
        if mode == "exchange":   # one atomic step: the result is complete at every moment, without any repair
            assert _contents(final) in (OLD, NEW), kill_at
        else:                    # between the dance's two renames only the old result, beside, is complete
            assert (final.is_dir() and _contents(final) in (OLD, NEW)) or not final.exists(), kill_at
        # The next run into the same place (what it does first): one complete result, no leftovers.
        new_pid_folder = case / ".result.mars-count-new-999999999-0"
        if new.exists():   # the test made it under its own (living) pid: make it a dead run's
            new.rename(new_pid_folder)
        remove_leftovers(final)
        assert _contents(final) in (OLD, NEW) and _leftovers(final) == [], (kill_at, os.listdir(case))
        assert _contents(final) == (NEW if kill_at >= (1 if mode == "exchange" else 3) else OLD), kill_at


def test_leftovers_of_a_living_run_are_not_touched(tmp_path):
    final = _fill(tmp_path / "result", OLD)
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        theirs = _fill(tmp_path / f".result.mars-count-new-{sleeper.pid}-ab12", {"summary.json": "being written"})
        remove_leftovers(final)
        assert theirs.is_dir()
    finally:
        sleeper.kill()
        sleeper.wait()
    remove_leftovers(final)
    assert not theirs.exists() and _contents(final) == OLD


def test_replace_folder_without_an_old_result_is_a_rename(tmp_path):
    new = _fill(tmp_path / "new", NEW)
    replace_folder(new, tmp_path / "result")
    assert _contents(tmp_path / "result") == NEW and not new.exists()


# --- the --out location, checked before any work ---------------------------------------------------------


def test_out_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "results.txt").write_text("mine")
    with pytest.raises(ResultLocationError, match="is an existing file, not a folder"):
        check_result_location(tmp_path / "results.txt")
    with pytest.raises(ResultLocationError, match="results.txt is a file, so no folder can be made below it"):
        check_result_location(tmp_path / "results.txt" / "sub")


def test_out_under_proc_is_refused():
    with pytest.raises(ResultLocationError, match="is under /proc, a kernel file system"):
        check_result_location(Path("/proc/self/results"))
    with pytest.raises(ResultLocationError, match="under /sys"):
        check_result_location(Path("/sys/results"))


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_out_in_an_unwritable_folder_is_refused(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        with pytest.raises(ResultLocationError, match="cannot write in"):
            check_result_location(locked / "results")
    finally:
        locked.chmod(0o755)


def test_out_on_a_read_only_file_system_is_refused(tmp_path, monkeypatch):
    # What a read-only mount (or, for a normal user, a folder without write permission) answers to mkdir;
    # seen for real in test_out_in_an_unwritable_folder_is_refused when not run as root.
    real_mkdir = Path.mkdir

    def read_only(self, *args, **kwargs):
        if self.name.startswith(".mars-count-probe-"):
            raise OSError(30, "Read-only file system", str(self))
        return real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", read_only)
    with pytest.raises(ResultLocationError, match=r"cannot write in .* \(Read-only file system\)"):
        check_result_location(tmp_path / "results")


def test_out_that_holds_the_input_or_foreign_files_is_refused(tmp_path):
    (tmp_path / "run" / "bag").mkdir(parents=True)
    with pytest.raises(ResultLocationError, match="contains the input"):
        check_result_location(tmp_path / "run", [tmp_path / "run" / "bag"])
    _fill(tmp_path / "mine", {"thesis.tex": "years of work"})
    with pytest.raises(ResultLocationError, match="holds files that are not a mars-count result"):
        check_result_location(tmp_path / "mine")
    check_result_location(tmp_path / "new")                      # new, empty, or an earlier result: fine
    (tmp_path / "empty").mkdir()
    check_result_location(tmp_path / "empty")
    check_result_location(_fill(tmp_path / "earlier", {"summary.json": "{}", "flowers.csv": ""}))
    check_result_location(_fill(tmp_path / "season", {"merge_summary.json": "{}"}))


@pytest.mark.parametrize("out", ["file", "file/sub", "/proc/self/mars", "input"])
def test_mars_count_refuses_a_bad_out_at_once_before_counting(tmp_path, capsys, monkeypatch, out):
    import mars_pipeline.count_cli as count_cli

    def no_counting(*args, **kwargs):
        raise AssertionError("counting started although --out is unusable")

    monkeypatch.setattr(count_cli, "count_bag", no_counting)
    bag = tmp_path / "input" / "bag"
    bag.mkdir(parents=True)
    (bag / "metadata.yaml").write_text("rosbag2_bagfile_information: {}\n")
    (tmp_path / "file").write_text("not a folder")
    target = out if out.startswith("/") else str(tmp_path / out)
    started = time.perf_counter()
    assert count_cli.main([str(bag), "--out", target, "--no-progress"]) == 2
    assert time.perf_counter() - started < 2.0
    err = capsys.readouterr().err
    assert err.startswith(f"mars-count: --out {target}") and "Traceback" not in err
    assert not list(tmp_path.glob(".*mars-count*"))


def test_a_write_that_fails_is_a_clear_error_and_keeps_the_earlier_result(tmp_path, capsys, monkeypatch):
    import mars_pipeline.count_cli as count_cli

    def disk_full(report, out):
        with result_folder(out) as folder:
            _fill(folder, {"summary.json": "half"})
            raise OSError(28, "No space left on device", str(folder / "map.png"))

    monkeypatch.setattr(count_cli, "count_bag", lambda *args, **kwargs: object())
    monkeypatch.setattr(count_cli, "write_outputs", disk_full)
    bag = tmp_path / "bag"
    bag.mkdir()
    (bag / "metadata.yaml").write_text("rosbag2_bagfile_information: {}\n")
    out = _fill(tmp_path / "result", OLD)
    assert count_cli.main([str(bag), "--out", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "No space left on device" in err and "left as it was" in err and "Traceback" not in err
    assert _contents(out) == OLD and _leftovers(out) == []


def test_find_bags_skips_the_results_and_a_killed_runs_leftovers_inside_the_input(tmp_path):
    from mars_pipeline.count_cli import find_bags

    for bag in ("day1/bag", "results/day1/bag/map_bag", ".results.mars-count-new-999999999-ab/day1/bag/map_bag"):
        (tmp_path / bag).mkdir(parents=True)
        (tmp_path / bag / "metadata.yaml").write_text("rosbag2_bagfile_information: {}\n")
    assert find_bags(tmp_path, exclude=tmp_path / "results") == [tmp_path / "day1" / "bag"]
