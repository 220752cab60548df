"""Live pipeline latency on loopback: detections published in real time -> tracker_node -> fusion_node -> map.

For each rig size (3 = the shipped MARS rig, 16 = cameras spread along a 7.2 m boom, generated into a robot
configuration YAML) a short drive is simulated with mars_sim and written as a bag; tracker_node and
fusion_node run as subprocesses with that robot configuration; a feed process publishes the bag's detections,
GNSS fixes and IMU samples in real time, every stamp moved by one constant offset so that
header.stamp = the scheduled publish time (wall clock) and the relative timing of all topics is the recorded
one. A probe in this process records the arrival of every /<cam>/tracks message and every map update
(/mars/flower_updates).

Figures:
- tracker latency: detection header stamp (= publish time) -> arrival of the /<cam>/tracks message with the
  same stamp at the probe (transport in + tracking + transport out + probe scheduling).
- keeping up: track messages received / detections published, the backlog (published - received) over time,
  the drain time after the last detection, the latency trend (p50 of the first and last quarter of the drive,
  per 4 s, least-squares slope), each node's CPU use (cores) while the feed runs and its CPU cost per message
  (its idle rate subtracted; tracker capacity = cameras at 30 fps one core could serve: rclpy's executor runs
  the callbacks in one thread), and the cores taken by other work on the (shared) machine meanwhile, which
  explains latency spikes that are not the pipeline's own.
- map latency, per map update event (a flower appears on /mars/flower_updates or its last_seen advances):
  * "last detection -> map": arrival of the map containing the update - the stamp of the newest detection
    folded into it. It includes the algorithm's waits (the tracker ends a track only after max_lost_seconds
    without a match, the fusion holds messages reorder_delay_s and maps a track once fixes cover it).
  * "map lag": arrival - the moment the update became possible from the data, found by feeding the same
    received tracks and the restamped fixes/headings through a FlowerMapper in stamp order in this process
    (the stamp of the message whose arrival released the update). This is the pipeline's own delay (fusion
    processing, the publish_period_s tick, transport) on top of the algorithmic waits. Live and reference
    updates are matched on last_seen (the stamp of one camera frame).
The fusion publishes the map's changes every PUBLISH_PERIOD_S (set here, default of the node is 1.0 s). Last, the
CPU cost of one publication is measured in this process for maps of 1 thousand to 1 million flowers
(--map-sizes): per period (MapChangeTracker.publish + GeoFlowerMapUpdate + the changed marker tiles + the count,
serialized) after a period's worth of tracks (--tracks-per-period: half re-observe flowers near the robot, half
are new), and the whole map (GeoFlowerArray + a full update + every marker tile + the count): what every period
cost before the changes alone were published (issue 19), and what the node still pays every flowers_period_s.

All ROS traffic stays on this machine (ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST, a random ROS_DOMAIN_ID).
Run: .venv/bin/python benchmarks/pipeline_live_latency.py [--cameras 3 16] [--duration 20]
"""
from __future__ import annotations

import os
import random

os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ.pop("ROS_STATIC_PEERS", None)
if "MARS_BENCH_ROS_DOMAIN_ID" not in os.environ:
    os.environ["MARS_BENCH_ROS_DOMAIN_ID"] = str(random.SystemRandom().randint(1, 100))
os.environ["ROS_DOMAIN_ID"] = os.environ["MARS_BENCH_ROS_DOMAIN_ID"]
os.environ.setdefault("RCUTILS_LOGGING_BUFFERED_STREAM", "0")

import argparse  # noqa: E402
import copy  # noqa: E402
import dataclasses  # noqa: E402
import struct  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any, Dict, List, Optional, Sequence, Tuple  # noqa: E402

import numpy as np  # noqa: E402
import yaml  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(REPO_ROOT / "test"))

from mars_core.stamps import NS_PER_S, stamp_ns, stamp_to_ns  # noqa: E402

PUBLISH_PERIOD_S = 0.1          # fusion map publication period for the benchmark (node default 1.0 s)
BOOM_HALF_WIDTH_M = 3.6         # the 16-camera boom spans y in [-3.6, 3.6] m over 9 rows
START_LEAD_S = 1.0              # feed starts this long after its clock offset is fixed
FIX_TOPIC, IMU_TOPIC = "/gnss/fix", "/imu/data"


# ---------------------------------------------------------------------------------------------- set-up
def boom_rig(n_cameras: int) -> Dict[str, Any]:
    """A rig of n nadir cameras spread along a boom (names cam_00.., the MARS camera model, 1.6 m high)."""
    from mars_core.rig import load_rig

    base = load_rig(REPO_ROOT / "config" / "mars_rig.yaml").to_dict()
    template = next(c for c in base["cameras"] if c["name"] == "cam_center")
    cameras = []
    for i, y in enumerate(np.linspace(-BOOM_HALF_WIDTH_M, BOOM_HALF_WIDTH_M, n_cameras)):
        cam = copy.deepcopy(template)
        cam["name"] = f"cam_{i:02d}"
        cam["extrinsics"]["xyz"] = [0.0, round(float(y), 3), 1.6]
        cameras.append(cam)
    rig = copy.deepcopy(base)
    rig["cameras"] = cameras
    return rig


