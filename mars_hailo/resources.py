"""What the job is really allowed to use: CPUs (affinity + cgroup quota), free RAM and VRAM.

The DFC (TensorFlow + its compiler) sizes its thread pools from the node's core count, not from the job's
limits; on a shared node that means hundreds of threads and out-of-memory. Each stage therefore runs in a
subprocess whose environment caps every library's thread pool before anything is imported.
"""
from __future__ import annotations

import math
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

THREAD_ENV_VARS = ("OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                   "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "BLIS_NUM_THREADS")


@dataclass(frozen=True)
class CpuBudget:
    """CPUs the job may use and where each limit came from."""

    cpus: int
    affinity: int
    cgroup_quota: float | None
    scheduler_limit: int | None
    source: str


def _cgroup_v2_quota(cgroup_root: Path, proc_cgroup: Path) -> float | None:
    try:
        lines = proc_cgroup.read_text().splitlines()
    except OSError:
        return None
    rel = next((ln.split("::", 1)[1] for ln in lines if ln.startswith("0::")), None)
    if rel is None:
        return None
    best: float | None = None
    d = cgroup_root / rel.lstrip("/")
    # The tightest quota on the path from our cgroup up to the root applies.
    while True:
        f = d / "cpu.max"
        if f.is_file():
            parts = f.read_text().split()
            if parts and parts[0] != "max":
                q = float(parts[0]) / float(parts[1] if len(parts) > 1 else 100000)
                best = q if best is None else min(best, q)
        if d == cgroup_root or d == d.parent:
            break
        d = d.parent
    return best


def _cgroup_v1_quota(cgroup_root: Path) -> float | None:
    for sub in ("cpu,cpuacct", "cpu", "cpuacct,cpu"):
        d = cgroup_root / sub
        q, p = d / "cpu.cfs_quota_us", d / "cpu.cfs_period_us"
        if q.is_file() and p.is_file():
            quota, period = int(q.read_text().strip()), int(p.read_text().strip())
            if quota > 0 and period > 0:
                return quota / period
    return None


def allowed_cpus(cgroup_root: str | Path = "/sys/fs/cgroup", proc_cgroup: str | Path = "/proc/self/cgroup",
                 environ: dict[str, str] | None = None) -> CpuBudget:
    """CPUs this process may use: min(affinity, cgroup v2 cpu.max or v1 cfs quota, SLURM_CPUS_PER_TASK)."""
    env = os.environ if environ is None else environ
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    root = Path(cgroup_root)
    quota = _cgroup_v2_quota(root, Path(proc_cgroup))
    if quota is None:
        quota = _cgroup_v1_quota(root)
    sched = None
    for var in ("SLURM_CPUS_PER_TASK", "PBS_NUM_PPN", "NSLOTS"):
        if env.get(var, "").isdigit() and int(env[var]) > 0:
            sched = int(env[var])
            break
    candidates = {"affinity": affinity}
    if quota is not None:
        candidates["cgroup quota"] = max(int(math.floor(quota)), 1)
    if sched is not None:
        candidates["scheduler"] = sched
    source = min(candidates, key=lambda k: candidates[k])
    return CpuBudget(max(candidates[source], 1), affinity, quota, sched, source)


def thread_environment(cpus: int, base: dict[str, str] | None = None) -> dict[str, str]:
    """A copy of the environment with every thread pool the DFC's libraries honour capped to `cpus`."""
    env = dict(os.environ if base is None else base)
    for var in THREAD_ENV_VARS:
        env[var] = str(cpus)
    # Inter-op parallelism multiplies intra-op threads; keep it small.
    env["TF_NUM_INTEROP_THREADS"] = str(min(2, cpus))
    env["TF_CPP_MIN_LOG_LEVEL"] = env.get("TF_CPP_MIN_LOG_LEVEL", "1")
    return env


def free_ram_gb(meminfo: str | Path = "/proc/meminfo", cgroup_root: str | Path = "/sys/fs/cgroup",
                proc_cgroup: str | Path = "/proc/self/cgroup") -> float | None:
    """Available RAM (GB): MemAvailable, or the cgroup's memory.max - memory.current if tighter."""
    avail = None
    try:
        for line in Path(meminfo).read_text().splitlines():
            if line.startswith("MemAvailable:"):
                avail = int(line.split()[1]) / 1024 ** 2
    except OSError:
        pass
    try:
        rel = next((ln.split("::", 1)[1] for ln in Path(proc_cgroup).read_text().splitlines()
                    if ln.startswith("0::")), None)
        if rel is not None:
            d = Path(cgroup_root) / rel.lstrip("/")
            mx, cur = d / "memory.max", d / "memory.current"
            if mx.is_file() and cur.is_file() and mx.read_text().strip() != "max":
                left = (int(mx.read_text()) - int(cur.read_text())) / 1024 ** 3
                avail = left if avail is None else min(avail, left)
    except (OSError, ValueError):
        pass
    return avail


def free_vram_gb() -> float | None:
    """Free memory of the first NVIDIA GPU (GB), or None without a GPU / nvidia-smi."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return None
    try:
        out = subprocess.run([exe, "--query-gpu=memory.free", "--format=csv,noheader,nounits"],
                             capture_output=True, text=True, timeout=10, check=True).stdout
        first = out.strip().splitlines()[0]
        return float(first) / 1024.0
    except (subprocess.SubprocessError, OSError, ValueError, IndexError):
        return None


def fitting_batch_size(wanted: int, base_gb: float, per_image_gb: float, available_gb: float | None) -> int:
    """Largest batch <= wanted (halving) whose estimated need base + per_image*batch fits; at least 1."""
    if available_gb is None or per_image_gb <= 0:
        return wanted
    b = wanted
    while b > 1 and base_gb + per_image_gb * b > available_gb:
        b //= 2
    return max(b, 1)
