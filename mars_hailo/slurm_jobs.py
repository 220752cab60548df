"""`mars-hailo compile --slurm`: the compile as a Slurm batch job sized from its plan, and `mars-hailo status`.

The job runs the same `mars-hailo compile` command inside; a compile is resumable from state.json, so a job
that fails on the machine (out of memory, a crash, a time-out: exit status EXIT_RESUMABLE) or is pre-empted
loses only the stage it was in when `--requeue` is given: the job script puts itself back in the queue
(scontrol requeue), and Slurm requeues a pre-empted job itself (#SBATCH --requeue). Each submission is
recorded in WORK_DIR/slurm_jobs.json, which `mars-hailo status WORK_DIR` reads with the job's Slurm state.
"""
from __future__ import annotations

import datetime as _dt
import json
import math
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from mars_hailo.errors import HailoToolchainError

# Exit status of `mars-hailo compile` when a stage failed in a way a rerun can get past (EX_TEMPFAIL).
EXIT_RESUMABLE = 75
JOBS_FILE = "slurm_jobs.json"
# A job that keeps failing on the machine is put back this many times at most, then left FAILED.
DEFAULT_MAX_REQUEUES = 3
# CPUs of the job unless --cpus is given: the stages' thread pools are capped to what the job is allowed.
DEFAULT_CPUS = 8
_TIME = re.compile(r"^(\d+-)?\d{1,3}:\d{2}:\d{2}$")
_MEM = re.compile(r"^\d+[KMGT]?$", re.IGNORECASE)
_STAGE_START = re.compile(r"^=== (\w+) (\d+x\d+) started (\S+)")


class SlurmJobError(HailoToolchainError):
    """The compile job could not be written, submitted or looked up (the message says why)."""


@dataclass(frozen=True)
class JobRequest:
    """The resources and behaviour of the compile job (None: the cluster's default)."""

    cpus: int
    mem: str
    gpus: int
    partition: str | None = None
    time: str | None = None
    requeue: bool = False
    max_requeues: int = DEFAULT_MAX_REQUEUES


def check_request_options(time: str | None, mem: str | None, gpus: int | None, cpus: int | None,
                          max_requeues: int) -> None:
    """SlurmJobError naming the option whose value Slurm would not take."""
    if time is not None and not _TIME.match(time):
        raise SlurmJobError(f"--time {time!r}: give [D-]H:MM:SS, e.g. 12:00:00 or 1-00:00:00")
    if mem is not None and not _MEM.match(mem):
        raise SlurmJobError(f"--mem {mem!r}: give an amount Slurm understands, e.g. 32G or 64000M")
    if gpus is not None and gpus < 0:
        raise SlurmJobError(f"--gpus must be 0 or more, got {gpus}")
    if cpus is not None and cpus < 1:
        raise SlurmJobError(f"--cpus must be 1 or more, got {cpus}")
    if max_requeues < 0:
        raise SlurmJobError(f"--max-requeues must be 0 or more, got {max_requeues}")


def request_from_needs(needs: dict[str, Any], cpus: int | None, mem: str | None, gpus: int | None,
                       partition: str | None, time: str | None, requeue: bool, max_requeues: int) -> JobRequest:
    """The job's request: the options given, else the plan's needs (memory rounded up to whole GB)."""
    return JobRequest(cpus=cpus or DEFAULT_CPUS, mem=mem or f"{max(1, math.ceil(needs['ram_gb']))}G",
                      gpus=needs["gpus"] if gpus is None else gpus, partition=partition, time=time,
                      requeue=requeue, max_requeues=max_requeues)


