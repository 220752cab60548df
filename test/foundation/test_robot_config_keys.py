"""Robot configuration holes (issue 17, defect 7): non-finite camera numbers, unknown keys at the top level and
in the rig, and a bag's metadata.yaml that is not a mapping are refused with a message naming the key or file."""
from __future__ import annotations

import math

import pytest
import yaml

from harness.ros_processes import REPO_ROOT
from mars_core.config_schema import ConfigError
from mars_core.rig import load_rig, load_robot_config, rig_from_dict

SHIPPED = REPO_ROOT / "config" / "mars_rig.yaml"


def _rig_data():
    return load_rig(SHIPPED).to_dict()


@pytest.mark.parametrize("mutate,key", [
    (lambda d: d["cameras"][0]["intrinsics"].update(fx=math.nan), r"cameras\[0\]\.intrinsics\.fx"),
    (lambda d: d["cameras"][1]["intrinsics"].update(fy=math.inf), r"cameras\[1\]\.intrinsics\.fy"),
    (lambda d: d["cameras"][2]["intrinsics"].update(cx=-math.inf), r"cameras\[2\]\.intrinsics\.cx"),
    (lambda d: d["cameras"][0]["intrinsics"].update(cy=math.nan), r"cameras\[0\]\.intrinsics\.cy"),
    (lambda d: d["cameras"][0]["intrinsics"].update(width=math.nan), r"cameras\[0\]\.intrinsics\.width"),
    (lambda d: d["cameras"][0]["intrinsics"]["distortion"].__setitem__(1, math.nan),
     r"cameras\[0\]\.intrinsics\.distortion\[1\]"),
    (lambda d: d["cameras"][1]["extrinsics"]["xyz"].__setitem__(2, math.nan), r"cameras\[1\]\.extrinsics\.xyz\[2\]"),
    (lambda d: d["cameras"][1]["extrinsics"]["rpy"].__setitem__(0, math.inf), r"cameras\[1\]\.extrinsics\.rpy\[0\]"),
    (lambda d: d["cameras"][0].update(frame_rate_hz=math.inf), r"cameras\[0\]\.frame_rate_hz"),
    (lambda d: d["gnss"]["antenna_xyz"].__setitem__(0, math.nan), r"gnss\.antenna_xyz\[0\]"),
])
def test_non_finite_camera_numbers_are_refused_naming_the_key(mutate, key):
    data = _rig_data()
    mutate(data)
    with pytest.raises(ConfigError, match=key + " must be a finite number"):
        rig_from_dict(data)


def test_nan_written_as_yaml_is_refused_when_loading_the_file(tmp_path):
    text = SHIPPED.read_text().replace("fx: 900.0", "fx: .nan", 1)
    assert ".nan" in text
    (tmp_path / "robot.yaml").write_text(text)
    with pytest.raises(ConfigError, match=r"cameras\[0\]\.intrinsics\.fx must be a finite number, got nan"):
        load_rig(tmp_path / "robot.yaml")


def test_unknown_top_level_key_is_named_with_the_closest_section(tmp_path):
    data = yaml.safe_load(SHIPPED.read_text())
    data["trackr"] = data.pop("tracker")
    path = tmp_path / "robot.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match=r"robot.yaml: unknown key\(s\) trackr \(did you mean tracker\?\)"):
        load_robot_config(path)
    with pytest.raises(ConfigError, match="did you mean tracker"):
        load_rig(path)   # every reader of the file sees the typo, not only the tracker's


@pytest.mark.parametrize("mutate,named", [
    (lambda d: d["cameras"][1].update(intrinsic=d["cameras"][1].pop("intrinsics")),
     r"cameras\[1\]\.intrinsic \(did you mean intrinsics\?\)"),
    (lambda d: d["cameras"][0].update(frame_rate=30.0), r"cameras\[0\]\.frame_rate \(did you mean frame_rate_hz\?\)"),
    (lambda d: d["cameras"][0]["intrinsics"].update(fxx=900.0), r"intrinsics\.fxx \(did you mean fx\?\)"),
    (lambda d: d["cameras"][2]["extrinsics"].update(rpy_rad=[0, 0, 0]), r"extrinsics\.rpy_rad \(did you mean rpy\?\)"),
    (lambda d: d["cameras"][2]["extrinsics"].update(quaternion=[0, 0, 0, 1]),
     r"extrinsics\.quaternion; known keys: rpy, xyz"),   # nothing close: the known keys say what would be
    (lambda d: d["gnss"].update(antenna=[0, 0, 1]), r"gnss\.antenna \(did you mean antenna_xyz\?\)"),
    (lambda d: d.update(camera=[]), r"rig\.camera \(did you mean cameras\?\)"),
])
def test_unknown_rig_keys_are_named_with_the_closest_valid_one(mutate, named):
    data = _rig_data()
    mutate(data)
    with pytest.raises(ConfigError, match=r"unknown key\(s\) .*" + named):
        rig_from_dict(data)


def test_a_camera_entry_that_is_not_a_mapping_is_named():
    data = _rig_data()
    data["cameras"][1] = "cam_center"
    with pytest.raises(ConfigError, match=r"rig\.cameras\[1\] must be a mapping, got str"):
        rig_from_dict(data)


def test_the_shipped_and_simulated_robot_configs_still_load():
    assert set(load_robot_config(SHIPPED)) == {"rig", "tracker", "fusion", "camera"}
    rig = load_rig(SHIPPED)
    assert rig_from_dict(rig.to_dict()) == rig


def test_metadata_yaml_that_is_not_a_mapping_names_the_file(tmp_path):
    from mars_ros.bags.bag_files import BagError, open_bag_reader

    bag = tmp_path / "bag"
    bag.mkdir()
    (bag / "metadata.yaml").write_text("hello world\n")
    with pytest.raises(BagError, match=r"metadata.yaml is not rosbag2 metadata: .*found a str \('hello world'\)"):
        open_bag_reader(bag)
    (bag / "metadata.yaml").write_text("other: 1\n")
    with pytest.raises(BagError, match=r"rosbag2_bagfile_information, found a mapping with keys \['other'\]"):
        open_bag_reader(bag)
    (bag / "metadata.yaml").write_text("a: [unclosed\n")
    with pytest.raises(BagError, match=r"cannot read .*metadata.yaml as YAML"):
        open_bag_reader(bag)


def test_mars_count_says_which_file_is_not_bag_metadata(tmp_path, capsys):
    from mars_pipeline.count_cli import main as mars_count

    bag = tmp_path / "bag"
    bag.mkdir()
    (bag / "metadata.yaml").write_text("hello world\n")
    assert mars_count([str(bag), "--out", str(tmp_path / "out"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert f"{bag / 'metadata.yaml'} is not rosbag2 metadata" in err and "string indices" not in err
