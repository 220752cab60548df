"""Counting a season's bags on a Dask cluster (`mars-count FOLDER --dask ...`): one task per bag, the season
map merge as one reduction task over their results.

Inputs and results travel as paths on storage that the client and every worker see at the same place (a
shared file system on a cluster): a task gets a bag's path and the folder to write its result into, and gives
back the small summary dict; the maps themselves never travel through the scheduler. The merge task reads
the bags' map_state.npz files from there and writes the season map next to them.

Faults: a worker that dies mid-bag (killed, out of memory, its node lost) costs only that bag, which the
scheduler runs again on another worker (up to `distributed.scheduler.allowed-failures` times, then the bag
is reported as not counted); a bag that fails on its own is reported by its task and the others are merged.
Nothing is published at --out before the whole season result is complete (the caller swaps it in).
"""
from __future__ import annotations

import multiprocessing
import re
import secrets
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

from mars_core.config_schema import ConfigError, config_field, config_from_dict, load_yaml_mapping

# Times the scheduler runs a bag again after the worker counting it died, before it reports the bag as not
# counted: a bag that kills every worker it touches (e.g. out of memory) must not stop the season.
WORKER_DEATHS_PER_BAG = 3
_WALLTIME = re.compile(r"^(\d+-)?\d{1,3}:\d{2}:\d{2}$")
_TCP_ADDRESS = re.compile(r"^(tcp|tls)://[^\s:/]+:\d+$")


class DaskSetupError(ValueError):
    """A --dask target or its Slurm worker settings cannot be used (the message says why)."""


@dataclass(frozen=True)
class DaskTarget:
    """Where the bags are counted: a LocalCluster of `workers` processes, an existing scheduler, or Slurm."""

    kind: str                       # "local" | "scheduler" | "slurm"
    workers: Optional[int] = None   # local: worker processes (None: one per CPU)
    address: str = ""               # scheduler: tcp://host:port

    def describe(self) -> str:
        """How the console names the cluster."""
        if self.kind == "local":
            return f"a local Dask cluster of {self.workers or 'one per CPU'} worker processes"
        if self.kind == "scheduler":
            return f"the Dask scheduler at {self.address}"
        return "Dask workers in Slurm jobs"


def parse_dask_target(text: str) -> DaskTarget:
    """`local`, `local:N`, `tcp://host:port` or `slurm` as a DaskTarget; DaskSetupError otherwise."""
    if text == "slurm":
        return DaskTarget("slurm")
    if text == "local":
        return DaskTarget("local")
    if text.startswith("local:"):
        count = text.split(":", 1)[1]
        if not count.isdigit() or int(count) < 1:
            raise DaskSetupError(f"--dask {text}: the number of local workers must be a whole number >= 1, "
                                 f"e.g. local:4")
        return DaskTarget("local", workers=int(count))
    if _TCP_ADDRESS.match(text):
        return DaskTarget("scheduler", address=text)
    raise DaskSetupError(f"--dask {text!r} is not a Dask target: use local, local:N (N worker processes), "
                         f"tcp://HOST:PORT (a running dask scheduler) or slurm (worker jobs via sbatch)")


def check_dask_installed(target: DaskTarget) -> None:
    """DaskSetupError naming what to install when the packages the target needs are missing."""
    import importlib.util

    needed = ["dask", "distributed"] + (["dask_jobqueue"] if target.kind == "slurm" else [])
    missing = [name for name in needed if importlib.util.find_spec(name) is None]
    if missing:
        raise DaskSetupError(f"--dask needs the Python package(s) {', '.join(missing)}: pip install "
                             f"\"mars-flower-counting[cluster]\" (the project venv has them from requirements.txt)")


