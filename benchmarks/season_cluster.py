"""A season folder on Dask (issue 20), on the user's path: `mars-count FOLDER --out R` with the local process
pool against `--dask local:N` on the same simulated bags (same counts? wall time?), and, with --slurm, the
round trip of a tiny Slurm job and `--dask slurm` on the tests' single-node Slurm (test/harness/local_slurm).

    python benchmarks/season_cluster.py [--bags 2] [--duration 8] [--repeats 3] [--workers 2] [--slurm]

Prints each run's wall and CPU time (CPU: less sensitive to a shared machine's load), the median per mode and the ratio; the per-bag counting time from summary.json
(`seconds`) gives the season extrapolation: bags per hour per worker for bags of this length, and hours of
recording counted per worker-hour (the bags' realtime factor).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "test"), str(ROOT / "test" / "pipeline")]

from season_results import result_contents  # noqa: E402


CPU: dict[str, list[float]] = {}


def _run(args: list[str], env: dict[str, str] | None = None, mode: str = "") -> float:
    """Wall seconds of one mars-count run; its CPU seconds (with every worker it reaped) go to CPU[mode]."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "mars_pipeline.count_cli"] + args + ["--no-progress"],
                          capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise SystemExit(f"mars-count {' '.join(args)} failed ({done.returncode}):\n{done.stderr}")
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    CPU.setdefault(mode, []).append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    return wall


def main() -> None:
    """Entry point."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bags", type=int, default=2)
    p.add_argument("--duration", type=float, default=8.0, help="seconds of each simulated quick-preset bag")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--slurm", action="store_true", help="also on a local single-node Slurm (needs root)")
    a = p.parse_args()
    from mars_sim import preset_config, simulate, write_run

    tmp = Path(tempfile.mkdtemp(prefix="season_cluster_"))
    season = tmp / "season"
    for seed in range(1, a.bags + 1):
        write_run(simulate(preset_config("quick", {"duration_s": a.duration}), seed=seed), season / f"run{seed}")
    times: dict[str, list[float]] = {"pool": [], "dask": []}
    outs = {"pool": tmp / "pool", "dask": tmp / "dask"}
    for i in range(a.repeats):   # alternated, so that a change in the machine's load hits both modes alike
        times["pool"].append(_run([str(season), "--out", str(outs["pool"]), "--workers", str(a.workers)],
                                  mode="pool"))
        times["dask"].append(_run([str(season), "--out", str(outs["dask"]), "--dask", f"local:{a.workers}"],
                                  mode="dask"))
        print(f"repeat {i + 1}: pool {times['pool'][-1]:.2f} s ({CPU['pool'][-1]:.1f} s CPU), dask "
              f"local:{a.workers} {times['dask'][-1]:.2f} s ({CPU['dask'][-1]:.1f} s CPU)", flush=True)
    same = result_contents(outs["pool"]) == result_contents(outs["dask"])
    merged = json.loads((outs["dask"] / "merge_summary.json").read_text())
    per_bag = [json.loads((outs["pool"] / f"run{s}" / "bag" / "summary.json").read_text())
               for s in range(1, a.bags + 1)]
    pool, dask = statistics.median(times["pool"]), statistics.median(times["dask"])
    print(f"{a.bags} bags of {a.duration:.0f} s: counts identical: {same}; merged flowers {merged['flowers']} "
          f"(per bag {[s['flowers'] for s in per_bag]})")
    print(f"median wall: pool {pool:.2f} s, dask local:{a.workers} {dask:.2f} s, ratio {dask / pool:.2f}; median "
          f"CPU: pool {statistics.median(CPU['pool']):.1f} s, dask {statistics.median(CPU['dask']):.1f} s")
    seconds = statistics.mean(s["seconds"] for s in per_bag)
    recorded = statistics.mean(s["bag_duration_s"] for s in per_bag)
    print(f"per bag on one worker: {seconds:.2f} s counting for {recorded:.1f} s recorded -> "
          f"{3600 / seconds:.0f} bags/hour/worker of this length, {recorded / seconds:.1f} h of recording per "
          f"worker-hour")
    if a.slurm:
        _slurm(season, tmp, outs["pool"])


def _slurm(season: Path, tmp: Path, reference: Path) -> None:
    from harness.local_slurm import LocalSlurm

    slurm = LocalSlurm(tmp / "slurm").start()
    try:
        env = dict(os.environ, **slurm.env)
        trips = []
        for _ in range(3):
            started = time.perf_counter()
            job = slurm.run("sbatch", "--parsable", "-o", str(tmp / "slurm" / "tiny-%j.log"), "--wrap", "true",
                            ).stdout.strip()
            slurm.wait_for_job(job, 120)
            trips.append(time.perf_counter() - started)
        print(f"tiny Slurm job (sbatch --wrap true) round trip: {', '.join(f'{t:.2f}' for t in trips)} s")
        config = tmp / "workers.yaml"
        config.write_text("cores: 1\nmemory: 1GB\nwalltime: '00:15:00'\njobs: 2\n")
        wall = _run([str(season), "--out", str(tmp / "on_slurm"), "--dask", "slurm", "--slurm-config", str(config)],
                    env=env)
        same = result_contents(tmp / "on_slurm") == result_contents(reference)
        print(f"--dask slurm (2 worker jobs of 1 core): {wall:.2f} s wall, counts identical to the pool: {same}")
    finally:
        slurm.stop()


if __name__ == "__main__":
    main()
