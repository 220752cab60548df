"""Where the package's shared files (config/, models/, launch/, rviz/) are, however it was installed.

Source tree / editable install: the repository root. colcon / ROS install: share/mars_counting.
`pip install .`: config/ and models/ ship as package data under mars_core/share_data/.
"""
from __future__ import annotations

from importlib import resources
from pathlib import Path

PACKAGE = "mars_counting"
_SOURCE_ROOT = Path(__file__).resolve().parents[1]


def share_file(relative: str) -> Path:
    """The path of a shared file such as 'config/mars_rig.yaml' (FileNotFoundError listing where it looked)."""
    looked = []
    candidate = _SOURCE_ROOT / relative
    if (_SOURCE_ROOT / "package.xml").is_file():
        looked.append(str(candidate))
        if candidate.exists():
            return candidate
    try:
        from ament_index_python.packages import PackageNotFoundError, get_package_share_directory

        try:
            candidate = Path(get_package_share_directory(PACKAGE)) / relative
            looked.append(str(candidate))
            if candidate.exists():
                return candidate
        except (PackageNotFoundError, OSError):  # OSError: no AMENT_PREFIX_PATH (not a ROS environment)
            pass
    except ImportError:
        pass
    try:
        candidate = Path(str(resources.files("mars_core").joinpath("share_data").joinpath(relative)))
        looked.append(str(candidate))
        if candidate.exists():
            return candidate
    except ModuleNotFoundError:
        pass
    raise FileNotFoundError(f"{relative} not found; looked in {looked}")


def default_robot_config() -> Path:
    """The shipped robot configuration (the 3-camera MARS rig)."""
    return share_file("config/mars_rig.yaml")
