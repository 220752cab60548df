"""`mars-hailo compile --slurm` and `mars-hailo status` (issue 20): the job script is sized from the plan and
runs the same command; on a real single-node Slurm the job compiles the fake DFC's HEF, a job failing on the
machine requeues itself and resumes from state.json, and a pre-empted (requeued) job resumes too."""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

from mars_hailo.cli import main

pytestmark = pytest.mark.hailo

CONFIG = "resolution_ladder: [1.0]\noptimize:\n  calibset_size: 4\n  optimization_level: 0\n"


@pytest.fixture
def compile_inputs(v8_onnx: Path, tmp_path: Path) -> tuple[list[str], Path]:
    """The compile command's arguments (the 64x64 YOLOv8-like export, 4 calibration images, a CPU-only
    config) and its work dir."""
    calib = tmp_path / "calib_64x64.npy"
    np.save(calib, np.random.default_rng(0).integers(0, 256, (4, 64, 64, 3), dtype=np.uint8))
    config = tmp_path / "compile.yaml"
    config.write_text(CONFIG)
    work = tmp_path / "work"
    return ["compile", str(v8_onnx), "--calib", str(calib), "--work-dir", str(work), "--config", str(config)], work


def _job_id(printed: str) -> str:
    (line,) = [ln for ln in printed.splitlines() if ln.startswith("submitted Slurm job ")]
    return line.split()[3]


def test_the_job_script_is_sized_from_the_plan_and_runs_the_same_command(fake_dfc: Path, v8_onnx: Path,
                                                                         tmp_path: Path, capsys) -> None:
    calib = tmp_path / "calib.npy"
    np.save(calib, np.zeros((2, 64, 64, 3), np.uint8))
    work = tmp_path / "work"
    args = ["compile", str(v8_onnx), "--calib", str(calib), "--work-dir", str(work)]
    assert main(args + ["--slurm", "--dry-run", "--partition", "gpu", "--time", "12:00:00", "--requeue"]) == 0
    printed = capsys.readouterr().out
    plan, script = printed.split("Slurm job script (not submitted: --dry-run):")
    assert "parse    RUN" in plan
    # The default config: compile needs 16 GB x max(64*64/640^2, 0.5) = 8 GB, the most of the three stages;
    # optimization_level 2 wants a GPU.
    for directive in ("--cpus-per-task=8", "--mem=8G", "--gpus=1", "--partition=gpu", "--time=12:00:00",
                      "--requeue", f"--output={work / 'slurm-%j.log'}", "--open-mode=append"):
        assert f"#SBATCH {directive}\n" in script, directive
    assert f"-m mars_hailo.cli compile {v8_onnx} --work-dir {work} --calib {calib}\n" in script
    assert 'scontrol requeue "$SLURM_JOB_ID"' in script and not work.exists()
    assert main(args + ["--slurm", "--dry-run", "--mem", "40G", "--gpus", "0", "--cpus", "2"]) == 0
    script = capsys.readouterr().out
    assert "#SBATCH --mem=40G\n" in script and "--gpus" not in script and "#SBATCH --cpus-per-task=2\n" in script
    assert "#SBATCH --no-requeue" in script and "scontrol requeue" not in script


@pytest.mark.parametrize("options, message", [
    (["--partition", "gpu"], "--partition size the Slurm job: add --slurm"),
    (["--slurm", "--time", "90"], "--time '90': give [D-]H:MM:SS"),
    (["--slurm", "--mem", "lots"], "--mem 'lots': give an amount Slurm understands"),
    (["--slurm", "--gpus", "-1"], "--gpus must be 0 or more"),
])
def test_bad_slurm_options_are_refused(fake_dfc: Path, compile_inputs, capsys, options, message) -> None:
    args, work = compile_inputs
    assert main(args + options) == 2
    assert message in capsys.readouterr().err and not work.exists()


def test_status_of_a_folder_that_is_no_compile(tmp_path: Path, capsys) -> None:
    assert main(["status", str(tmp_path)]) == 2
    assert "has no state.json and no slurm_jobs.json: not a compile work dir" in capsys.readouterr().err


