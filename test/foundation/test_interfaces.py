"""Our messages outside ROS (rosbags) and inside (rclpy) are the same bytes-compatible types."""
from __future__ import annotations

import numpy as np
import pytest
from rclpy.serialization import deserialize_message, serialize_message

from mars_core.detections import DetectionFrame, Detections
from mars_core.feature_codec import FeatureEncoding, FeatureMismatchError, check_compatible, encode_features
from mars_ros.bags.bag_files import BagError, BagWriter, read_detection_frames
from mars_ros.messages.detection_messages import (DETECTION_ARRAY_TYPE, detection_frame_from_msg,
                                                       detection_msg_rclpy, detection_msg_rosbags)
from mars_ros.bags.typestore import message_definitions, mars_typestore

pytestmark = pytest.mark.ros

ALL_TYPES = ["BoundingBox", "FlowerDetection", "FeatureBlock", "FlowerDetectionArray", "FlowerTrack",
             "FlowerTrackArray", "GeoFlower", "GeoFlowerArray", "GeoFlowerMapUpdate", "RemovedFlower",
             "NamedCount", "FlowerCount"]


def _frame(n: int = 4, dim: int = 8) -> DetectionFrame:
    rng = np.random.default_rng(3)
    xy = rng.uniform(0, 600, (n, 2))
    feats = rng.normal(size=(n, dim)).astype(np.float32)
    feats /= np.linalg.norm(feats, axis=1, keepdims=True)
    return DetectionFrame("cam_center", 1_732_000_000_987_654_321, 42, 1280, 960,
                          Detections(np.concatenate([xy, xy + 25], 1), rng.uniform(0, 1, n), np.arange(n) % 2,
                                     feats, "yolo-flower-v1:features"))


def test_every_msg_file_is_registered_and_generated():
    import mars_counting.msg as generated

    store = mars_typestore()
    assert sorted(n.split("/")[-1] for n in message_definitions()) == sorted(ALL_TYPES)
    for name in ALL_TYPES:
        assert f"mars_counting/msg/{name}" in store.types
        assert hasattr(generated, name)


@pytest.mark.parametrize("name", ALL_TYPES)
def test_default_messages_serialize_identically_in_rclpy_and_rosbags(name):
    import mars_counting.msg as generated

    store = mars_typestore()
    raw = serialize_message(getattr(generated, name)())
    # rosbags decodes rclpy's bytes and re-encodes them into bytes rclpy decodes again.
    decoded = store.deserialize_cdr(raw, f"mars_counting/msg/{name}")
    again = deserialize_message(bytes(store.serialize_cdr(decoded, f"mars_counting/msg/{name}")),
                                getattr(generated, name))
    assert again == getattr(generated, name)()


@pytest.mark.parametrize("encoding", [FeatureEncoding.FLOAT32, FeatureEncoding.UINT8, FeatureEncoding.NONE])
def test_detection_frame_round_trips_through_both_flavours(encoding):
    frame = _frame()
    store = mars_typestore()
    via_rclpy = detection_frame_from_msg(deserialize_message(
        bytes(store.serialize_cdr(detection_msg_rosbags(frame, store, encoding), DETECTION_ARRAY_TYPE)),
        type(detection_msg_rclpy(frame))))
    via_rosbags = detection_frame_from_msg(store.deserialize_cdr(
        serialize_message(detection_msg_rclpy(frame, encoding)), DETECTION_ARRAY_TYPE))
    for got in (via_rclpy, via_rosbags):
        assert (got.camera_name, got.stamp_ns, got.frame_number, got.image_width) == ("cam_center",
                                                                                      frame.stamp_ns, 42, 1280)
        np.testing.assert_allclose(got.detections.xyxy, frame.detections.xyxy, atol=1e-3)
        np.testing.assert_array_equal(got.detections.class_ids, frame.detections.class_ids)
        if encoding == FeatureEncoding.NONE:
            assert got.detections.features is None
        else:
            tol = 0 if encoding == FeatureEncoding.FLOAT32 else 0.5 / 127 + 1e-6
            np.testing.assert_allclose(got.detections.features, frame.detections.features, atol=tol)
            assert got.detections.feature_model_id == "yolo-flower-v1:features"


def test_quantized_features_are_a_quarter_of_float32():
    feats = _frame(30, 64).detections.features
    assert len(encode_features(feats, "m", FeatureEncoding.UINT8).data) * 4 == \
        len(encode_features(feats, "m", FeatureEncoding.FLOAT32).data) == 30 * 64 * 4


def test_feature_block_with_wrong_size_is_rejected_with_the_camera_named():
    msg = detection_msg_rclpy(_frame())
    msg.features.dim = 7
    with pytest.raises(ValueError, match="cam_center frame 42: bad feature block"):
        detection_frame_from_msg(msg)


def test_features_of_another_model_cannot_be_compared():
    check_compatible("a", 64, "a", 64)
    with pytest.raises(FeatureMismatchError, match="model 'b' .* model 'a'"):
        check_compatible("a", 64, "b", 64)
    with pytest.raises(FeatureMismatchError, match="dim 32"):
        check_compatible("a", 64, "a", 32)


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_bag_written_with_rosbags_reads_back_and_is_humble_readable(tmp_path, storage):
    path = tmp_path / "bag"
    frames = [_frame()] * 3
    with BagWriter(path, storage) as writer:
        for i, f in enumerate(frames):
            writer.write_detection_frame(DetectionFrame(f.camera_name, f.stamp_ns + i, i, 1280, 960, f.detections))
    assert "version: 8" in (path / "metadata.yaml").read_text()
    got = list(read_detection_frames(path))
    assert [f.frame_number for _, f in got] == [0, 1, 2] and got[0][0] == "/cam_center/detections"
    with pytest.raises(BagError, match="already exists"):
        BagWriter(path, storage)
    with pytest.raises(BagError, match=r"no detections on \['/nope'\]"):
        list(read_detection_frames(path, topics=["/nope"]))


def test_unreadable_bag_is_named(tmp_path):
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "metadata.yaml").write_text("not: [a bag")
    with pytest.raises(BagError, match="broken"):
        list(read_detection_frames(tmp_path / "broken"))


def test_tf_static_is_recorded_latched(tmp_path):
    from rosbags.interfaces import QosDurability

    from mars_ros.bags.bag_files import open_bag_reader

    store = mars_typestore()
    tf = store.types["tf2_msgs/msg/TFMessage"](transforms=[])
    with BagWriter(tmp_path / "bag", "mcap") as writer:
        writer.write("/tf_static", "tf2_msgs/msg/TFMessage", 1, tf)
        writer.write_detection_frame(_frame())
    reader = open_bag_reader(tmp_path / "bag")
    try:
        qos = {c.topic: c.ext.offered_qos_profiles for c in reader.connections}
    finally:
        reader.close()
    assert qos["/tf_static"][0].durability == QosDurability.TRANSIENT_LOCAL
    assert qos["/cam_center/detections"] == []
