"""mars-count FOLDER --dask (issue 20): a season counted on a Dask cluster gives the local process pool's
result; a worker killed mid-bag costs only that bag (run again); a bag that fails on its own is reported and
the others merged; bad cluster settings are refused before anything is read."""
from __future__ import annotations

import json
import os
import signal
import threading
import time

import pytest

from mars_pipeline.count_cli import main as mars_count
from season_results import result_contents

@pytest.mark.slow
def test_local_dask_cluster_counts_the_same_as_the_process_pool(two_small_bags, pool_result, tmp_path, capsys):
    out = tmp_path / "out"
    assert mars_count([str(two_small_bags), "--out", str(out), "--dask", "local:2"]) == 0
    printed = capsys.readouterr()
    assert "2 bags on a local Dask cluster of 2 worker processes" in printed.out
    assert "bags: 2/2 done" in printed.err and "2 workers" in printed.err   # progress across the cluster
    contents = result_contents(out)
    assert set(contents) == set(pool_result) and len(contents) > 10
    for name in pool_result:
        assert contents[name] == pool_result[name], name
    merged = json.loads((out / "merge_summary.json").read_text())
    assert merged["flowers"] > 0 and merged["problems"] == []
    assert not [p for p in out.rglob("*") if ".mars-count-" in p.name]


@pytest.fixture
def fork_cluster():
    """A LocalCluster of 2 single-threaded worker processes standing in for a running scheduler and its
    workers (forked: they start with this process's imports)."""
    import dask
    from distributed import Client, LocalCluster

    with dask.config.set({"distributed.worker.multiprocessing-method": "fork"}):  # restarted ones too
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
        client = Client(cluster)
        yield cluster, client
        client.close()
        cluster.close()


@pytest.mark.slow
def test_a_worker_killed_mid_bag_costs_only_that_bag(two_small_bags, pool_result, fork_cluster, tmp_path, capsys):
    cluster, client = fork_cluster
    out = tmp_path / "out"
    codes = []
    counting = threading.Thread(target=lambda: codes.append(mars_count(
        [str(two_small_bags), "--out", str(out), "--dask", cluster.scheduler_address, "--no-progress"])))
    pids = client.run(os.getpid)
    counting.start()
    killed = None
    deadline = time.monotonic() + 120
    while killed is None and time.monotonic() < deadline and counting.is_alive():
        busy = [worker for worker, keys in client.processing().items()
                if any(str(k).startswith("mars-count-bag-") for k in keys)]
        if busy:
            killed = busy[0]
            os.kill(pids[killed], signal.SIGKILL)
            assert not out.exists()   # nothing is published while bags are being counted
        time.sleep(0.02)
    counting.join(timeout=300)
    assert killed is not None, "no worker was seen counting a bag"
    assert codes == [0], capsys.readouterr()
    contents = result_contents(out)
    assert contents == pool_result    # the killed worker's bag was counted again, the same way
    assert not [p for p in out.rglob("*") if ".mars-count-" in p.name]   # its half-written result is gone


@pytest.mark.slow
def test_a_bag_that_kills_every_worker_is_reported_and_the_rest_merged(two_small_bags, tmp_path, capsys,
                                                                       monkeypatch):
    import dask
    from distributed import LocalCluster

    import mars_pipeline.count_cli as count_cli

    real_count_bag = count_cli.count_bag

    def count_bag_dying_on_run2(bag, *args, **kwargs):
        if "run2" in str(bag):
            os.kill(os.getpid(), signal.SIGKILL)   # like the OOM killer, every time this bag is tried
        return real_count_bag(bag, *args, **kwargs)

    # Set before the workers are forked, so that they have it; the scheduler gives up after 1 death.
    monkeypatch.setattr(count_cli, "count_bag", count_bag_dying_on_run2)
    # (and the workers the nanny restarts after a death are forked from this process too).
    out = tmp_path / "out"
    with dask.config.set({"distributed.worker.multiprocessing-method": "fork",
                          "distributed.scheduler.allowed-failures": 1}):
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
        try:
            assert mars_count([str(two_small_bags), "--out", str(out), "--dask", cluster.scheduler_address,
                               "--no-progress"]) == 3
        finally:
            cluster.close()
    merged = json.loads((out / "merge_summary.json").read_text())
    (problem,) = merged["problems"]
    assert problem.startswith(f"{two_small_bags / 'run2' / 'bag'}: not counted: every worker that counted it died")
    assert merged["runs"] == [str(out / "run1" / "bag")] and merged["flowers"] > 0
    assert not (out / "run2").exists() and "not counted: every worker" in capsys.readouterr().out