def test_status_of_a_local_compile_that_ran_out_of_memory(tmp_path: Path, capsys) -> None:
    work = tmp_path / "work"
    (work / "64x64").mkdir(parents=True)
    stages = {"parse": {"status": "done", "duration_s": 1.25},
              "optimize": {"status": "oom", "duration_s": 3.0, "finished": "2026-01-01T00:00:03+00:00"}}
    (work / "state.json").write_text(json.dumps({"version": 1, "current_resolution": "64x64", "final": None,
                                                 "resolutions": {"64x64": {"stages": stages}}, "attempts": []}))
    (work / "64x64" / "stage_optimize.log").write_text("=== optimize 64x64 started 2026-01-01T00:00:00+00:00 "
                                                       "(cpus=2) ===\nKilled\n")
    assert main(["status", str(work)]) == 0
    status = capsys.readouterr().out
    assert "no Slurm job recorded (slurm_jobs.json)" in status
    assert "resolution 64x64: parse done in 1.2 s, optimize oom, compile to do" in status
    assert "stage optimize:" not in status     # it ended (out of memory) after it last started
    assert f"last lines of {work / '64x64' / 'stage_optimize.log'}:" in status and "    Killed" in status


@pytest.mark.slow
def test_a_job_failing_on_the_machine_requeues_itself_and_resumes_to_the_hef(
        fake_dfc: Path, compile_inputs, local_slurm, tmp_path: Path, capsys, monkeypatch) -> None:
    args, work = compile_inputs
    marker = tmp_path / "compile-crashed-once"
    monkeypatch.setenv("HAILO_FAKE_FAIL", f"compile:crash_once={marker}")  # the job's environment
    assert main(args + ["--slurm", "--requeue", "--cpus", "1"]) == 0
    printed = capsys.readouterr().out
    job = _job_id(printed)
    assert f"follow it: tail -f {work / f'slurm-{job}.log'}" in printed
    assert f"status:    mars-hailo status {work}" in printed
    started = time.monotonic()
    assert local_slurm.wait_for_job(job, timeout_s=240) == "COMPLETED", (work / f"slurm-{job}.log").read_text()
    log = (work / f"slurm-{job}.log").read_text()
    assert marker.exists() and (work / "mars_yolo.hef").is_file()
    assert "restart 0" in log and "goes back in the queue and resumes from state.json" in log and "restart 1" in log
    state = json.loads((work / "state.json").read_text())
    first, second = state["attempts"]
    assert first["stages"]["compile"]["status"] == "crashed" and first["outcome"] == "failed"
    assert second["stages"]["parse"] == {"status": "skipped"} and second["stages"]["optimize"] == {"status": "skipped"}
    assert second["stages"]["compile"]["status"] == "done"
    assert main(["status", str(work)]) == 0
    status = capsys.readouterr().out
    assert f"Slurm job {job}: COMPLETED" in status and "restarts 1" in status
    assert f"HEF {work / 'mars_yolo.hef'} (64x64)" in status and "last lines of" in status
    print(f"requeued compile job: {time.monotonic() - started:.1f} s to the HEF")


@pytest.mark.slow
def test_a_preempted_job_resumes_and_status_follows_it(fake_dfc: Path, compile_inputs, local_slurm, capsys,
                                                         monkeypatch) -> None:
    args, work = compile_inputs
    monkeypatch.setenv("HAILO_FAKE_FAIL", "compile:sleep=6")   # a long compile stage to pre-empt
    assert main(args + ["--slurm", "--requeue", "--cpus", "1"]) == 0
    job = _job_id(capsys.readouterr().out)
    deadline = time.monotonic() + 180
    status = ""
    while time.monotonic() < deadline:
        assert main(["status", str(work)]) == 0
        status = capsys.readouterr().out
        if "stage compile: running for" in status:
            break
        time.sleep(0.5)
    assert f"Slurm job {job}: RUNNING" in status and "stage compile: running for" in status, status
    assert "parse done in" in status and "optimize done in" in status and "compile next" in status
    local_slurm.run("scontrol", "requeue", job)        # what a pre-emption with PreemptMode=REQUEUE does
    assert local_slurm.wait_for_job(job, timeout_s=240) == "COMPLETED"
    state = json.loads((work / "state.json").read_text())
    assert state["final"] and state["attempts"][-1]["stages"]["optimize"] == {"status": "skipped"}
    assert "restart 1" in (work / f"slurm-{job}.log").read_text()
