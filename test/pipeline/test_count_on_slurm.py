"""mars-count FOLDER --dask slurm (issue 20) on a real single-node Slurm: the Dask workers run in Slurm jobs
submitted by dask_jobqueue, and the season comes out as the local process pool counts it."""
from __future__ import annotations

import json

import pytest

from mars_pipeline.count_cli import main as mars_count
from season_results import result_contents

pytestmark = pytest.mark.slow


def test_a_season_counted_by_dask_workers_in_slurm_jobs_equals_the_local_count(two_small_bags, pool_result,
                                                                              local_slurm, tmp_path, capsys):
    workers = tmp_path / "workers.yaml"
    workers.write_text("cores: 1\nmemory: 1GB\nwalltime: '00:15:00'\njobs: 2\n")
    out = tmp_path / "out"
    assert mars_count([str(two_small_bags), "--out", str(out), "--dask", "slurm", "--slurm-config", str(workers),
                       "--slurm-partition", "marstest", "--dask-wait", "240", "--no-progress"]) == 0, \
        capsys.readouterr()
    assert "2 bags on Dask workers in Slurm jobs" in capsys.readouterr().out
    assert result_contents(out) == pool_result
    logs = sorted((out / "dask-worker-logs").glob("mars-count-*.out"))   # each worker job's own log
    assert logs, list(out.iterdir())
    assert json.loads((out / "merge_summary.json").read_text())["flowers"] > 0