def job_script(command: Sequence[str], request: JobRequest, work_dir: Path, net_name: str, needs_text: str
               ) -> str:
    """The sbatch script running command (the compile, as typed without --slurm) with the request's resources."""
    q = shlex.quote
    lines = ["#!/bin/bash",
             f"# mars-hailo compile as a Slurm job, written by `mars-hailo compile --slurm` ({_now()}).",
             f"# Sized from the plan: {needs_text}.",
             f"#SBATCH --job-name=mars-hailo-{net_name}",
             f"#SBATCH --cpus-per-task={request.cpus}",
             f"#SBATCH --mem={request.mem}",
             f"#SBATCH --output={work_dir / 'slurm-%j.log'}",
             "#SBATCH --open-mode=append"]
    if request.gpus:
        lines.append(f"#SBATCH --gpus={request.gpus}")
    if request.partition:
        lines.append(f"#SBATCH --partition={request.partition}")
    if request.time:
        lines.append(f"#SBATCH --time={request.time}")
    lines.append("#SBATCH --requeue" if request.requeue else "#SBATCH --no-requeue")
    # The job imports what this shell imports (this project, the DFC, and in tests the fakes).
    pythonpath = os.pathsep.join(os.path.abspath(p) if p else os.getcwd() for p in sys.path)
    lines += ["", f"cd {q(os.getcwd())}", f"export PYTHONPATH={q(pythonpath)}",
              'echo "=== mars-hailo compile: job $SLURM_JOB_ID on $(hostname), started $(date -u +%FT%TZ),'
              ' restart ${SLURM_RESTART_COUNT:-0} ==="',
              " ".join(q(c) for c in command), "status=$?"]
    if request.requeue:
        lines += [f'if [ "$status" -eq {EXIT_RESUMABLE} ] && [ "${{SLURM_RESTART_COUNT:-0}}" -lt '
                  f'{request.max_requeues} ]; then',
                  '    echo "=== a stage failed on the machine: job $SLURM_JOB_ID goes back in the queue and resumes'
                  ' from state.json ==="',
                  '    scontrol requeue "$SLURM_JOB_ID"',
                  "fi"]
    lines += ["exit $status", ""]
    return "\n".join(lines)