@dataclass(frozen=True)
class SlurmWorkers:
    """The Slurm jobs that hold the Dask workers of `--dask slurm` (YAML keys of --slurm-config)."""

    cores: int = config_field(1, "CPU cores of one worker job; each core runs one single-threaded counting "
                                 "process (bags are counted one per process)", minimum=1)
    memory: str = config_field("4GB", "Memory of one worker job, shared by its processes (e.g. 4GB, 16GiB)")
    walltime: str = config_field("01:00:00", "Wall-clock limit of one worker job ([D-]H:MM:SS); a job that "
                                             "runs out of time costs only the bags it was counting")
    partition: str = config_field("", "Slurm partition of the worker jobs (empty: the cluster's default)")
    jobs: int = config_field(1, "Worker jobs submitted", minimum=1)
    account: str = config_field("", "Slurm account charged (empty: the user's default)")
    job_directives: Tuple[str, ...] = config_field((), "Further #SBATCH options, e.g. ['--qos=low']")

    def __post_init__(self) -> None:
        if not _WALLTIME.match(self.walltime):
            raise ConfigError(f"walltime must be [D-]H:MM:SS, e.g. 01:30:00, got {self.walltime!r}",
                              key="walltime")
        from dask.utils import parse_bytes

        try:
            parse_bytes(self.memory)
        except ValueError:
            raise ConfigError(f"memory must be an amount such as 4GB or 16GiB, got {self.memory!r}",
                              key="memory") from None


def slurm_workers_from(config_file: Optional[Path], overrides: Dict[str, Any]) -> SlurmWorkers:
    """SlurmWorkers from the YAML file (if any) with the command-line values that were given on top."""
    data = load_yaml_mapping(config_file, "Slurm worker configuration") if config_file else {}
    data.update({k: v for k, v in overrides.items() if v is not None})
    return config_from_dict(SlurmWorkers, data, str(config_file.name) if config_file else "--slurm-*")


@contextmanager
def dask_client(target: DaskTarget, slurm: SlurmWorkers, log_dir: Path, wait_s: float) -> Iterator[Any]:
    """A distributed.Client for the target, with at least one worker (DaskSetupError after wait_s without)."""
    import dask
    from distributed import Client, LocalCluster

    cluster: Any = None
    # The scheduler of a local or Slurm cluster lives in this process and takes allowed-failures; a running
    # scheduler (tcp://) keeps its own. Local workers are forked like the process pool's, so that they start
    # with the counting modules imported (spawned ones import them anew: ~5 s of CPU each, measured on 2 small
    # bags as +40 % wall time); the setting holds while the cluster lives, as the nanny restarts dead workers.
    # worker-saturation 1.0: a worker gets its next bag when it is done with one, the others wait at the
    # scheduler for whichever worker is free first (also one that joins later: a Slurm job starting late);
    # at Dask's default 1.1 a lone first worker was handed two bags and counted them one after the other.
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    with dask.config.set({"distributed.scheduler.allowed-failures": WORKER_DEATHS_PER_BAG,
                          "distributed.scheduler.worker-saturation": 1.0,
                          "distributed.worker.multiprocessing-method": method}):
        try:
            if target.kind == "local":
                # Counting is Python-heavy: one single-threaded process per worker, as the local pool does.
                cluster = LocalCluster(n_workers=target.workers, threads_per_worker=1, processes=True,
                                       dashboard_address=None)
                client = Client(cluster)
            elif target.kind == "scheduler":
                try:
                    client = Client(target.address, timeout=min(wait_s, 30.0))
                except OSError as exc:
                    raise DaskSetupError(f"no Dask scheduler answers at {target.address} ({exc}); start one "
                                         f"with `dask scheduler` and workers with `dask worker "
                                         f"{target.address}`") from None
            else:
                cluster = _slurm_cluster(slurm, log_dir)
                client = Client(cluster)
        except BaseException:
            if cluster is not None:
                cluster.close()
            raise
        try:
            try:
                client.wait_for_workers(1, timeout=wait_s)
            except (TimeoutError, OSError):
                where = (f"; the worker jobs' logs are in {log_dir} (squeue -u $USER shows whether they are "
                         f"still pending)" if target.kind == "slurm" else "")
                raise DaskSetupError(f"no Dask worker joined {target.describe()} within {wait_s:.0f} s"
                                     f"{where}") from None
            yield client
        finally:
            client.close()
            if cluster is not None:
                cluster.close()


