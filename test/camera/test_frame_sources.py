"""Frame sources: picamera2 (fake), OpenCV video, image folder, image bags/messages, reopening, clock mapping."""
from __future__ import annotations

import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from mars_camera.frame_sources import (BagImageFrameSource, Frame, FrameSource, FrameSourceError,
                                       ImageFolderFrameSource, OpenCvFrameSource, Picamera2FrameSource,
                                       ReopeningFrameSource, SensorClockMapper, frame_from_message, lores_size_for)


@pytest.fixture
def fake_camera():
    from picamera2 import _fake_control
    _fake_control.STATE.reset()
    yield _fake_control
    _fake_control.STATE.reset()


# ---- clock mapping ----------------------------------------------------------------------------------------
class _Clocks:
    def __init__(self, offset):
        self.sensor = 1_000_000_000
        self.offset = offset

    def sensor_ns(self):
        self.sensor += 1000  # 1 us per read
        return self.sensor

    def wall_ns(self):
        self.sensor += 1000
        return self.sensor + self.offset


def test_offset_is_measured_smoothed_and_remeasured_periodically():
    c = _Clocks(offset=5_000_000_000)
    m = SensorClockMapper(remeasure_period_s=1.0, smoothing=0.5, wall_ns=c.wall_ns, sensor_ns=c.sensor_ns)
    assert abs(m.to_ros_ns(2_000_000_000) - 7_000_000_000) < 5_000
    n = m.measurements
    m.to_ros_ns(2_000_000_000)
    assert m.measurements == n  # within the period: no new measurement
    c.offset += 2_000_000  # wall clock slewed by 2 ms (below the step threshold): smoothed in
    c.sensor += 1_000_000_000
    m.to_ros_ns(0)
    assert m.measurements == n + 1
    assert m.offset_ns == pytest.approx(5_001_000_000, abs=5_000)
    c.offset += 1_000_000_000  # wall clock stepped by 1 s: replaced, not averaged
    c.sensor += 1_000_000_000
    m.to_ros_ns(0)
    assert m.steps == 1 and m.offset_ns == pytest.approx(6_002_000_000, abs=5_000)


def test_real_boottime_offset_maps_a_fresh_sensor_time_to_now():
    m = SensorClockMapper("boottime")
    now_wall = time.time_ns()
    mapped = m.to_ros_ns(time.clock_gettime_ns(time.CLOCK_BOOTTIME))
    assert abs(mapped - now_wall) < 50_000_000  # generous: the machine may preempt us between the reads
    with pytest.raises(ValueError, match="sensor_clock"):
        SensorClockMapper("tai")


# ---- picamera2 ---------------------------------------------------------------------------------------------
def test_lores_stream_keeps_the_main_aspect_ratio():
    assert lores_size_for((1536, 864), (320, 320)) == (320, 180)
    assert lores_size_for((1280, 960), (640, 640)) == (640, 480)


def test_picamera2_frames_carry_sensor_time_mapped_to_ros_time(fake_camera):
    src = Picamera2FrameSource(0, main_size=(1536, 864), model_input=(320, 320), frame_rate_hz=100.0)
    with src:
        frames = []
        for _ in range(4):
            before = time.time_ns()
            frames.append(src.read())
            after = time.time_ns()
            f = frames[-1]
            # Capture time = sensor time + (wall - boottime), never the (later) read time.
            offset = time.time_ns() - time.clock_gettime_ns(time.CLOCK_BOOTTIME)
            assert abs((f.stamp_ns - f.sensor_timestamp_ns) - offset) < 10_000_000
            assert f.stamp_ns <= after and before - 500_000_000 < f.stamp_ns
    f0, f3 = frames[0], frames[3]
    assert f0.image.shape == (180, 320, 3) and f0.image.dtype == np.uint8
    assert (f0.reference_width, f0.reference_height) == (1536, 864)
    assert [f.frame_number for f in frames] == [0, 1, 2, 3]
    assert f3.sensor_timestamp_ns - f0.sensor_timestamp_ns == 3 * 10_000_000
    assert f3.stamp_ns - f0.stamp_ns == pytest.approx(30_000_000, abs=200_000)
    # BGR memory order: the yellow flower petals are high in G and R, low in B.
    from picamera2._fake_control import flower_boxes
    x0, y0, x1, y1 = flower_boxes((320, 180), 0)[0]
    petal = f0.image[int((y0 + y1) / 2), int(x0 + 0.15 * (x1 - x0))]
    assert petal[2] > 200 and petal[0] < 80


