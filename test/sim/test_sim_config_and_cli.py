"""Configuration validation names the bad key; presets and the mars-sim CLI work end to end."""
from __future__ import annotations

import yaml
import pytest

from mars_core.rig import ConfigError, load_rig
from mars_sim.cli import main as sim_main
from mars_sim.config import DEFAULT_RIG_PATH, sim_config_from_dict
from mars_sim.presets import PRESETS, load_sim_config, preset_config


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_presets_validate_and_use_the_project_rig(name):
    cfg = preset_config(name)
    assert cfg.name == name
    assert cfg.rig_config() == load_rig(DEFAULT_RIG_PATH)


def test_field_presets_are_as_described():
    field, gnss, hard = preset_config("field"), preset_config("field-gnss"), preset_config("hard")
    assert (field.field.rows, field.field.row_length_m, field.gnss.mode) == (4, 100.0, "rtk_fixed")
    assert len(field.rig_config().cameras) == 3
    assert (gnss.field.rows, gnss.field.row_length_m, gnss.gnss.mode) == (4, 100.0, "gnss")
    assert hard.drive.passes == 2 and hard.gnss.dropouts_per_minute > 0


@pytest.mark.parametrize("override,message", [
    ({"gnss": {"mode": "carrier-pigeon"}}, "sim.gnss.mode"),
    ({"field": {"rows": 0}}, "sim.field.rows"),
    ({"field": {"rowz": 3}}, "unknown key"),
    ({"flowers": {"height_range_m": [1.0, 0.5]}}, "height_range_m"),
    ({"drive": {"speed_mps": "fast"}}, "sim.drive.speed_mps"),
    ({"camera_timing": {"cam_nope": {"offset_s": 0.1}}}, "cam_nope"),
    ({"rig": {"cameras": []}}, "sim.rig.cameras"),
    ({"detection": {"detect_probability": 1.5}}, "detect_probability"),
])
def test_bad_config_names_the_key(override, message):
    with pytest.raises(ConfigError, match=message):
        sim_config_from_dict(override)


def test_config_round_trips_through_yaml(tmp_path):
    cfg = preset_config("hard")
    path = tmp_path / "sim.yaml"
    path.write_text(yaml.safe_dump(cfg.to_dict()))
    assert load_sim_config(path) == cfg
    (tmp_path / "p.yaml").write_text("preset: quick\ngnss: {mode: rtk_float}\n")
    loaded = load_sim_config(tmp_path / "p.yaml")
    assert loaded.name == "quick" and loaded.gnss.mode == "rtk_float" and loaded.field.row_length_m == 8.0


def test_cli_writes_bag_and_truth(tmp_path, capsys):
    out = tmp_path / "run"
    assert sim_main(["--preset", "quick", "--seed", "3", "--out", str(out), "--duration", "3",
                     "--storage", "sqlite3", "--feature-encoding", "uint8"]) == 0
    printed = capsys.readouterr().out
    # The console reports the 3 s simulated, not the whole drive's length; no leading blank line.
    assert ", 3 s simulated (of a 19 s drive), " in printed and printed.startswith("simulated 'quick' seed 3:")
    assert (out / "bag" / "metadata.yaml").is_file() and list((out / "bag").glob("*.db3"))
    assert (out / "truth" / "flowers.csv").is_file()
    for cam in ("cam_left", "cam_center", "cam_right"):
        assert (out / "truth" / "mot" / cam / "gt.txt").is_file()
    header = (out / "truth" / "flowers.csv").read_text().splitlines()[0].split(",")
    assert header[:6] == ["id", "x", "y", "z", "lat", "lon"]
    assert load_sim_config(out / "sim_config.yaml") == preset_config("quick", {"duration_s": 3.0})
    assert load_rig(out / "rig.yaml") == load_rig(DEFAULT_RIG_PATH)
    # Refuses to overwrite, and says so.
    assert sim_main(["--preset", "quick", "--out", str(out)]) == 2
    assert "already exists" in capsys.readouterr().err


def test_cli_list_and_bad_preset(capsys):
    assert sim_main(["--list"]) == 0
    listed = capsys.readouterr().out
    assert all(name in listed for name in PRESETS)
    assert sim_main(["--preset", "nope", "--out", "/tmp/never"]) == 2
    assert "unknown preset 'nope'" in capsys.readouterr().err


def test_cli_images_and_yolo_dataset(tmp_path):
    out = tmp_path / "run"
    ds = tmp_path / "ds"
    assert sim_main(["--preset", "quick", "--seed", "1", "--out", str(out), "--duration", "1", "--images",
                     "--image-every", "10", "--render-scale", "0.25", "--yolo-dataset", str(ds),
                     "--yolo-frames", "4"]) == 0
    from rosbags.rosbag2 import Reader
    with Reader(out / "bag") as reader:
        counts = {c.topic: c.msgcount for c in reader.connections}
    frames = counts["/cam_left/camera_info"]
    assert counts["/cam_left/image/compressed"] == (frames + 9) // 10
    assert len(list((ds / "images").rglob("*.jpg"))) == 4 and (ds / "data.yaml").is_file()
    assert yaml.safe_load((out / "sim_config.yaml").read_text())["render"]["image_every_n_frames"] == 10
