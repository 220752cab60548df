"""`pip install .` of the ROS-free library and command-line tools; metadata and lists live in setup.cfg."""
import configparser
from pathlib import Path

from setuptools import find_packages, setup

_cfg = configparser.ConfigParser()
_cfg.read(Path(__file__).with_name("setup.cfg"))
_top_level = _cfg["mars"]["python_packages"].split()

setup(
    packages=find_packages(include=[p for top in _top_level for p in (top, f"{top}.*")])
    + ["mars_camera.interfaces.msg"],
    # msg/ (the one copy of the interface definitions) ships as package data so that rosbags can register
    # our types wherever the library is installed.
    package_dir={"mars_camera.interfaces.msg": "msg"},
    package_data={"mars_camera.interfaces.msg": ["*.msg"]},
)
