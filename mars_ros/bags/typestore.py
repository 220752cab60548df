"""A rosbags typestore with the standard Jazzy types plus our mars_counting/msg/* registered from the .msg text.

The .msg files in the repository's msg/ folder are the single source of truth: the same text is generated
by rosidl for rclpy and registered here for rosbags (whose type hashes then equal rosidl's).
"""
from __future__ import annotations

import functools
from importlib import resources
from pathlib import Path
from typing import Dict

from rosbags.typesys import Stores, get_typestore, get_types_from_msg
from rosbags.typesys.store import Typestore

PACKAGE = "mars_counting"


def _source_tree_msg_dir() -> Path:
    return Path(__file__).resolve().parents[2] / "msg"


def message_definitions() -> Dict[str, str]:
    """Map 'mars_counting/msg/Name' -> .msg text, from the source tree or the installed package data."""
    texts: Dict[str, str] = {}
    src = _source_tree_msg_dir()
    if src.is_dir():
        for path in sorted(src.glob("*.msg")):
            texts[f"{PACKAGE}/msg/{path.stem}"] = path.read_text()
    else:
        texts = _installed_definitions()
    if not texts:
        raise FileNotFoundError(f"no .msg definitions found (looked in {src}, the installed package data "
                                f"mars_ros.bags.msg and share/{PACKAGE}/msg of the ament index)")
    return texts


def _installed_definitions() -> Dict[str, str]:
    texts: Dict[str, str] = {}
    try:  # pip install: setup.py ships msg/ as the package data mars_ros.bags.msg
        folder = resources.files("mars_ros.bags.msg")
        entries = [e for e in folder.iterdir() if e.name.endswith(".msg")]
    except (ModuleNotFoundError, FileNotFoundError):
        entries = []
    if not entries:  # colcon install: rosidl installs the .msg files under share/mars_counting/msg
        try:
            from ament_index_python.packages import get_package_share_directory, PackageNotFoundError
        except ImportError:
            return texts
        try:
            entries = list((Path(get_package_share_directory(PACKAGE)) / "msg").glob("*.msg"))
        except (PackageNotFoundError, OSError):  # OSError: no AMENT_PREFIX_PATH (not a ROS environment)
            return texts
    for entry in sorted(entries, key=lambda e: e.name):
        texts[f"{PACKAGE}/msg/{entry.name[:-4]}"] = entry.read_text()
    return texts


@functools.lru_cache(maxsize=None)
def mars_typestore() -> Typestore:
    """The ROS 2 Jazzy typestore extended with every mars_counting message (cached, treat as read-only)."""
    store = get_typestore(Stores.ROS2_JAZZY)
    types = {}
    for name, text in message_definitions().items():
        types.update(get_types_from_msg(text, name))
    store.register(types)
    return store