def sim_config(n_cameras: int, duration_s: float, flowers_per_plant: float) -> Any:
    """A drive along the middle of 9 rows: the shipped rig for 3 cameras, a boom rig otherwise."""
    from mars_sim.config import merge_dicts, sim_config_from_dict
    from mars_sim.presets import PRESETS, UNSYNCHRONISED_CAMERAS

    overrides: Dict[str, Any] = {
        "field": {"rows": 9, "row_length_m": 30.0},
        "flowers": {"per_plant_mean": flowers_per_plant},
        "drive": {"headland_m": 0.5, "rows_to_drive": [4]},
        "duration_s": duration_s,
    }
    if n_cameras == 3:
        overrides["camera_timing"] = UNSYNCHRONISED_CAMERAS
    else:
        overrides["rig"] = boom_rig(n_cameras)
        # Free-running cameras: phases spread over the frame period.
        overrides["camera_timing"] = {f"cam_{i:02d}": {"offset_s": round(i / n_cameras / 30.0, 4), "jitter_s": 0.002}
                                      for i in range(n_cameras)}
    # The 'field' preset without its camera timing (which names the shipped cameras).
    base = {k: v for k, v in PRESETS["field"].items() if k != "camera_timing"}
    return sim_config_from_dict(merge_dicts(merge_dicts(base, {"name": f"live-latency-{n_cameras}"}), overrides),
                                where=f"live latency sim ({n_cameras} cameras)")


def write_robot_config(run_dir: Path) -> Path:
    """run_dir/robot.yaml: the run's rig.yaml (rig + datum) with the shipped tracker and fusion settings."""
    shipped = yaml.safe_load((REPO_ROOT / "config" / "mars_rig.yaml").read_text())
    run = yaml.safe_load((run_dir / "rig.yaml").read_text())
    robot = {"rig": run["rig"], "tracker": shipped.get("tracker") or {},
             "fusion": {**(shipped.get("fusion") or {}), **(run.get("fusion") or {})}}
    path = run_dir / "robot.yaml"
    path.write_text(yaml.safe_dump(robot, sort_keys=False))
    return path


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (all threads)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def system_busy_seconds() -> float:
    """CPU seconds spent busy by the whole machine (all cores) since boot, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return (sum(values[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def header_stamp_ns(cdr: bytes) -> int:
    """header.stamp of a serialized message whose first field is a std_msgs/Header (after the 4-byte CDR
    encapsulation: int32 sec, uint32 nanosec)."""
    little = cdr[1] == 1
    sec, nanosec = struct.unpack("<iI" if little else ">iI", cdr[4:12])
    return stamp_ns(sec, nanosec)


# ---------------------------------------------------------------------------------------------- feed process
def run_feed(bag: str, out: str, cameras: Sequence[str]) -> int:
    """Publish the bag's detections, fixes and IMU samples in real time with stamps moved to the wall clock."""
    import rclpy
    from rclpy.node import Node
    from rclpy.serialization import deserialize_message

    from mars_ros.bags.bag_files import open_bag_reader
    from mars_ros.node_pattern.qos import qos_profile
    from mars_ros.nodes.bag_replay import message_class

    rclpy.init()
    node = Node("latency_benchmark_feed")
    topics = {f"/{c}/detections": i for i, c in enumerate(cameras)}
    topics.update({FIX_TOPIC: -1, IMU_TOPIC: -2})
    reader = open_bag_reader(bag)
    connections = [c for c in reader.connections if c.topic in topics]
    classes = {c.topic: message_class(c.msgtype) for c in connections}
    qos = qos_profile("reliable", 100)
    publishers = {t: node.create_publisher(cls, t, qos) for t, cls in classes.items()}
    # Everything deserialized up front: the timed loop only restamps and publishes.
    messages: List[Tuple[int, str, Any]] = []
    for conn, _, data in reader.messages(connections=connections):
        msg = deserialize_message(bytes(data), classes[conn.topic])
        stamp = stamp_to_ns(msg.header.stamp)
        messages.append((stamp, conn.topic, msg))
    reader.close()
    messages.sort(key=lambda m: m[0])
    deadline = time.monotonic() + 30.0
    while any(p.get_subscription_count() < 1 for p in publishers.values()):
        if time.monotonic() > deadline:
            missing = [t for t, p in publishers.items() if p.get_subscription_count() < 1]
            print(f"feed: no subscribers on {missing}", file=sys.stderr)
            return 1
        time.sleep(0.05)
    time.sleep(1.0)  # let the other direction of discovery settle too
    offset = time.time_ns() + int(START_LEAD_S * NS_PER_S) - messages[0][0]
    kinds = np.empty(len(messages), np.int16)
    stamps = np.empty(len(messages), np.int64)
    published = np.empty(len(messages), np.int64)
    for k, (stamp, topic, msg) in enumerate(messages):
        new = stamp + offset
        msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(new, NS_PER_S)
        wait = (new - time.time_ns()) / 1e9
        if wait > 0:
            time.sleep(wait)
        publishers[topic].publish(msg)
        kinds[k], stamps[k], published[k] = topics[topic], new, time.time_ns()
    time.sleep(1.0)  # reliable transport delivers the tail before the publishers go away
    np.savez(out, kinds=kinds, stamps=stamps, published=published, offset=np.int64(offset))
    node.destroy_node()
    rclpy.try_shutdown()
    return 0


