"""Shared data of the node tests: one simulated run written as a bag (quick preset)."""
from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def quick_run(tmp_path_factory):
    """A `mars-sim --preset quick --seed 3` run folder (bag/, truth/, rig.yaml, sim_config.yaml)."""
    from mars_sim import simulate, write_run

    out = tmp_path_factory.mktemp("quick_run") / "run"
    write_run(simulate("quick", seed=3), out)
    return out
