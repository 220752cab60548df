"""A real single-node Slurm for the tests: munged, slurmctld and slurmd from Debian's slurm-wlm and munge
packages, on localhost with free ports, all state, logs and the munge socket in one folder.

The clients (sbatch, squeue, scontrol and dask_jobqueue, which calls them) find it through SLURM_CONF. The
node announces more CPUs and memory than a small CI machine has (SlurmdParameters=config_overrides): jobs are
placed as on a real node but nothing is enforced (no cgroups), which is all the tests need.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional

DAEMONS = ("munged", "mungekey", "slurmctld", "slurmd", "sbatch", "scontrol", "squeue", "sinfo")
PARTITION = "marstest"
NODE = "marsnode"
NODE_CPUS = 8
NODE_MEMORY_MB = 65536


class LocalSlurmError(RuntimeError):
    """The local Slurm could not be brought up (the message says which part and shows its log)."""


def missing_programs() -> List[str]:
    """The programs of slurm-wlm and munge that are not installed here."""
    return [name for name in DAEMONS if shutil.which(name) is None and not Path(f"/usr/sbin/{name}").is_file()]


def _program(name: str) -> str:
    return shutil.which(name) or f"/usr/sbin/{name}"


def _free_ports(count: int) -> List[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


@dataclass
class LocalSlurm:
    """A running single-node Slurm rooted at folder; env holds what its clients need (SLURM_CONF)."""

    folder: Path
    env: Dict[str, str] = field(default_factory=dict)
    processes: List[subprocess.Popen] = field(default_factory=list)

    @property
    def conf(self) -> Path:
        """Its slurm.conf."""
        return self.folder / "slurm.conf"

    def start(self, timeout_s: float = 60.0) -> "LocalSlurm":
        """Bring up munged, slurmctld and slurmd, and wait until the node takes jobs."""
        if os.geteuid() != 0:
            raise LocalSlurmError("the local Slurm runs its daemons as root (slurmd starts jobs as their user)")
        for sub in ("state", "spool", "munge", "jobs"):
            (self.folder / sub).mkdir(parents=True, exist_ok=True)
        os.chmod(self.folder / "munge", 0o700)
        key = self.folder / "munge" / "munge.key"
        self._check([_program("mungekey"), "--create", f"--keyfile={key}", "--force"], "mungekey")
        munge_socket = self.folder / "munge" / "munge.socket"
        self._spawn("munged", [_program("munged"), "-F", "--force", f"--key-file={key}",
                               f"--socket={munge_socket}", f"--pid-file={self.folder / 'munge' / 'munged.pid'}",
                               f"--log-file={self.folder / 'munged.log'}",
                               f"--seed-file={self.folder / 'munge' / 'munged.seed'}"])
        self._wait_for(lambda: munge_socket.exists(), "munged", self.folder / "munged.log", timeout_s)
        ctld_port, slurmd_port = _free_ports(2)
        self.conf.write_text(self._config(munge_socket, ctld_port, slurmd_port))
        self.env = {"SLURM_CONF": str(self.conf)}
        self._spawn("slurmctld", [_program("slurmctld"), "-D", "-i", "-f", str(self.conf)])
        self._spawn("slurmd", [_program("slurmd"), "-D", "-N", NODE, "-f", str(self.conf)])
        self._wait_for(self._node_takes_jobs, "slurmctld/slurmd", self.folder / "slurmctld.log", timeout_s)
        return self

    def _config(self, munge_socket: Path, ctld_port: int, slurmd_port: int) -> str:
        f = self.folder
        return "\n".join([
            "ClusterName=marstest", "SlurmctldHost=localhost(127.0.0.1)", "SlurmUser=root", "SlurmdUser=root",
            "AuthType=auth/munge", "CredType=cred/munge",
            # cred_expire also delays a requeued job (default 120 s): short here, so a requeue test is quick
            f"AuthInfo=socket={munge_socket},cred_expire=8",
            f"SlurmctldPort={ctld_port}", f"SlurmdPort={slurmd_port}",
            f"StateSaveLocation={f / 'state'}", f"SlurmdSpoolDir={f / 'spool'}",
            f"SlurmctldPidFile={f / 'slurmctld.pid'}", f"SlurmdPidFile={f / 'slurmd.pid'}",
            f"SlurmctldLogFile={f / 'slurmctld.log'}", f"SlurmdLogFile={f / 'slurmd.log'}",
            "ProctrackType=proctrack/linuxproc", "TaskPlugin=task/none", "JobAcctGatherType=jobacct_gather/none",
            "AccountingStorageType=accounting_storage/none", "JobCompType=jobcomp/none",
            "SelectType=select/cons_tres", "SelectTypeParameters=CR_CPU_Memory", "SchedulerType=sched/backfill",
            "MpiDefault=none", "ReturnToService=2", "SlurmdParameters=config_overrides", "MinJobAge=3600",
            "KillWait=5", "InactiveLimit=0", "SlurmctldTimeout=30", "SlurmdTimeout=30", "MessageTimeout=20",
            "SchedulerParameters=sched_interval=2", "JobRequeue=1",
            f"NodeName={NODE} NodeHostname=localhost NodeAddr=127.0.0.1 CPUs={NODE_CPUS} "
            f"RealMemory={NODE_MEMORY_MB} State=UNKNOWN",
            f"PartitionName={PARTITION} Nodes={NODE} Default=YES MaxTime=INFINITE State=UP", ""])

    def _spawn(self, name: str, command: List[str]) -> None:
        log = open(self.folder / f"{name}.out", "w")
        self.processes.append(subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                               env=dict(os.environ, **self.env), start_new_session=True))

    def _check(self, command: List[str], what: str) -> None:
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            raise LocalSlurmError(f"{what} failed ({done.returncode}): {done.stderr.strip()}")

    def _node_takes_jobs(self) -> bool:
        done = subprocess.run(["sinfo", "-h", "-n", NODE, "-o", "%t"], capture_output=True, text=True,
                              env=dict(os.environ, **self.env))
        return done.returncode == 0 and done.stdout.strip() in ("idle", "mix", "alloc")

    def _wait_for(self, ready, what: str, log: Path, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if ready():
                return
            dead = [p for p in self.processes if p.poll() is not None]
            if dead:
                break
            time.sleep(0.2)
        tails = "\n".join(f"--- {p.name}:\n" + p.read_text()[-2000:] for p in sorted(self.folder.glob("*.out"))
                          + [log] if p.is_file())
        self.stop()
        raise LocalSlurmError(f"{what} did not come up within {timeout_s:.0f} s:\n{tails}")

    def run(self, *command: str, check: bool = True) -> subprocess.CompletedProcess:
        """A Slurm client command against this cluster."""
        done = subprocess.run(list(command), capture_output=True, text=True, env=dict(os.environ, **self.env))
        if check and done.returncode != 0:
            raise LocalSlurmError(f"{' '.join(command)} failed: {done.stderr.strip()}")
        return done

    def job_state(self, job_id: str) -> Optional[str]:
        """The job's state (PENDING, RUNNING, COMPLETED, FAILED, ...), None if Slurm no longer knows it."""
        done = self.run("scontrol", "-o", "show", "job", job_id, check=False)
        for item in done.stdout.split():
            if item.startswith("JobState="):
                return item.split("=", 1)[1]
        return None

    def wait_for_job(self, job_id: str, timeout_s: float) -> str:
        """Wait until the job has ended; its final state."""
        deadline = time.monotonic() + timeout_s
        state = None
        while time.monotonic() < deadline:
            state = self.job_state(job_id)
            if state in ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY", "BOOT_FAIL",
                         "DEADLINE", "PREEMPTED"):
                return state
            time.sleep(0.5)
        raise LocalSlurmError(f"job {job_id} still {state} after {timeout_s:.0f} s:\n"
                              + self.run("scontrol", "show", "job", job_id, check=False).stdout)

    def stop(self, drain_s: float = 60.0) -> None:
        """Cancel every job and wait until the node has cleaned them up (else a job step's slurmstepd outlives
        its slurmd), then stop the daemons this object started, slurmd first."""
        if self.env and all(p.poll() is None for p in self.processes):
            self.run("scancel", f"--partition={PARTITION}", check=False)
            deadline = time.monotonic() + drain_s
            while time.monotonic() < deadline and self.run("squeue", "-h", check=False).stdout.strip():
                time.sleep(0.5)
        for process in reversed(self.processes):
            if process.poll() is None:
                process.terminate()
        for process in reversed(self.processes):
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.processes.clear()