def test_dropped_frames_leave_gaps_in_frame_numbers(fake_camera):
    fake_camera.STATE.drop_every = 3
    with Picamera2FrameSource(0, frame_rate_hz=200.0) as src:
        numbers = [src.read().frame_number for _ in range(5)]
    assert numbers == [0, 1, 2, 4, 5]


def test_missing_camera_and_missing_library_are_source_errors(fake_camera, monkeypatch):
    with pytest.raises(FrameSourceError, match="cannot open camera 3"):
        Picamera2FrameSource(3).open()
    monkeypatch.setitem(sys.modules, "picamera2", None)
    with pytest.raises(FrameSourceError, match="picamera2 is not installed"):
        Picamera2FrameSource(0).open()


def test_unplugged_camera_is_reopened_with_back_off(fake_camera):
    fake_camera.STATE.unplug_after = 3
    src = ReopeningFrameSource(Picamera2FrameSource(0, frame_rate_hz=200.0), initial_backoff_s=0.05,
                               max_backoff_s=0.2)
    src.open()
    got = [src.read() for _ in range(3)]
    assert all(isinstance(f, Frame) for f in got)

    def replug():
        time.sleep(0.3)
        fake_camera.STATE.unplug_after = None

    t = threading.Thread(target=replug)
    t.start()
    start = time.monotonic()
    frame = src.read()  # blocks through failed reopen attempts until the camera is back
    t.join()
    assert frame is not None and time.monotonic() - start >= 0.25
    status = src.status()
    assert status.state == "streaming" and status.reconnects == 1 and "IndexError" in status.last_error
    src.close()
    assert fake_camera.STATE.in_use == set()


class _FlakySource(FrameSource):
    name = "flaky"

    def __init__(self):
        self.opens = 0
        self.reads = 0

    @property
    def is_live(self):
        return True

    def open(self):
        self.opens += 1
        if self.opens in (2, 3):
            raise FrameSourceError("no such device")

    def read(self):
        self.reads += 1
        if self.reads == 2:
            raise FrameSourceError("device vanished")
        return Frame(np.zeros((4, 4, 3), np.uint8), self.reads, self.reads)

    def close(self):
        pass


def test_back_off_grows_and_stop_unblocks_a_reader():
    now = [0.0]
    src = ReopeningFrameSource(_FlakySource(), initial_backoff_s=0.01, max_backoff_s=0.02, monotonic=time.monotonic)
    src.open()
    assert src.read().frame_number == 1
    assert src.read().frame_number == 3          # failed read, two failed opens, then back
    assert src.inner.opens == 4 and src.status().reconnects == 1
    blocked = ReopeningFrameSource(_FlakySource(), initial_backoff_s=5.0, max_backoff_s=5.0)
    blocked.open()
    blocked.read()
    threading.Timer(0.1, blocked.stop).start()
    t0 = time.monotonic()
    assert blocked.read() is None and time.monotonic() - t0 < 2.0
    assert blocked.status().state == "stopped"
    del now


# ---- OpenCV, folders, messages, bags ----------------------------------------------------------------------
def _write_video(path: Path, n: int = 5):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (64, 48))
    for i in range(n):
        writer.write(np.full((48, 64, 3), i * 40, np.uint8))
    writer.release()


def test_video_file_frames_are_stamped_on_the_file_timeline(tmp_path):
    video = tmp_path / "clip.avi"
    _write_video(video)
    with OpenCvFrameSource(str(video), start_ns=1_000_000_000) as src:
        frames = list(src)
    assert [f.frame_number for f in frames] == [0, 1, 2, 3, 4]
    assert [f.stamp_ns for f in frames] == [1_000_000_000 + i * 100_000_000 for i in range(5)]
    assert frames[2].image.shape == (48, 64, 3) and not src.is_live


def test_unopenable_camera_is_a_source_error():
    with pytest.raises(FrameSourceError, match="cannot open camera '/dev/video99'"):
        OpenCvFrameSource("/dev/video99").open()


def test_image_folder_in_name_order_at_a_fixed_rate(tmp_path):
    for name in ("b.png", "a.png", "c.jpg"):
        cv2.imwrite(str(tmp_path / name), np.zeros((8, 8, 3), np.uint8))
    (tmp_path / "notes.txt").write_text("x")
    with ImageFolderFrameSource(str(tmp_path), rate_hz=4.0, start_ns=0) as src:
        frames = list(src)
    assert [Path(f.source).name for f in frames] == ["a.png", "b.png", "c.jpg"]
    assert [f.stamp_ns for f in frames] == [0, 250_000_000, 500_000_000]
    (tmp_path / "d.png").write_bytes(b"not a png")
    with ImageFolderFrameSource(str(tmp_path), start_ns=0) as src:
        with pytest.raises(FrameSourceError, match="d.png"):
            list(src)
    with pytest.raises(FrameSourceError, match="does not exist"):
        ImageFolderFrameSource(str(tmp_path / "nope")).open()


