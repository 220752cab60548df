"""mars-count on good and bad bags: same cores, deterministic, clear messages, nothing collected is lost."""
from __future__ import annotations

import json
import shutil

import pytest

from bag_surgery import rewrite_bag
from mars_pipeline.bag_counting import count_bag
from mars_pipeline.count_cli import main as mars_count
from mars_sim.evaluation.run_evaluation import evaluate_run

pytestmark = pytest.mark.slow

NAVSATFIX = "sensor_msgs/msg/NavSatFix"


def test_count_writes_every_output_and_scores_well(quick_run_mcap, tmp_path, capsys):
    out = tmp_path / "result"
    assert mars_count([str(quick_run_mcap / "bag"), "--out", str(out), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "flowers in the map" in printed and str(out) in printed
    for name in ("flowers.csv", "flowers.geojson", "flowers.kml", "map.png", "count_over_time.png", "summary.json",
                 "map_state.npz", "tracks/cam_left.txt", "tracks/cam_center.txt", "tracks/cam_right.txt"):
        assert (out / name).is_file(), name
    summary = json.loads((out / "summary.json").read_text())
    assert summary["flowers"] > 0 and set(summary["per_camera"]) == {"cam_left", "cam_center", "cam_right"}
    assert summary["frames_total"] == sum(summary["frames"].values()) > 1000
    assert summary["seconds"] > 0 and summary["problems"] == [] and summary["rig"].endswith("rig.yaml")
    scores = evaluate_run(quick_run_mcap / "truth", out)
    assert abs(scores["count"]["error_pct"]) <= 10.0
    assert scores["map"]["recall"] >= 0.9 and scores["map"]["loc_error_median_m"] <= 0.10
    assert scores["tracking"]["cam_center"]["IDF1"] >= 0.8


def test_mcap_and_sqlite3_bags_give_the_same_map(quick_run_mcap, quick_run_sqlite):
    a, b = count_bag(quick_run_mcap / "bag"), count_bag(quick_run_sqlite / "bag")
    assert a.flowers == b.flowers and a.pipeline.camera_counts() == b.pipeline.camera_counts()
    assert (a.pipeline.mapper.flowers().xyz == b.pipeline.mapper.flowers().xyz).all()


def test_rig_is_found_in_the_bag_itself_without_rig_yaml(quick_run_mcap, tmp_path):
    bag = tmp_path / "alone" / "bag"
    shutil.copytree(quick_run_mcap / "bag", bag)   # no rig.yaml beside it: camera_info + /tf_static
    report = count_bag(bag)
    assert "camera_info + /tf_static" in report.rig_source
    reference = count_bag(quick_run_mcap / "bag")
    assert report.pipeline.camera_counts() == reference.pipeline.camera_counts()


def test_bag_without_gnss_counts_per_camera_and_says_so(quick_run_mcap, tmp_path):
    bag = rewrite_bag(quick_run_mcap / "bag", tmp_path / "nognss", keep=lambda t, m: m != NAVSATFIX)
    shutil.copy(quick_run_mcap / "rig.yaml", tmp_path / "rig.yaml")
    report = count_bag(bag)
    assert report.flowers == 0 and min(report.pipeline.camera_counts().values()) > 0
    assert any("no sensor_msgs/msg/NavSatFix topic" in p for p in report.problems)
    out = tmp_path / "out"
    assert mars_count([str(bag), "--out", str(out), "--no-progress"]) == 0
    assert (out / "flowers.csv").read_text().startswith("id,x,y")
    assert json.loads((out / "summary.json").read_text())["per_camera"]["cam_left"] > 0


def test_no_fix_at_all_is_reported(quick_run_mcap, tmp_path):
    def no_fix(msgtype, msg):
        if msgtype == NAVSATFIX:
            msg.status.status = -1

    bag = rewrite_bag(quick_run_mcap / "bag", tmp_path / "nofix", edit=no_fix)
    shutil.copy(quick_run_mcap / "rig.yaml", tmp_path / "rig.yaml")
    report = count_bag(bag)
    assert report.flowers == 0 and any("no usable GNSS fix" in p for p in report.problems)
    assert sum(report.pipeline.camera_counts().values()) > 0


def test_truncated_bag_counts_what_was_read(quick_run_mcap, tmp_path):
    bag = tmp_path / "run" / "bag"
    shutil.copytree(quick_run_mcap / "bag", bag)
    shutil.copy(quick_run_mcap / "rig.yaml", tmp_path / "run" / "rig.yaml")
    data = (bag / "bag.mcap").read_bytes()
    (bag / "bag.mcap").write_bytes(data[: len(data) * 2 // 3])   # the recorder died mid-write
    report = count_bag(bag)
    assert report.truncated or report.problems, "a truncated bag must be reported"
    assert report.messages_read > 0 and sum(report.pipeline.camera_counts().values()) > 0


def test_bag_without_detections_or_images_says_what_is_missing(quick_run_mcap, tmp_path):
    bag = rewrite_bag(quick_run_mcap / "bag", tmp_path / "gnssonly", keep=lambda t, m: m == NAVSATFIX)
    shutil.copy(quick_run_mcap / "rig.yaml", tmp_path / "rig.yaml")
    report = count_bag(bag)
    assert any("no mars_counting/msg/FlowerDetectionArray topics and no camera images" in p for p in report.problems)


def test_missing_and_unreadable_inputs_fail_clearly(tmp_path, capsys):
    assert mars_count([str(tmp_path / "nope"), "--out", str(tmp_path / "o")]) == 2
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert mars_count([str(tmp_path / "empty"), "--out", str(tmp_path / "o")]) == 2
    assert "no rosbag2 folder" in capsys.readouterr().err


def test_a_folder_of_bags_is_counted_in_parallel_and_merged(quick_run_mcap, tmp_path):
    season = tmp_path / "season"
    day1 = season / "day1"
    shutil.copytree(quick_run_mcap / "bag", day1 / "bag")
    shutil.copy(quick_run_mcap / "rig.yaml", day1 / "rig.yaml")
    # The same row driven again an hour later: the same flowers, a second pass.
    day2 = season / "day2"
    rewrite_bag(quick_run_mcap / "bag", day2 / "bag", shift_ns=3600 * 10**9)
    shutil.copy(quick_run_mcap / "rig.yaml", day2 / "rig.yaml")
    out = tmp_path / "out"
    assert mars_count([str(season), "--out", str(out), "--workers", "2", "--no-progress"]) == 0
    single = json.loads((out / "day1" / "bag" / "summary.json").read_text())["flowers"]
    assert json.loads((out / "day2" / "bag" / "summary.json").read_text())["flowers"] == single
    merged = json.loads((out / "merge_summary.json").read_text())
    assert merged["flowers_before_merge"] == 2 * single
    assert merged["flowers"] <= single * 1.05, merged   # the second pass joined the first pass's flowers
    assert (out / "flowers.csv").is_file() and (out / "flowers.geojson").is_file()


def _decode_with_foxglove_reader(bag_dir):
    """Every message of the bag's mcap decoded by Foxglove's mcap readers from the embedded schemas alone."""
    from mcap.reader import make_reader
    from mcap_ros2.decoder import DecoderFactory

    (path,) = bag_dir.glob("*.mcap")
    with path.open("rb") as stream:
        reader = make_reader(stream, decoder_factories=[DecoderFactory()])
        summary = reader.get_summary()
        for channel in summary.channels.values():
            schema = summary.schemas[channel.schema_id]
            assert (schema.encoding, channel.message_encoding) == ("ros2msg", "cdr"), channel.topic
            assert schema.data, f"{channel.topic}: no schema text, a viewer could not decode it"
        decoded = {}
        for _, channel, _, message in reader.iter_decoded_messages():
            decoded.setdefault(channel.topic, []).append(message)
    return decoded


@pytest.mark.ros
def test_result_bag_and_sim_bag_open_as_standard_ros_messages_and_in_foxglove_readers(quick_run_mcap, tmp_path):
    from rclpy.serialization import deserialize_message
    from sensor_msgs.msg import NavSatFix
    from visualization_msgs.msg import MarkerArray

    from mars_ros.bags.bag_files import open_bag_reader

    out = tmp_path / "result"
    assert mars_count([str(quick_run_mcap / "bag"), "--out", str(out), "--no-progress"]) == 0
    flowers = json.loads((out / "summary.json").read_text())["flowers"]
    reader = open_bag_reader(out / "map_bag")
    try:
        conns = {c.topic: c for c in reader.connections}
        assert conns["/mars/flower_markers"].msgtype == "visualization_msgs/msg/MarkerArray"
        assert conns["/mars/flower_fixes"].msgcount == flowers
        _, _, raw = next(reader.messages(connections=[conns["/mars/flower_markers"]]))
        markers = deserialize_message(raw, MarkerArray)   # rclpy's own type: the bytes are standard
        assert sum(len(m.points) for m in markers.markers if m.ns == "flowers") == flowers
        assert all(m.header.frame_id == "map" for m in markers.markers)
        _, _, raw = next(reader.messages(connections=[conns["/mars/flower_fixes"]]))
        fix = deserialize_message(raw, NavSatFix)
        assert 31.0 < fix.latitude < 32.0 and -84.0 < fix.longitude < -83.0   # the simulated Georgia field
    finally:
        reader.close()
    # Foxglove's readers, from the schemas embedded in the files alone (no ROS types).
    result = _decode_with_foxglove_reader(out / "map_bag")
    (markers,) = result["/mars/flower_markers"]
    assert sum(len(m.points) for m in markers.markers if m.ns == "flowers") == flowers
    assert len(result["/mars/flower_fixes"]) == flowers
    assert all(31.0 < fix.latitude < 32.0 for fix in result["/mars/flower_fixes"])
    (geo,) = result["/mars/flowers"]   # our own type: its definition travels in the file
    assert len(geo.flowers) == flowers and geo.header.frame_id == "map"
    recorded = _decode_with_foxglove_reader(quick_run_mcap / "bag")
    assert {"/gnss/fix", "/imu/data", "/tf_static", "/cam_left/detections"} <= set(recorded)
    assert sum(len(m.detections) for m in recorded["/cam_left/detections"]) > 0