def test_workers_that_do_not_see_the_folders_are_named(fork_cluster, tmp_path):
    from mars_pipeline.cluster_counting import DaskSetupError, check_shared_storage

    _, client = fork_cluster
    check_shared_storage(client, [tmp_path])
    with pytest.raises(DaskSetupError, match=f"2 of 2 Dask workers do not see {tmp_path / 'elsewhere'}"):
        check_shared_storage(client, [tmp_path, tmp_path / "elsewhere"])


@pytest.mark.slow
def test_a_bag_failing_on_a_dask_worker_is_reported_and_the_rest_merged(two_small_bags, tmp_path, capsys):
    import shutil

    season = tmp_path / "season"
    shutil.copytree(two_small_bags, season)
    (broken,) = (season / "run2" / "bag").glob("*.mcap")
    broken.write_bytes(os.urandom(50_000))
    out = tmp_path / "out"
    assert mars_count([str(season), "--out", str(out), "--dask", "local:2", "--no-progress"]) == 3
    merged = json.loads((out / "merge_summary.json").read_text())
    (problem,) = merged["problems"]
    assert problem.startswith(f"{season / 'run2' / 'bag'}: not counted: cannot open bag")
    assert merged["runs"] == [str(out / "run1" / "bag")] and merged["flowers"] > 0
    assert not (out / "run2").exists()
    assert f"{season / 'run2' / 'bag'}: not counted" in capsys.readouterr().out


@pytest.mark.parametrize("options, message", [
    (["--dask", "local:0"], "must be a whole number >= 1"),
    (["--dask", "spark://x:1"], "is not a Dask target"),
    (["--slurm-cores", "4"], "add --dask slurm"),
    (["--dask", "local:2", "--slurm-partition", "gpu"], "apply to --dask slurm, not --dask local:2"),
    (["--dask", "slurm", "--slurm-walltime", "90min"], "walltime must be [D-]H:MM:SS"),
    (["--dask", "slurm", "--slurm-memory", "lots"], "memory must be an amount such as 4GB"),
    (["--dask", "slurm", "--slurm-jobs", "0"], "jobs must be >= 1"),
    (["--dask", "local", "--dask-wait", "0"], "--dask-wait must be positive"),
])
def test_bad_cluster_settings_are_refused_before_reading(two_small_bags, tmp_path, capsys, options, message):
    out = tmp_path / "out"
    assert mars_count([str(two_small_bags), "--out", str(out)] + options) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_a_slurm_config_file_is_checked_like_every_config(two_small_bags, tmp_path, capsys):
    workers = tmp_path / "workers.yaml"
    workers.write_text("cores: 2\nwalltme: '00:10:00'\n")
    assert mars_count([str(two_small_bags), "--out", str(tmp_path / "out"), "--dask", "slurm",
                       "--slurm-config", str(workers)]) == 2
    assert "unknown key(s) workers.yaml.walltme (did you mean walltime?)" in capsys.readouterr().err


def test_no_scheduler_at_the_address_is_a_clear_error(two_small_bags, tmp_path, capsys):
    out = tmp_path / "out"
    assert mars_count([str(two_small_bags), "--out", str(out), "--dask", "tcp://127.0.0.1:9",
                       "--dask-wait", "2", "--no-progress"]) == 2
    assert "no Dask scheduler answers at tcp://127.0.0.1:9" in capsys.readouterr().err
    assert not out.exists() and not list(tmp_path.glob(".out.*"))