def _header(sec, nanosec):
    return SimpleNamespace(stamp=SimpleNamespace(sec=sec, nanosec=nanosec), frame_id="cam")


def test_image_messages_decode_to_bgr_with_row_padding():
    bgr = np.random.default_rng(0).integers(0, 255, (3, 5, 3), dtype=np.uint8)
    rgb_padded = np.zeros((3, 16), np.uint8)
    rgb_padded[:, :15] = bgr[:, :, ::-1].reshape(3, 15)
    msg = SimpleNamespace(header=_header(12, 5), height=3, width=5, encoding="rgb8", step=16,
                          data=rgb_padded.tobytes())
    frame = frame_from_message(msg, 7)
    np.testing.assert_array_equal(frame.image, bgr)
    assert frame.stamp_ns == 12_000_000_005 and frame.frame_number == 7
    mono = SimpleNamespace(header=_header(0, 0), height=2, width=2, encoding="mono8", step=2, data=bytes([1, 2, 3, 4]))
    assert frame_from_message(mono, 0).image.shape == (2, 2, 3)
    bad = SimpleNamespace(header=_header(0, 0), height=2, width=2, encoding="32FC1", step=8, data=bytes(16))
    with pytest.raises(FrameSourceError, match="32FC1"):
        frame_from_message(bad, 0)


def test_image_bag_replays_compressed_images_with_header_stamps(tmp_path):
    from rosbags.rosbag2 import Writer
    from rosbags.typesys import Stores, get_typestore
    store = get_typestore(Stores.ROS2_JAZZY)
    CompressedImage = store.types["sensor_msgs/msg/CompressedImage"]
    Header = store.types["std_msgs/msg/Header"]
    Time = store.types["builtin_interfaces/msg/Time"]
    bag = tmp_path / "images"
    with Writer(bag, version=9) as writer:
        conn = writer.add_connection("/cam_left/image/compressed", CompressedImage.__msgtype__, typestore=store)
        for i in range(3):
            ok, jpg = cv2.imencode(".jpg", np.full((24, 32, 3), 60 * i, np.uint8))
            msg = CompressedImage(header=Header(stamp=Time(sec=100 + i, nanosec=7), frame_id="cam_left_optical_frame"),
                                  format="jpeg", data=np.frombuffer(jpg.tobytes(), np.uint8))
            writer.write(conn, 5 + i, store.serialize_cdr(msg, CompressedImage.__msgtype__))
    with BagImageFrameSource(str(bag), "/cam_left/image/compressed") as src:
        frames = list(src)
    assert [f.stamp_ns for f in frames] == [100_000_000_007, 101_000_000_007, 102_000_000_007]
    assert frames[2].image.shape == (24, 32, 3) and abs(int(frames[2].image.mean()) - 120) < 3
    with pytest.raises(FrameSourceError, match="no topic '/nope'.*cam_left"):
        BagImageFrameSource(str(bag), "/nope").open()


# ---- configuration + factory ------------------------------------------------------------------------------
def test_source_config_errors_name_the_field_and_factory_wraps_live_sources(tmp_path, fake_camera):
    from mars_core.config_schema import ConfigError, config_from_dict
    from mars_camera.frame_sources import FrameSourceConfig, create_frame_source
    with pytest.raises(ConfigError, match="uri"):
        config_from_dict(FrameSourceConfig, {"kind": "opencv"})
    with pytest.raises(ConfigError, match="topic"):
        config_from_dict(FrameSourceConfig, {"kind": "bag", "uri": "x"})
    with pytest.raises(ConfigError, match="reopen_max_s"):
        config_from_dict(FrameSourceConfig, {"reopen_initial_s": 5.0, "reopen_max_s": 1.0})
    live = create_frame_source(config_from_dict(FrameSourceConfig, {"frame_rate_hz": 100.0}), (320, 320), "cam")
    assert isinstance(live, ReopeningFrameSource)
    with live:
        frame = live.read()
    assert frame.image.shape == (180, 320, 3) and frame.reference_width == 1536
    cv2.imwrite(str(tmp_path / "a.png"), np.zeros((8, 8, 3), np.uint8))
    folder = create_frame_source(config_from_dict(FrameSourceConfig, {"kind": "folder", "uri": str(tmp_path)}))
    assert isinstance(folder, ImageFolderFrameSource)
    assert create_frame_source(config_from_dict(FrameSourceConfig, {"kind": "topic", "topic": "/img"})) is None