# ---------------------------------------------------------------------------------------------- probe
class RawProbe:
    """Records arrival wall time and serialized bytes of the watched topics (cheap callbacks, analysed later)."""

    def __init__(self) -> None:
        import rclpy
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.node import Node

        if not rclpy.ok():
            rclpy.init()
        self.node = Node("latency_benchmark_probe")
        self._executor = SingleThreadedExecutor()
        self._executor.add_node(self.node)
        self.received: Dict[str, List[Tuple[int, bytes]]] = {}
        self._subscriptions: List[Any] = []
        self._stop = False
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        import rclpy

        while not self._stop and rclpy.ok():
            self._executor.spin_once(timeout_sec=0.05)

    def watch(self, topic: str, msg_type: Any, depth: int = 1000) -> None:
        """Start recording topic (reliable, volatile: compatible with reliable and latched publishers)."""
        from mars_ros.node_pattern.qos import qos_profile

        store = self.received.setdefault(topic, [])

        def on_message(data: bytes, s: List[Tuple[int, bytes]] = store) -> None:
            s.append((time.time_ns(), data))  # list.append is atomic under the GIL

        self._subscriptions.append(self.node.create_subscription(msg_type, topic, on_message,
                                                                 qos_profile("reliable", depth), raw=True))

    def wait_for_publishers(self, topics: Sequence[str], timeout: float) -> None:
        """Wait until every topic has a publisher (discovery done)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(self.node.count_publishers(t) >= 1 for t in topics):
                return
            time.sleep(0.05)
        missing = [t for t in topics if self.node.count_publishers(t) < 1]
        raise RuntimeError(f"no publisher on {missing} within {timeout} s")

    def close(self) -> None:
        """Stop spinning and destroy the node."""
        self._stop = True
        self._thread.join(2)
        self._executor.remove_node(self.node)
        self.node.destroy_node()


# ---------------------------------------------------------------------------------------------- analysis
def percentiles_ms(values: np.ndarray) -> Tuple[float, float]:
    """(p50, p99) in milliseconds of values in nanoseconds (nan when empty)."""
    if values.size == 0:
        return float("nan"), float("nan")
    p50, p99 = np.percentile(values, [50, 99])
    return float(p50) / 1e6, float(p99) / 1e6


def tracker_figures(feed: Dict[str, np.ndarray], tracks: Dict[str, List[Tuple[int, bytes]]],
                    cameras: Sequence[str]) -> Dict[str, Any]:
    """Latency, delivery, backlog and trend of the tracker output."""
    kinds, stamps, published = feed["kinds"], feed["stamps"], feed["published"]
    det = kinds >= 0
    t0, t_end = int(published[det].min()), int(published[det].max())
    lat, stamp_all, arrival_all = [], [], []
    received_per_cam, published_per_cam = {}, {}
    for i, cam in enumerate(cameras):
        rows = tracks.get(f"/{cam}/tracks", [])
        arr = np.array([a for a, _ in rows], np.int64)
        st = np.array([header_stamp_ns(d) for _, d in rows], np.int64)
        mine = stamps[kinds == i]
        received_per_cam[cam] = int(np.isin(st, mine).sum())
        published_per_cam[cam] = int(mine.size)
        lat.append(arr - st)
        stamp_all.append(st)
        arrival_all.append(arr)
    lat_a, st_a, arr_a = np.concatenate(lat), np.concatenate(stamp_all), np.concatenate(arrival_all)
    pub_sorted = np.sort(published[det])
    arr_sorted = np.sort(arr_a)
    grid = np.arange(t0, t_end + 1, NS_PER_S // 10)
    backlog = np.searchsorted(pub_sorted, grid, side="right") - np.searchsorted(arr_sorted, grid, side="right")
    span = max(t_end - t0, 1)
    q1, q4 = st_a < t0 + span // 4, st_a >= t0 + 3 * span // 4
    slope = np.polyfit((st_a - t0) / 1e9, lat_a / 1e6, 1)[0] if lat_a.size > 2 else float("nan")
    p50, p99 = percentiles_ms(lat_a)
    order = np.argsort(st_a)
    return {"timeline": (st_a[order] - t0, lat_a[order]), "p50_ms": p50, "p99_ms": p99,
            "max_ms": float(lat_a.max()) / 1e6 if lat_a.size else float("nan"),
            "q1_p50_ms": percentiles_ms(lat_a[q1])[0], "q4_p50_ms": percentiles_ms(lat_a[q4])[0],
            "slope_ms_per_s": float(slope), "published": int(det.sum()),
            "received": int(sum(received_per_cam.values())),
            "worst_camera_delivery": min(received_per_cam[c] / max(published_per_cam[c], 1) for c in cameras),
            "backlog_max": int(backlog.max()), "backlog_at_end": int(backlog[-1]),
            "drain_ms": (int(arr_a.max()) - t_end) / 1e6 if arr_a.size else float("nan"),
            "feed_late_p99_ms": percentiles_ms(published[det] - stamps[det])[1]}


def map_events(update_msgs: List[Tuple[int, bytes]]) -> List[Tuple[int, int, int]]:
    """(arrival ns, flower id, last_seen ns) of every map update: a new flower or an advanced last_seen."""
    from mars_counting.msg import GeoFlowerMapUpdate
    from rclpy.serialization import deserialize_message

    known: Dict[int, int] = {}
    events = []
    for arrival, data in update_msgs:
        msg = deserialize_message(data, GeoFlowerMapUpdate)
        for f in msg.changed:
            last = stamp_to_ns(f.last_seen)
            if known.get(f.id, -1) < last:
                known[f.id] = last
                events.append((arrival, int(f.id), last))
    return events


def reference_events(robot_config: Path, bag: Path, offset: int, cameras: Sequence[str],
                     tracks: Dict[str, List[Tuple[int, bytes]]]) -> Tuple[Dict[Tuple[int, int], int], int]:
    """(flower id, last_seen) -> stamp of the input that released that update, from a FlowerMapper fed the
    received tracks and the restamped fixes/headings in stamp order; and its flower count at the end."""
    from mars_counting.msg import FlowerTrackArray
    from rclpy.serialization import deserialize_message

    from mars_ros.bags.bag_files import open_bag_reader
    from mars_core.rig import load_rig
    from mars_fusion.config import load_fusion_config
    from mars_fusion.mapper import FlowerMapper
    from mars_ros.messages.fusion_inputs import gnss_fix_from_msg, heading_from_imu_msg, track_frame_from_msg

    mapper = FlowerMapper(load_fusion_config(robot_config), load_rig(robot_config))
    inputs: List[Tuple[int, int, str, Any]] = []
    reader = open_bag_reader(bag)
    conns = [c for c in reader.connections if c.topic in (FIX_TOPIC, IMU_TOPIC)]
    for conn, _, data in reader.messages(connections=conns):
        msg = reader.deserialize(data, conn.msgtype)
        if conn.topic == FIX_TOPIC:
            fix = gnss_fix_from_msg(msg)
            inputs.append((fix.stamp_ns + offset, 0, "fix", dataclasses.replace(fix, stamp_ns=fix.stamp_ns + offset)))
        else:
            sample = heading_from_imu_msg(msg)
            if sample is not None:
                inputs.append((sample.stamp_ns + offset, 1, "heading",
                               dataclasses.replace(sample, stamp_ns=sample.stamp_ns + offset)))
    reader.close()
    for cam in cameras:
        for _, data in tracks.get(f"/{cam}/tracks", []):
            frame, ended = track_frame_from_msg(deserialize_message(data, FlowerTrackArray))
            inputs.append((frame.stamp_ns, 2, "tracks", (frame, ended)))
    inputs.sort(key=lambda m: (m[0], m[1]))
    released: Dict[Tuple[int, int], int] = {}
    known: Dict[int, int] = {}
    mapped = 0
    for stamp, _, _, payload in inputs:
        mapper.add(payload)
        if mapper.counters["observations_mapped"] != mapped:
            mapped = mapper.counters["observations_mapped"]
            table = mapper.flowers()
            for fid, last in zip(table.ids.tolist(), table.last_ns.tolist()):
                if known.get(fid, -1) < last:
                    known[fid] = last
                    released.setdefault((int(fid), int(last)), stamp)
    return released, mapper.count()


def map_figures(events: List[Tuple[int, int, int]], released: Dict[Tuple[int, int], int], t0: int, t_end: int
                ) -> Dict[str, Any]:
    """Latency figures of the map updates (see the module docstring)."""
    if not events:
        return {"events": 0}
    arrival = np.array([e[0] for e in events], np.int64)
    last = np.array([e[2] for e in events], np.int64)
    e2e = arrival - last
    # Matched on the update's last_seen (the stamp of one camera frame): flower ids can differ between the
    # live map and the reference when tracks arrive later than the reorder delay.
    by_last: Dict[int, int] = {}
    for (_, ls), r in released.items():
        by_last[ls] = min(r, by_last.get(ls, r))
    matched = [(a, by_last[ls], ls) for a, _, ls in events if ls in by_last]
    lag = np.array([a - r for a, r, _ in matched], np.int64)
    wait = np.array([r - ls for _, r, ls in matched], np.int64)
    rel = np.array([r for _, r, _ in matched], np.int64)
    half = t0 + (t_end - t0) // 2
    during = rel <= t_end
    return {"events": len(events), "matched": len(matched),
            "e2e_p50_ms": percentiles_ms(e2e)[0], "e2e_p99_ms": percentiles_ms(e2e)[1],
            "wait_p50_ms": percentiles_ms(wait)[0],
            "lag_p50_ms": percentiles_ms(lag)[0], "lag_p99_ms": percentiles_ms(lag)[1],
            "lag_h1_p50_ms": percentiles_ms(lag[during & (rel < half)])[0],
            "lag_h2_p50_ms": percentiles_ms(lag[during & (rel >= half)])[0]}


def cpu_figures(samples: np.ndarray, t0: int, t1: int, tracker_messages: int, fusion_track_messages: int
                ) -> Dict[str, float]:
    """CPU use (cores) of each process over [t0, t1], per-message CPU cost of the nodes (their idle rate before
    the feed started subtracted) and the cores used by other work on the machine meanwhile."""
    wall = samples[:, 0]
    cols = {"tracker": 1, "fusion": 2, "feed": 3, "probe": 4, "machine": 5}
    out: Dict[str, float] = {}
    span = (t1 - t0) / 1e9
    ours = 0.0
    for name, col in cols.items():
        values = samples[:, col].copy()
        valid = np.isfinite(values)
        values = np.interp(wall, wall[valid], values[valid])  # the feed's CPU stays at its last value after exit
        used = float(np.interp(t1, wall, values) - np.interp(t0, wall, values))
        out[f"{name}_cores"] = used / span
        if name != "machine":
            ours += used
        if name in ("tracker", "fusion"):
            before = wall < t0 - 0.3e9
            idle_rate = 0.0
            if before.sum() >= 5:
                idle_rate = (values[before][-1] - values[before][0]) / ((wall[before][-1] - wall[before][0]) / 1e9)
            n = tracker_messages if name == "tracker" else fusion_track_messages
            out[f"{name}_ms_per_msg"] = 1e3 * max(used - idle_rate * span, 0.0) / max(n, 1)
    out["others_cores"] = out["machine_cores"] - ours / span
    return out


def other_load_per_bin(samples: np.ndarray, t0: int, bin_ns: int, n_bins: int) -> List[float]:
    """Cores used by work outside this benchmark in consecutive bins from t0 (machine busy - our processes)."""
    wall = samples[:, 0]
    filled = []
    for col in range(1, 6):
        values = samples[:, col]
        valid = np.isfinite(values)
        filled.append(np.interp(wall, wall[valid], values[valid]))
    others = filled[4] - filled[0] - filled[1] - filled[2] - filled[3]
    edges = t0 + bin_ns * np.arange(n_bins + 1)
    at = np.interp(edges, wall, others)
    return list(np.diff(at) / (bin_ns / 1e9))


def map_publication_cost(sizes: Sequence[int], n_cameras: int = 16, tracks_per_period: int = 30, periods: int = 5
                         ) -> Dict[int, Dict[str, float]]:
    """CPU ms of the fusion node's publications (FusionNode._publish_map) for maps of the given sizes, in this
    process: 'period' = the median over `periods` periods of publishing the changes after tracks_per_period
    tracks (half re-observing flowers near the robot, half new); 'whole' = publishing the whole map (the first
    publication)."""
    from builtin_interfaces.msg import Time
    from rclpy.serialization import serialize_message

    from mars_core.rig import rig_from_dict
    from mars_fusion.config import FusionConfig
    from mars_fusion.map_changes import MapChangeTracker
    from mars_fusion.map_store import MapState
    from mars_fusion.mapper import FlowerMapper
    from mars_ros.messages.map_messages import (FlowerMarkerTiles, count_msg, flower_array_msg, flower_update_msg,
                                                geo_flowers)
    from fusion_scale import field_flowers, make_track

    rig = rig_from_dict(boom_rig(n_cameras))
    stamp = Time(sec=1, nanosec=0)

    def publish(tracker: MapChangeTracker, tiles: FlowerMarkerTiles, full: bool) -> float:
        start = time.process_time()
        for changes in tracker.publish(full=full):
            flowers = geo_flowers(changes.changed)
            serialize_message(flower_update_msg(changes, stamp, flowers))
            if changes.full:
                serialize_message(flower_array_msg(changes.changed, stamp, flowers))
            serialize_message(tiles.markers_msg(changes, stamp))
        serialize_message(count_msg(changes.total, changes.per_camera, changes.per_plot, stamp))
        return 1e3 * (time.process_time() - start)

    out: Dict[int, Dict[str, float]] = {}
    for k, n in enumerate([100, *sizes]):     # the first, small map loads the message modules (not reported)
        rng = np.random.default_rng(0)
        xyz = field_flowers(n, rng)
        path = np.stack([np.linspace(0, 100, 200), np.zeros(200)], 1)
        arrays = {"ids": np.arange(1, n + 1, dtype=np.int64), "xyz": xyz,
                  "cov": np.tile(np.eye(2) * 1e-4, (n, 1, 1)), "n_obs": np.full(n, 20), "n_tracks": np.full(n, 2),
                  "camera_mask": rng.integers(1, 1 << n_cameras, n), "first_ns": np.full(n, 10 ** 18, np.int64),
                  "last_ns": np.full(n, 10 ** 18 + 10 ** 9, np.int64), "gnss_var": np.full(n, 1e-4),
                  "score_sum": np.full(n, 16.0), "path_xy": path}
        mapper = FlowerMapper(FusionConfig(), rig)
        mapper.restore(MapState((31.474, -83.5285, 110.0), "utm", rig.camera_names, n + 1, arrays, {}))
        tracker, tiles = MapChangeTracker(mapper), FlowerMarkerTiles()
        whole = publish(tracker, tiles, full=True)    # the first publication is the whole map
        per_period = []
        row = 0.97 * (n // 330 // 2)                     # a row in the middle of the field
        for period in range(periods):
            for j in range(tracks_per_period):
                x = 10.0 + 0.5 * (period * tracks_per_period + j) / tracks_per_period   # the robot drives on
                near = np.flatnonzero((np.abs(xyz[:, 0] - x) < 0.5) & (np.abs(xyz[:, 1] - row) < 0.3))
                if j % 2 == 0 and near.size:
                    p = xyz[rng.choice(near)] + np.array([0.01, -0.01, 0.0])
                else:
                    p = np.array([x, row + 0.45, 0.7])
                mapper.flower_map.add_track(make_track(p, 1000.0 + period + 0.01 * j, j % 3, rng, period * 1000 + j))
            per_period.append(publish(tracker, tiles, full=False))
        if k:
            out[n] = {"period": float(np.median(per_period)), "whole": whole}
    return out


def stage_costs(run_dir: Path, robot: Path) -> Dict[str, float]:
    """CPU ms per message of each stage the nodes run, in this process on the run's bag (no executor, no
    transport): the difference to the nodes' measured cost per message is rclpy/DDS overhead."""
    from mars_counting.msg import FlowerDetectionArray, FlowerTrackArray
    from rclpy.serialization import deserialize_message, serialize_message

    from mars_core.feature_codec import FeatureEncoding
    from mars_ros.bags.bag_files import open_bag_reader
    from mars_ros.messages.detection_messages import detection_frame_from_msg
    from mars_core.rig import load_rig, load_robot_config
    from mars_fusion.config import load_fusion_config
    from mars_fusion.mapper import FlowerMapper
    from mars_ros.messages.fusion_inputs import gnss_fix_from_msg, heading_from_imu_msg, track_frame_from_msg
    from mars_tracker.camera_tracker import CameraTracker
    from mars_tracker.config import TrackerConfig
    from mars_ros.messages.track_messages import track_msg_rclpy

    rig = load_rig(robot)
    config = TrackerConfig(**(load_robot_config(robot).get("tracker") or {}))
    trackers = {n: CameraTracker(config, camera_model=rig.camera(n).model) for n in rig.camera_names}
    mapper = FlowerMapper(load_fusion_config(robot), rig)
    totals = dict.fromkeys(("tracker_decode", "tracker_update", "tracker_encode", "fusion_decode",
                            "fusion_mapper"), 0.0)
    reader = open_bag_reader(run_dir / "bag")
    topics = {f"/{n}/detections" for n in rig.camera_names} | {FIX_TOPIC, IMU_TOPIC}
    n = 0
    clock = time.process_time
    for conn, _, data in reader.messages(connections=[c for c in reader.connections if c.topic in topics]):
        if conn.topic == FIX_TOPIC:
            fix = gnss_fix_from_msg(reader.deserialize(data, conn.msgtype))
            c0 = clock()
            mapper.add_fix(fix)
            totals["fusion_mapper"] += clock() - c0
            continue
        if conn.topic == IMU_TOPIC:
            sample = heading_from_imu_msg(reader.deserialize(data, conn.msgtype))
            c0 = clock()
            if sample is not None:
                mapper.add_heading(sample)
            totals["fusion_mapper"] += clock() - c0
            continue
        c0 = clock()
        frame = detection_frame_from_msg(deserialize_message(bytes(data), FlowerDetectionArray))
        c1 = clock()
        update = trackers[frame.camera_name].update(frame, None)
        c2 = clock()
        wire = serialize_message(track_msg_rclpy(update, FeatureEncoding.FLOAT32))
        c3 = clock()
        frame_in, ended = track_frame_from_msg(deserialize_message(wire, FlowerTrackArray))
        c4 = clock()
        mapper.add_tracks(frame_in, ended)
        c5 = clock()
        for key, dt in zip(totals, (c1 - c0, c2 - c1, c3 - c2, c4 - c3, c5 - c4)):
            totals[key] += dt
        n += 1
    reader.close()
    return {k: 1e3 * v / max(n, 1) for k, v in totals.items()}


