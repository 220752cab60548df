"""Test-wide set-up: ROS traffic stays on this machine, on a domain of its own per run."""
from __future__ import annotations

import os
import random
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))
TEST_DIR = Path(__file__).resolve().parent
if str(TEST_DIR) not in sys.path:  # `from harness...` in tests
    sys.path.insert(0, str(TEST_DIR))

# Set before anything imports rclpy, inherited by every node subprocess: discovery only on localhost and a
# random domain so concurrent runs (and other machines) never see each other.
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ.setdefault("MARS_TEST_ROS_DOMAIN_ID", str(random.SystemRandom().randint(1, 100)))
os.environ["ROS_DOMAIN_ID"] = os.environ["MARS_TEST_ROS_DOMAIN_ID"]
os.environ.pop("ROS_STATIC_PEERS", None)
os.environ.setdefault("RCUTILS_LOGGING_BUFFERED_STREAM", "0")


@pytest.fixture(scope="session")
def ros_context():
    """rclpy initialised once for the test process (for probe nodes)."""
    import rclpy

    rclpy.init()
    yield
    rclpy.try_shutdown()


@pytest.fixture
def probe(ros_context):
    """A probe node that records messages of watched topics."""
    from harness.probe import Probe

    p = Probe(f"test_probe_{random.randint(0, 1_000_000)}")
    yield p
    p.close()


@pytest.fixture(scope="session")
def local_slurm(tmp_path_factory):
    """A real single-node Slurm (munged, slurmctld, slurmd on localhost, one partition) for the whole run,
    its clients pointed at it through SLURM_CONF. Under CI=true it must come up (.ci/run installs slurm-wlm
    and munge); elsewhere the tests that need it are skipped, saying why."""
    from harness.local_slurm import LocalSlurm, LocalSlurmError, missing_programs

    must_start = os.environ.get("CI") == "true"
    missing = missing_programs()
    reason = None
    if missing:
        reason = (f"no local Slurm: {', '.join(missing)} not installed (apt-get install slurm-wlm munge; "
                  f".ci/run does)")
    elif os.geteuid() != 0:
        reason = "no local Slurm: its daemons must run as root"
    if reason is not None:
        if must_start:
            pytest.fail(f"CI=true: {reason}")
        pytest.skip(reason)
    try:
        slurm = LocalSlurm(tmp_path_factory.mktemp("slurm")).start()
    except LocalSlurmError as exc:
        if must_start:
            raise
        pytest.skip(f"the local Slurm did not start: {exc}")
    before = os.environ.get("SLURM_CONF")
    os.environ.update(slurm.env)
    yield slurm
    slurm.stop()
    if before is None:
        os.environ.pop("SLURM_CONF", None)
    else:
        os.environ["SLURM_CONF"] = before
