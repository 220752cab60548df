"""Synthetic camera frames and rosbag2 bags like `mars_sim --images` writes (for the calibration tests).

A module of its own (not conftest) so that tests can import it whichever conftest pytest loaded last.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np


def camera_frame(cam: int, k: int, h: int = 48, w: int = 80) -> np.ndarray:
    """A BGR frame whose content and brightness change over time and differ per camera."""
    yy, xx = np.mgrid[0:h, 0:w]
    base = 40 + 30 * cam + 4 * k
    img = np.zeros((h, w, 3), np.uint8)
    img[..., 0] = np.clip(base + (xx * (k % 7 + 1)) % 60, 0, 255)
    img[..., 1] = np.clip(base + (yy * (cam + 2)) % 50, 0, 255)
    img[..., 2] = np.clip(base + ((xx + yy + 9 * k) % 40), 0, 255)
    return img


def write_camera_bag(path: Path, cameras: int = 3, frames: int = 12, duplicates: int = 3,
                     storage: str = "mcap") -> Path:
    """A rosbag2 like mars_sim --images: `/<cam>/image/compressed` CompressedImage per camera at 10 Hz.

    Each camera's first frame is repeated `duplicates` extra times (a robot standing still).
    """
    import cv2
    from rosbags.rosbag2 import StoragePlugin, Writer
    from rosbags.typesys import Stores, get_typestore

    ts = get_typestore(Stores.ROS2_JAZZY)
    Compressed, Header, Time = (ts.types[n] for n in ("sensor_msgs/msg/CompressedImage", "std_msgs/msg/Header",
                                                       "builtin_interfaces/msg/Time"))
    plugin = StoragePlugin.MCAP if storage == "mcap" else StoragePlugin.SQLITE3
    with Writer(path, version=9, storage_plugin=plugin) as writer:
        conns = [writer.add_connection(f"/cam{c}/image/compressed", Compressed.__msgtype__, typestore=ts)
                 for c in range(cameras)]
        for c, conn in enumerate(conns):
            seq = [0] * (duplicates + 1) + list(range(1, frames))
            for i, k in enumerate(seq):
                t = 1_000_000_000 + i * 100_000_000 + c * 1_000_000
                ok, jpg = cv2.imencode(".png", camera_frame(c, k))
                assert ok
                msg = Compressed(Header(Time(t // 10**9, t % 10**9), f"cam{c}_optical"), "png",
                                 np.frombuffer(jpg.tobytes(), np.uint8))
                writer.write(conn, t, ts.serialize_cdr(msg, Compressed.__msgtype__))
    return path
