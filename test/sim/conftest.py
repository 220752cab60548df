"""Shared simulated runs for the simulator tests (small presets, simulated once per session)."""
from __future__ import annotations

from pathlib import Path

import pytest

from mars_sim import simulate, write_run
from mars_sim.simulation import SimulationResult


@pytest.fixture(scope="session")
def quick_result() -> SimulationResult:
    """The 'quick' preset, seed 7."""
    return simulate("quick", seed=7)


@pytest.fixture(scope="session")
def quick_run_dir(tmp_path_factory: pytest.TempPathFactory, quick_result: SimulationResult) -> Path:
    """quick_result written to disk (mcap)."""
    return write_run(quick_result, tmp_path_factory.mktemp("quick_run") / "run")
