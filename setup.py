"""`pip install .` of the ROS-free library and command-line tools; metadata and lists live in setup.cfg."""
import configparser
from pathlib import Path

from setuptools import find_packages, setup

_cfg = configparser.ConfigParser()
_cfg.read(Path(__file__).with_name("setup.cfg"))
_top_level = _cfg["mars"]["python_packages"].split()

# msg/ (the one copy of the interface definitions), config/ and models/ ship as package data, so that rosbags
# can register our types and the default robot configuration and models are found wherever the library is
# installed (mars_core.package_files looks there after the source tree and the ROS share folder).
_data_dirs = {"mars_ros.bags.msg": "msg", "mars_core.share_data.config": "config"}
for _sub in sorted(p.name for p in Path(__file__).with_name("models").iterdir() if p.is_dir()
                   and not p.name.startswith((".", "_"))):
    _data_dirs[f"mars_core.share_data.models.{_sub}"] = f"models/{_sub}"

setup(
    packages=find_packages(include=[p for top in _top_level for p in (top, f"{top}.*")]) + sorted(_data_dirs),
    package_dir=_data_dirs,
    package_data={name: ["*.msg", "*.yaml", "*.onnx", "*.json", "*.md"] for name in _data_dirs},
)
