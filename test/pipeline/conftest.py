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