def _slurm_cluster(slurm: SlurmWorkers, log_dir: Path) -> Any:
    """A dask_jobqueue.SLURMCluster with slurm.jobs jobs requested, each running slurm.cores workers."""
    import shutil

    if shutil.which("sbatch") is None:
        raise DaskSetupError("--dask slurm needs Slurm's sbatch on PATH (run mars-count on a machine of the "
                             "Slurm cluster, e.g. its login node)")
    from dask_jobqueue import SLURMCluster

    log_dir.mkdir(parents=True, exist_ok=True)
    directives = list(slurm.job_directives) + ([f"--account={slurm.account}"] if slurm.account else [])
    cluster = SLURMCluster(cores=slurm.cores, processes=slurm.cores, memory=slurm.memory,
                           walltime=slurm.walltime, queue=slurm.partition or None, python=sys.executable,
                           log_directory=str(log_dir), job_extra_directives=directives,
                           job_name="mars-count", scheduler_options={"dashboard_address": None})
    cluster.scale(jobs=slurm.jobs)
    return cluster


def check_shared_storage(client: Any, paths: Sequence[Path]) -> None:
    """DaskSetupError unless every connected worker sees each of paths (the bags are read and the results
    written there by path)."""
    seen = client.run(_folders_visible, [str(p) for p in paths])
    blind = {worker: missing for worker, missing in seen.items() if missing}
    if blind:
        worker, missing = sorted(blind.items())[0]
        raise DaskSetupError(f"{len(blind)} of {len(seen)} Dask workers do not see {missing[0]} (e.g. {worker}): "
                             f"bags and results travel as paths, so FOLDER and --out must be on storage that "
                             f"every worker mounts at the same place")


def _folders_visible(paths: List[str]) -> List[str]:
    """The paths that are not folders here (run on each worker)."""
    return [p for p in paths if not Path(p).is_dir()]


def run_bags_on_dask(client: Any, count_one: Callable[[Any], Dict[str, Any]], jobs: Sequence[Any],
                     progress: bool) -> List[Dict[str, Any]]:
    """count_one(job) for every job, one task each; results in the jobs' order ({"error": why} for a bag
    whose workers kept dying). With progress, a bar of bags done / total, the workers and the time left."""
    from distributed import as_completed
    from distributed.scheduler import KilledWorker

    run = secrets.token_hex(4)
    futures = [client.submit(count_one, job, key=f"mars-count-bag-{i}-{run}", pure=False)
               for i, job in enumerate(jobs)]
    index = {future.key: i for i, future in enumerate(futures)}
    results: List[Dict[str, Any]] = [{} for _ in jobs]
    bar = _season_progress(len(jobs)) if progress else None
    started = time.perf_counter()
    frames = 0
    try:
        for future in as_completed(futures):
            i = index[future.key]
            try:
                results[i] = future.result()
            except KilledWorker:
                results[i] = {"error": "every worker that counted it died (killed, out of memory or its node "
                                       "lost) until the scheduler gave up on it (distributed.scheduler."
                                       "allowed-failures)"}
            except Exception as exc:  # e.g. the bag's task could not be unpickled on the worker
                results[i] = {"error": f"{type(exc).__name__}: {exc}"}
            frames += int(results[i].get("summary", {}).get("frames_total", 0))
            if bar is not None:
                workers = len(client.scheduler_info().get("workers", {}))
                bar.set_postfix_str(f"{workers} workers, "
                                    f"{frames / max(time.perf_counter() - started, 1e-9):.0f} frames/s",
                                    refresh=False)
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
        for future in futures:
            future.release()
    return results


def merge_on_dask(client: Any, run_dirs: Sequence[Path], out_dir: Path, names: Sequence[str],
                  problems: Sequence[str]) -> Dict[str, Any]:
    """The season merge (season_merge.merge_runs) as one task on a worker: paths in, merge_summary out."""
    future = client.submit(merge_season, [str(r) for r in run_dirs], str(out_dir), list(names), list(problems),
                           key=f"mars-count-merge-{secrets.token_hex(4)}", pure=False)
    try:
        return dict(future.result())
    finally:
        future.release()


def merge_season(run_dirs: List[str], out_dir: str, names: List[str], problems: List[str]) -> Dict[str, Any]:
    """The task body of the merge: merge_runs over the bags' result folders on shared storage."""
    from mars_pipeline.season_merge import merge_runs

    return merge_runs(run_dirs, out_dir, names=names, problems=problems)


def _season_progress(total: int) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, desc="bags", unit="bag", file=sys.stderr, dynamic_ncols=True, smoothing=0.3,
                postfix="workers and frames/s once a bag is done",
                bar_format="{desc}: {n_fmt}/{total_fmt} done |{bar}| {elapsed}<{remaining} left{postfix}")
