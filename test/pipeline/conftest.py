"""Simulated runs shared by the offline-pipeline tests."""
from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def quick_run_mcap(tmp_path_factory):
    """`mars-sim --preset quick --seed 11` written as mcap."""
    from mars_sim import simulate, write_run

    out = tmp_path_factory.mktemp("quick_mcap") / "run"
    write_run(simulate("quick", seed=11), out)
    return out


@pytest.fixture(scope="session")
def quick_run_sqlite(tmp_path_factory):
    """The same run written as sqlite3 (Humble's default storage)."""
    from mars_sim import simulate, write_run

    out = tmp_path_factory.mktemp("quick_sqlite") / "run"
    write_run(simulate("quick", seed=11), out, storage="sqlite3")
    return out


@pytest.fixture(scope="session")
def small_run_mcap(tmp_path_factory):
    """A 3 m row of the quick preset (seed 3, about 20 flowers, 800 frames): the cheapest whole run, for the
    tests that count a bag several times."""
    from mars_sim import preset_config, simulate, write_run

    out = tmp_path_factory.mktemp("small_mcap") / "run"
    write_run(simulate(preset_config("quick", {"field": {"row_length_m": 3.0}}), seed=3), out)
    return out


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """A 1 m row of the quick preset cut after 3 s (4 flowers, ~270 frames, a 320 KB mcap): for the tests that
    count many (fuzzed) variants of a bag."""
    from mars_sim import preset_config, simulate, write_run

    out = tmp_path_factory.mktemp("tiny_mcap") / "run"
    write_run(simulate(preset_config("quick", {"field": {"row_length_m": 1.0}, "duration_s": 3.0}), seed=3), out)
    return out


@pytest.fixture(scope="session")
def two_small_bags(tmp_path_factory):
    """A season folder of two short simulated runs (quick preset, a 2 m row cut after 4 s, seeds 1 and 2),
    each with its rig.yaml: the cheapest season with two different maps to merge."""
    from mars_sim import preset_config, simulate, write_run

    season = tmp_path_factory.mktemp("two_small_bags") / "season"
    for seed in (1, 2):
        config = preset_config("quick", {"field": {"row_length_m": 2.0}, "duration_s": 4.0})
        write_run(simulate(config, seed=seed), season / f"run{seed}")
    return season


@pytest.fixture(scope="session")
def pool_result(two_small_bags, tmp_path_factory):
    """The local process pool's result on the two small bags, as season_results.result_contents: the
    reference of every --dask run."""
    from mars_pipeline.count_cli import main as mars_count
    from season_results import result_contents

    out = tmp_path_factory.mktemp("pool") / "out"
    assert mars_count([str(two_small_bags), "--out", str(out), "--workers", "2", "--no-progress"]) == 0
    return result_contents(out)
