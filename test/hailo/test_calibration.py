"""`calib`: representative frames from bags / folders / videos, runtime letterbox, array + report."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
import pytest

from camera_bags import camera_frame
from mars_hailo.calibration import build_calibration_set, load_calibration_array, select_diverse
from mars_hailo.errors import CalibrationError
from mars_camera.yolo.letterbox import letterbox

pytestmark = pytest.mark.hailo

DUP = 3  # extra copies of each camera's first frame in the simulated bag


def _expected_rows(cam: int, h: int, w: int, frames: int = 12) -> dict[int, np.ndarray]:
    seq = [0] * (DUP + 1) + list(range(1, frames))
    return {i: letterbox(camera_frame(cam, k), (w, h))[0] for i, k in enumerate(seq)}


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_bag_selection_is_balanced_spread_distinct_and_letterboxed(tmp_path: Path, camera_bag: Callable[..., Path],
                                                                   storage: str) -> None:
    bag = camera_bag(storage=storage)
    res = build_calibration_set([bag], tmp_path / "calib", (64, 96), count=18)
    arr = np.load(res.array_path)
    assert arr.shape == (18, 64, 96, 3) and arr.dtype == np.uint8
    rep = json.loads(res.report_path.read_text())
    assert rep["selected"] == 18 and rep["shape"] == [18, 64, 96, 3]
    assert sorted(rep["selected_per_camera"].values()) == [6, 6, 6]
    # No two selected frames are the same picture.
    flat = arr.reshape(len(arr), -1)
    assert len({row.tobytes() for row in flat}) == len(arr)
    for row, fr in zip(arr, rep["frames"]):
        cam = int(fr["camera"][3:])
        i = int(round((fr["time_s"] - cam * 0.001) * 10))
        np.testing.assert_array_equal(row, _expected_rows(cam, 64, 96)[i])  # exactly the runtime letterbox
    for cam in ("cam0", "cam1", "cam2"):
        t = [f["time_s"] for f in rep["frames"] if f["camera"] == cam]
        assert min(t) < 0.35 and max(t) > 1.1, f"{cam} frames not spread over time: {sorted(t)}"
    assert sum(rep["brightness_selected"]["counts"]) == 18
    assert sum(rep["brightness_pool"]["counts"]) == rep["pool"]


def test_asking_for_more_than_exists_skips_duplicates(tmp_path: Path, camera_bag: Callable[..., Path]) -> None:
    res = build_calibration_set([camera_bag()], tmp_path / "c", (32, 32), count=100)
    assert res.count == 36  # 3 cameras x 12 distinct frames; the 3 repeats per camera are never taken
    assert res.report["near_duplicates_skipped"] == 3 * DUP


def test_topic_filter_and_missing_topic(tmp_path: Path, camera_bag: Callable[..., Path]) -> None:
    bag = camera_bag()
    res = build_calibration_set([bag], tmp_path / "c", (32, 32), count=5, topics=["/cam1/image/compressed"])
    assert list(res.report["selected_per_camera"]) == [f"{bag}:cam1"]
    with pytest.raises(CalibrationError, match="/nope/image"):
        build_calibration_set([bag], tmp_path / "d", (32, 32), count=5, topics=["/nope/image"])


def test_image_folders_and_video(tmp_path: Path) -> None:
    for cam in (0, 1):
        d = tmp_path / "imgs" / f"cam{cam}"
        d.mkdir(parents=True)
        for k in range(6):
            cv2.imwrite(str(d / f"{k:04d}.png"), camera_frame(cam, k))
    vid = tmp_path / "front.avi"
    writer = cv2.VideoWriter(str(vid), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (80, 48))
    assert writer.isOpened()
    for k in range(8):
        writer.write(camera_frame(2, k))
    writer.release()
    res = build_calibration_set([tmp_path / "imgs", vid], tmp_path / "c", (48, 48), count=9)
    per = res.report["selected_per_camera"]
    assert sorted(per.values()) == [3, 3, 3] and any(k.endswith(":front") for k in per)
    arr = np.load(res.array_path)
    assert arr.shape == (9, 48, 48, 3)


def test_bad_sources_are_named(tmp_path: Path) -> None:
    with pytest.raises(CalibrationError, match="missing_dir"):
        build_calibration_set([tmp_path / "missing_dir"], tmp_path / "c", (32, 32))
    (tmp_path / "empty").mkdir()
    with pytest.raises(CalibrationError, match="empty"):
        build_calibration_set([tmp_path / "empty"], tmp_path / "c", (32, 32))
    with pytest.raises(CalibrationError, match="1024"):
        build_calibration_set([tmp_path / "empty"], tmp_path / "c", (32, 32), count=2000)


def test_select_diverse_prefers_distinct_content() -> None:
    rng = np.random.default_rng(0)
    # 3 clusters of near-identical frames; 3 picks must come from 3 different clusters.
    centres = rng.random((3, 8))
    desc = np.concatenate([c + rng.normal(0, 1e-4, (10, 8)) for c in centres])
    order, dups = select_diverse(desc, ["a"] * 30, np.arange(30.0), 3, duplicate_distance=0.01)
    assert sorted(int(i) // 10 for i in order) == [0, 1, 2]
    assert dups == 27


def test_load_calibration_array_float32_and_resized(tmp_path: Path) -> None:
    data = (np.arange(2 * 64 * 64 * 3) % 251).astype(np.uint8).reshape(2, 64, 64, 3)
    np.save(tmp_path / "c.npy", data)
    same = load_calibration_array(tmp_path / "c.npy", (64, 64))
    assert same.dtype == np.float32 and np.array_equal(same, data.astype(np.float32))
    small = load_calibration_array(tmp_path / "c.npy", (32, 32), limit=1)
    assert small.shape == (1, 32, 32, 3) and small.dtype == np.float32
    with pytest.raises(CalibrationError, match="missing.npy"):
        load_calibration_array(tmp_path / "missing.npy", (32, 32))
