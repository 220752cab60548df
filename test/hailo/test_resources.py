"""CPU budget from affinity + cgroup quotas, the thread environment, and memory-driven batch sizes."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mars_hailo.resources import (THREAD_ENV_VARS, allowed_cpus, fitting_batch_size, free_ram_gb,
                                                 thread_environment)

pytestmark = pytest.mark.hailo

ROOT = Path(__file__).resolve().parents[2]


def _cgroup_tree(tmp: Path, leaf_max: str, parent_max: str | None = None) -> tuple[Path, Path]:
    root = tmp / "cg"
    leaf = root / "job" / "step"
    leaf.mkdir(parents=True)
    (leaf / "cpu.max").write_text(leaf_max + "\n")
    if parent_max is not None:
        (root / "job" / "cpu.max").write_text(parent_max + "\n")
    proc = tmp / "cgroup"
    proc.write_text("0::/job/step\n")
    return root, proc


def test_cgroup_v2_quota_caps_cpus(tmp_path: Path) -> None:
    root, proc = _cgroup_tree(tmp_path, "100000 100000")
    b = allowed_cpus(root, proc, environ={})
    assert b.cgroup_quota == 1.0 and b.cpus == 1 and b.source == "cgroup quota"


def test_tightest_ancestor_quota_applies(tmp_path: Path) -> None:
    root, proc = _cgroup_tree(tmp_path, "max 100000", parent_max="50000 100000")
    b = allowed_cpus(root, proc, environ={})
    assert b.cgroup_quota == 0.5 and b.cpus == 1  # never below one CPU


def test_unlimited_cgroup_falls_back_to_affinity(tmp_path: Path) -> None:
    root, proc = _cgroup_tree(tmp_path, "max 100000")
    b = allowed_cpus(root, proc, environ={})
    assert b.cgroup_quota is None and b.cpus == len(os.sched_getaffinity(0)) and b.source == "affinity"


def test_cgroup_v1_quota(tmp_path: Path) -> None:
    d = tmp_path / "cg" / "cpu,cpuacct"
    d.mkdir(parents=True)
    (d / "cpu.cfs_quota_us").write_text("100000\n")
    (d / "cpu.cfs_period_us").write_text("100000\n")
    b = allowed_cpus(tmp_path / "cg", tmp_path / "no_such_file", environ={})
    assert b.cgroup_quota == 1.0 and b.cpus == 1


def test_scheduler_variable(tmp_path: Path) -> None:
    b = allowed_cpus(tmp_path, tmp_path / "none", environ={"SLURM_CPUS_PER_TASK": "1"})
    assert b.cpus == 1 and b.scheduler_limit == 1


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs 2 CPUs to restrict to 1")
def test_restricted_cpu_set_in_a_child() -> None:
    code = ("import os, json; os.sched_setaffinity(0, {min(os.sched_getaffinity(0))}); "
            "from mars_hailo.resources import allowed_cpus, thread_environment; "
            "b = allowed_cpus(); print(json.dumps([b.cpus, b.affinity, thread_environment(b.cpus)['OMP_NUM_THREADS']]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True).stdout
    assert json.loads(out) == [1, 1, "1"]


def test_thread_environment_sets_every_variable() -> None:
    env = thread_environment(3, {"PATH": "/bin"})
    assert all(env[v] == "3" for v in THREAD_ENV_VARS) and env["TF_NUM_INTEROP_THREADS"] == "2"
    assert env["PATH"] == "/bin"


def test_fitting_batch_size() -> None:
    assert fitting_batch_size(8, 12.0, 1.5, None) == 8
    assert fitting_batch_size(8, 12.0, 1.5, 100.0) == 8
    assert fitting_batch_size(8, 12.0, 1.5, 16.0) == 2  # 12 + 1.5*2 = 15 fits, 12 + 6 does not
    assert fitting_batch_size(8, 12.0, 1.5, 5.0) == 1


def test_free_ram_reads_meminfo_and_cgroup_limit(tmp_path: Path) -> None:
    mi = tmp_path / "meminfo"
    mi.write_text("MemTotal: 64000000 kB\nMemAvailable: 32000000 kB\n")
    assert abs(free_ram_gb(mi, tmp_path, tmp_path / "none") - 32000000 / 1024 ** 2) < 1e-9
    root, proc = _cgroup_tree(tmp_path, "max")
    (root / "job" / "step" / "memory.max").write_text(str(8 * 1024 ** 3))
    (root / "job" / "step" / "memory.current").write_text(str(6 * 1024 ** 3))
    assert abs(free_ram_gb(mi, root, proc) - 2.0) < 1e-9