# ---------------------------------------------------------------------------------------------- one run
def run_pipeline(n_cameras: int, duration_s: float, flowers_per_plant: float, work: Path) -> Dict[str, Any]:
    """Simulate, start the nodes, feed in real time, probe, and return the figures of one rig size."""
    from harness.ros_processes import NodeProcess, ros_args
    from mars_sim import simulate, write_run

    result = simulate(sim_config(n_cameras, duration_s, flowers_per_plant), seed=0)
    cameras = list(result.rig.camera_names)
    dets_per_frame = float(np.mean([len(f.detections.scores) for s in result.cameras.values() for f in s.frames]))
    run_dir = write_run(result, work / f"cams{n_cameras}")
    robot = write_robot_config(run_dir)
    from mars_counting.msg import FlowerTrackArray, GeoFlowerMapUpdate

    probe = RawProbe()
    for cam in cameras:
        probe.watch(f"/{cam}/tracks", FlowerTrackArray)
    probe.watch("/mars/flower_updates", GeoFlowerMapUpdate, depth=1000)
    tracker = NodeProcess("mars_ros.nodes.tracker_node", ros_args({"robot_config": str(robot)}))
    fusion = NodeProcess("mars_ros.nodes.fusion_node", ros_args({"robot_config": str(robot),
                                                                    "publish_period_s": PUBLISH_PERIOD_S}))
    feed_out = run_dir / "feed.npz"
    feed: Optional[subprocess.Popen] = None
    try:
        probe.wait_for_publishers([f"/{c}/tracks" for c in cameras] + ["/mars/flower_updates"], timeout=60.0)
        feed = subprocess.Popen([sys.executable, __file__, "--feed", str(run_dir / "bag"), "--feed-out", str(feed_out),
                                 "--feed-cameras", *cameras], cwd=REPO_ROOT)
        pids = {"tracker": tracker.proc.pid, "fusion": fusion.proc.pid, "feed": feed.pid}
        samples: List[List[float]] = []   # wall ns, CPU s of tracker, fusion, feed, this process, whole machine

        def sample() -> None:
            samples.append([float(time.time_ns()), *(cpu_seconds(p) for p in pids.values()), time.process_time(),
                            system_busy_seconds()])

        while feed.poll() is None:
            sample()
            time.sleep(0.1)
            if not (tracker.alive() and fusion.alive()):
                raise RuntimeError(f"a node died:\n{tracker.output()[-3000:]}\n{fusion.output()[-3000:]}")
        if feed.returncode != 0:
            raise RuntimeError(f"feed failed with exit code {feed.returncode}")
        tail_end = time.monotonic() + max(4.0, PUBLISH_PERIOD_S * 5)  # late tracks and the last map publications
        while time.monotonic() < tail_end:
            sample()
            time.sleep(0.1)
        load_average = os.getloadavg()[0]
    finally:
        if feed is not None and feed.poll() is None:
            feed.kill()
        for proc in (tracker, fusion):
            if proc.alive():
                proc.interrupt(timeout=30.0)
        probe.close()
    data = np.load(feed_out)
    feed_arrays = {k: data[k] for k in data.files}
    tracker_fig = tracker_figures(feed_arrays, probe.received, cameras)
    det = feed_arrays["kinds"] >= 0
    t0, t_end = int(feed_arrays["published"][det].min()), int(feed_arrays["published"][det].max())
    events = map_events(probe.received.get("/mars/flower_updates", []))
    released, ref_count = reference_events(robot, run_dir / "bag", int(feed_arrays["offset"]), cameras, probe.received)
    map_fig = map_figures(events, released, t0, t_end)
    live_count = len({e[1] for e in events})
    since_start, latency = tracker_fig.pop("timeline")
    np.savez(run_dir / "tracker_latency.npz", since_start_ns=since_start, latency_ns=latency)
    last_track = max(a for c in cameras for a, _ in probe.received.get(f"/{c}/tracks", [(0, b"")]))
    cpu = cpu_figures(np.array(samples), t0, max(t_end, last_track), tracker_fig["received"],
                      sum(len(probe.received.get(f"/{c}/tracks", [])) for c in cameras))
    cpu["load_average"] = load_average
    cpu.update(stage_costs(run_dir, robot))
    n_bins = max(1, int(round(since_start[-1] / (4 * NS_PER_S)))) if since_start.size else 0
    bins = 4 * NS_PER_S * np.arange(n_bins)
    tracker_fig["others_per_4s"] = other_load_per_bin(np.array(samples), t0, 4 * NS_PER_S, len(bins))
    # 4 s bins of the drive; the last one also takes the remainder.
    in_bin = [(since_start >= b) & ((since_start < b + 4 * NS_PER_S) | (b == bins[-1])) for b in bins]
    tracker_fig["p50_per_4s_ms"] = [percentiles_ms(latency[m])[0] for m in in_bin]
    return {"cameras": n_cameras, "dets_per_frame": dets_per_frame, "tracker": tracker_fig, "map": map_fig,
            "cpu": cpu, "map_publications": len(probe.received.get("/mars/flower_updates", [])),
            "live_flowers": live_count, "reference_flowers": ref_count}