def submit(script: str, work_dir: Path, request: JobRequest, needs: dict[str, Any]) -> dict[str, Any]:
    """Write the script into work_dir, sbatch it and record the job in slurm_jobs.json; the job's record."""
    sbatch = shutil.which("sbatch")
    if sbatch is None:
        raise SlurmJobError("--slurm needs Slurm's sbatch on PATH (run mars-hailo on a machine of the cluster, "
                            "e.g. its login node); the job script is written with --dry-run --slurm")
    work_dir.mkdir(parents=True, exist_ok=True)
    path = work_dir / "compile.sbatch"
    path.write_text(script)
    path.chmod(0o755)
    done = subprocess.run([sbatch, "--parsable", str(path)], capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise SlurmJobError(f"sbatch refused the job ({done.returncode}): {done.stderr.strip()} (script: {path})")
    job_id = done.stdout.strip().split(";")[0]
    record = {"job_id": job_id, "script": str(path), "log": str(work_dir / f"slurm-{job_id}.log"),
              "submitted": _now(), "cpus": request.cpus, "mem": request.mem, "gpus": request.gpus,
              "partition": request.partition, "time": request.time, "requeue": request.requeue,
              "needs": needs}
    jobs = _read_jobs(work_dir)
    jobs.append(record)
    tmp = work_dir / f".{JOBS_FILE}.partial"
    tmp.write_text(json.dumps({"jobs": jobs}, indent=1))
    tmp.replace(work_dir / JOBS_FILE)
    return record


def _read_jobs(work_dir: Path) -> list[dict[str, Any]]:
    path = work_dir / JOBS_FILE
    if not path.is_file():
        return []
    try:
        return list(json.loads(path.read_text()).get("jobs", []))
    except (json.JSONDecodeError, AttributeError) as exc:
        raise SlurmJobError(f"{path} is not a job record ({exc}); delete it to submit anew") from None


def slurm_job_state(job_id: str) -> dict[str, str]:
    """The job's fields from `scontrol show job` (JobState, RunTime, Restarts, NodeList, Reason, ...), else
    from sacct; {} when Slurm no longer knows it or its tools are not here."""
    if shutil.which("scontrol"):
        done = subprocess.run(["scontrol", "-o", "show", "job", job_id], capture_output=True, text=True,
                              timeout=60)
        if done.returncode == 0 and done.stdout.strip():
            return dict(item.split("=", 1) for item in done.stdout.split() if "=" in item)
    if shutil.which("sacct"):
        done = subprocess.run(["sacct", "-n", "-X", "-P", "-j", job_id, "-o", "State,Elapsed,NodeList,ExitCode"],
                              capture_output=True, text=True, timeout=60)
        line = done.stdout.strip().splitlines()[-1:] if done.returncode == 0 else []
        if line:
            state, elapsed, nodes, code = (line[0].split("|") + ["", "", "", ""])[:4]
            return {"JobState": state.split()[0], "RunTime": elapsed, "NodeList": nodes, "ExitCode": code}
    return {}


def _tail(path: Path, lines: int) -> list[str]:
    try:
        return path.read_text(errors="replace").splitlines()[-lines:]
    except OSError:
        return []


def status_text(work_dir: Path, log_lines: int = 8) -> str:
    """What `mars-hailo status` prints: the Slurm job, the stage and its elapsed time, the last log lines."""
    state_path = work_dir / "state.json"
    if not work_dir.is_dir():
        raise SlurmJobError(f"{work_dir} does not exist: give the --work-dir of a compile")
    jobs = _read_jobs(work_dir)
    if not state_path.is_file() and not jobs:
        raise SlurmJobError(f"{work_dir} has no state.json and no {JOBS_FILE}: not a compile work dir")
    lines = [f"mars-hailo compile in {work_dir}"]
    job_state = ""
    if jobs:
        job = jobs[-1]
        slurm = slurm_job_state(job["job_id"])
        job_state = slurm.get("JobState", "")
        if slurm:
            extra = [f"on {slurm['NodeList']}" if slurm.get("NodeList") not in (None, "", "(null)") else "",
                     f"restarts {slurm['Restarts']}" if slurm.get("Restarts", "0") != "0" else "",
                     f"reason {slurm['Reason']}" if slurm.get("Reason") not in (None, "None", "") else "",
                     f"exit code {slurm['ExitCode']}" if slurm.get("ExitCode") not in (None, "0:0") else ""]
            lines.append(f"  Slurm job {job['job_id']}: {job_state}, elapsed {slurm.get('RunTime', '?')}"
                         + "".join(f", {e}" for e in extra if e))
        else:
            lines.append(f"  Slurm job {job['job_id']}: Slurm no longer knows it (ended long ago, or no Slurm "
                         f"tools here); submitted {job['submitted']}")
        lines.append(f"  job log: {job['log']}")
    else:
        lines.append(f"  no Slurm job recorded ({JOBS_FILE}): compiled with plain `mars-hailo compile`")
    state: dict[str, Any] = {}
    if state_path.is_file():
        try:
            state = json.loads(state_path.read_text())
        except json.JSONDecodeError as exc:
            lines.append(f"  state.json unreadable ({exc})")
    final = state.get("final")
    stage_log = None
    if final:
        lines.append(f"  finished {final['finished']}: HEF {final['hef']} ({final['resolution']})")
    elif state.get("current_resolution"):
        res = state["current_resolution"]
        stages = state["resolutions"].get(res, {}).get("stages", {})
        order = ("parse", "optimize", "compile")
        parts = []
        current = None
        for st in order:
            rec = stages.get(st)
            if rec and rec.get("status") == "done":
                parts.append(f"{st} done in {rec.get('duration_s', 0):.1f} s")
            elif current is None:
                current = st
                parts.append(f"{st} {rec['status'] if rec else 'next'}")
            else:
                parts.append(f"{st} to do")
        lines.append(f"  resolution {res}: " + ", ".join(parts))
        if current is not None:
            stage_log = work_dir / res / f"stage_{current}.log"
            started = _last_stage_start(stage_log, current)
            ended = _parse_time(stages.get(current, {}).get("finished"))
            # Started again after its last recorded end (or never ended): the stage is under way, as far as
            # the files tell; a running Slurm job says it is.
            if started is not None and (ended is None or started > ended) and job_state in ("RUNNING", ""):
                since = str(_dt.datetime.now(_dt.timezone.utc) - started).split(".")[0]
                what = "running for" if job_state == "RUNNING" else "started, no result yet, for"
                lines.append(f"  stage {current}: {what} {since} (started {started.isoformat(timespec='seconds')})")
    else:
        lines.append("  no stage has started yet")
    if jobs:
        tail = _tail(Path(jobs[-1]["log"]), log_lines)
        if tail:
            lines.append(f"  last lines of {jobs[-1]['log']}:")
            lines += [f"    {ln}" for ln in tail]
    if stage_log is not None:
        tail = _tail(stage_log, min(log_lines, 5))
        if tail:
            lines.append(f"  last lines of {stage_log}:")
            lines += [f"    {ln}" for ln in tail]
    return "\n".join(lines)


def _parse_time(text: Any) -> _dt.datetime | None:
    try:
        return _dt.datetime.fromisoformat(str(text)) if text else None
    except ValueError:
        return None


def _last_stage_start(log: Path, stage: str) -> _dt.datetime | None:
    """When the stage log says the stage was last started."""
    started = None
    for line in _tail(log, 10_000):
        m = _STAGE_START.match(line)
        if m and m.group(1) == stage:
            started = _parse_time(m.group(3)) or started
    return started


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