def print_report(results: List[Dict[str, Any]], duration_s: float) -> None:
    """The table of figures."""
    def f(v: Any, fmt: str = "{:.1f}") -> str:
        return fmt.format(v) if isinstance(v, (int, float)) and np.isfinite(v) else "-"

    print(f"\nLive pipeline on loopback: {duration_s:.0f} s drive, 30 fps per camera, fusion publish_period_s="
          f"{PUBLISH_PERIOD_S}, ROS_DOMAIN_ID={os.environ['ROS_DOMAIN_ID']}, {os.cpu_count()} CPUs (shared)")
    cols = [str(r["cameras"]) + " cams" for r in results]
    rows: List[Tuple[str, List[str]]] = [
        ("detections / frame (mean)", [f(r["dets_per_frame"], "{:.2f}") for r in results]),
        ("detection msgs published", [str(r["tracker"]["published"]) for r in results]),
        ("feed lateness p99 ms", [f(r["tracker"]["feed_late_p99_ms"]) for r in results]),
        ("tracks received (all cams)", [str(r["tracker"]["received"]) for r in results]),
        ("worst camera delivery", [f(100 * r["tracker"]["worst_camera_delivery"], "{:.1f}%") for r in results]),
        ("tracker latency p50 ms", [f(r["tracker"]["p50_ms"]) for r in results]),
        ("tracker latency p99 ms", [f(r["tracker"]["p99_ms"]) for r in results]),
        ("tracker latency max ms", [f(r["tracker"]["max_ms"]) for r in results]),
        ("  p50 first quarter ms", [f(r["tracker"]["q1_p50_ms"]) for r in results]),
        ("  p50 last quarter ms", [f(r["tracker"]["q4_p50_ms"]) for r in results]),
        ("  trend ms per s of drive", [f(r["tracker"]["slope_ms_per_s"], "{:+.2f}") for r in results]),
        ("backlog max (msgs)", [str(r["tracker"]["backlog_max"]) for r in results]),
        ("  = seconds of detections", [f(r["tracker"]["backlog_max"] / (30.0 * r["cameras"]), "{:.2f}")
                                       for r in results]),
        ("backlog at last detection", [str(r["tracker"]["backlog_at_end"]) for r in results]),
        ("drain after last detection ms", [f(r["tracker"]["drain_ms"]) for r in results]),
        ("CPU tracker (cores)", [f(r["cpu"].get("tracker_cores"), "{:.2f}") for r in results]),
        ("  tracker CPU ms / frame", [f(r["cpu"].get("tracker_ms_per_msg"), "{:.2f}") for r in results]),
        ("    in-process: decode/update/encode", [
            f"{r['cpu']['tracker_decode']:.2f}/{r['cpu']['tracker_update']:.2f}/{r['cpu']['tracker_encode']:.2f}"
            for r in results]),
        ("  tracker capacity (cams@30fps/core)", [f(1000.0 / (30.0 * r["cpu"]["tracker_ms_per_msg"]), "{:.0f}")
                                                  if r["cpu"].get("tracker_ms_per_msg") else "-" for r in results]),
        ("CPU fusion (cores)", [f(r["cpu"].get("fusion_cores"), "{:.2f}") for r in results]),
        ("  fusion CPU ms / track msg", [f(r["cpu"].get("fusion_ms_per_msg"), "{:.2f}") for r in results]),
        ("    in-process: decode/mapper", [f"{r['cpu']['fusion_decode']:.2f}/{r['cpu']['fusion_mapper']:.2f}"
                                           for r in results]),
        ("CPU feed + probe (cores)", [f(r["cpu"].get("feed_cores", 0.0) + r["cpu"].get("probe_cores", 0.0), "{:.2f}")
                                      for r in results]),
        ("CPU other work on machine (cores)", [f(r["cpu"].get("others_cores"), "{:.2f}") for r in results]),
        ("load average (1 min) at end", [f(r["cpu"].get("load_average"), "{:.1f}") for r in results]),
        ("map publications received", [str(r["map_publications"]) for r in results]),
        ("map update events (matched)", [f"{r['map'].get('events', 0)} ({r['map'].get('matched', 0)})"
                                         for r in results]),
        ("last detection -> map p50 ms", [f(r["map"].get("e2e_p50_ms")) for r in results]),
        ("last detection -> map p99 ms", [f(r["map"].get("e2e_p99_ms")) for r in results]),
        ("  algorithmic wait p50 ms", [f(r["map"].get("wait_p50_ms")) for r in results]),
        ("map lag p50 ms", [f(r["map"].get("lag_p50_ms")) for r in results]),
        ("map lag p99 ms", [f(r["map"].get("lag_p99_ms")) for r in results]),
        ("  map lag p50 1st / 2nd half", [f"{f(r['map'].get('lag_h1_p50_ms'))} / {f(r['map'].get('lag_h2_p50_ms'))}"
                                          for r in results]),
        ("flowers live / reference", [f"{r['live_flowers']} / {r['reference_flowers']}" for r in results]),
    ]
    width = max(len(name) for name, _ in rows) + 2
    print("".ljust(width) + "".join(c.rjust(16) for c in cols))
    for name, values in rows:
        print(name.ljust(width) + "".join(v.rjust(16) for v in values))
    for r in results:
        print(f"{r['cameras']} cameras: tracker latency p50 per 4 s of drive (ms): "
              + " / ".join(f(v, "{:.0f}") for v in r["tracker"]["p50_per_4s_ms"])
              + "; other work on the machine meanwhile (cores): "
              + " / ".join(f(v, "{:.1f}") for v in r["tracker"]["others_per_4s"]))
    for r in results:
        t, m = r["tracker"], r["map"]
        per_bin = [v for v in t["p50_per_4s_ms"] if np.isfinite(v)]
        tracker_ok = (t["worst_camera_delivery"] >= 0.999 and t["backlog_at_end"] <= r["cameras"]
                      and bool(per_bin) and per_bin[-1] <= max(2 * per_bin[0], per_bin[0] + 10.0))
        transient = t["backlog_max"] > r["cameras"]
        h1, h2 = m.get("lag_h1_p50_ms", float("nan")), m.get("lag_h2_p50_ms", float("nan"))
        fusion_ok = (r["live_flowers"] == r["reference_flowers"] and np.isfinite(h2)
                     and h2 <= max(2 * h1, h1 + 2 * PUBLISH_PERIOD_S * 1e3))
        print(f"{r['cameras']} cameras: tracker keeps up: {'yes' if tracker_ok else 'NO'}"
              + (f" (transient backlog up to {t['backlog_max'] / (30.0 * r['cameras']):.2f} s of detections)"
                 if transient else "")
              + f"; fusion keeps up: {'yes' if fusion_ok else 'NO'}")
    print("keeps up = every detection answered, backlog at the last detection <= one message per camera and "
          "latency p50 of the last 4 s <= max(2x, +10 ms) the first 4 s (tracker); all flowers of the reference "
          "and map lag p50 of the 2nd half <= max(2x, +2 publish periods) the 1st (fusion). The feed and the probe "
          "run on the same 2 cores (on the robot the detections come from the camera computers).")


def print_publication_cost(cost: Dict[int, Dict[str, float]]) -> None:
    """The table of the fusion node's publication costs per map size."""
    print("fusion map publication, CPU ms in this process (16-camera rig, serialized messages):")
    print(f"{'flowers':>10} {'per period (changes)':>22} {'whole map':>12}")
    for n, c in cost.items():
        print(f"{n:>10} {c['period']:>22.2f} {c['whole']:>12.0f}")
    print("per period = the changes of one publish_period_s with the tracks it mapped (GeoFlowerMapUpdate, the "
          "changed marker tiles, the count); whole map = GeoFlowerArray + full update + every tile (before issue "
          "19 the node paid about this every period; now every flowers_period_s)")


def main(argv: Optional[List[str]] = None) -> int:
    """Benchmark entry point (the --feed options are the feed subprocess)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cameras", type=int, nargs="+", default=[3, 16], help="rig sizes to run")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of drive per rig size")
    parser.add_argument("--flowers-per-plant", type=float, default=0.35, help="flower density (field preset: 0.35)")
    parser.add_argument("--keep", help="keep the runs (bags, robot configs) in this folder")
    parser.add_argument("--map-sizes", type=int, nargs="+", default=[1000, 10000, 100000, 1000000],
                        help="map sizes (flowers) of the publication cost")
    parser.add_argument("--tracks-per-period", type=int, default=30, help="tracks mapped per publish period")
    parser.add_argument("--publication-only", action="store_true",
                        help="only the publication cost (no nodes, no simulation)")
    parser.add_argument("--feed", help=argparse.SUPPRESS)
    parser.add_argument("--feed-out", help=argparse.SUPPRESS)
    parser.add_argument("--feed-cameras", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.feed:
        return run_feed(args.feed, args.feed_out, args.feed_cameras)
    if args.publication_only:
        print_publication_cost(map_publication_cost(args.map_sizes, tracks_per_period=args.tracks_per_period))
        return 0
    results = []
    with tempfile.TemporaryDirectory(prefix="mars_live_latency_") as tmp:
        work = Path(args.keep) if args.keep else Path(tmp)
        for n in args.cameras:
            print(f"running {n} cameras ...", flush=True)
            results.append(run_pipeline(n, args.duration, args.flowers_per_plant, work))
    print_report(results, args.duration)
    print_publication_cost(map_publication_cost(args.map_sizes, tracks_per_period=args.tracks_per_period))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
