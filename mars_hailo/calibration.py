"""`calib`: a calibration set that represents the cameras' data, preprocessed exactly like the runtime.

Two passes over the sources: (1) a candidate pool spread evenly over time per camera, decoded as small
thumbnails; (2) a selection with a per-camera quota, one pick per time slice that is farthest (in thumbnail
content and brightness) from everything already picked, skipping near-duplicates; then only the selected
frames are decoded in full, letterboxed like the camera node and written as an (N, H, W, 3) uint8 RGB
array (lossless; the optimize stage casts it to the float32 the DFC wants, 4x smaller on disk).
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from mars_hailo.errors import CalibrationError, check_input_file

LOG = logging.getLogger(__name__)
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".mov", ".webm")
IMAGE_MSGTYPES = ("sensor_msgs/msg/CompressedImage", "sensor_msgs/msg/Image")
THUMB = 16
DFC_MAX_CALIBSET = 1024


@dataclass(frozen=True)
class FrameRef:
    """One candidate frame: where it is and what it looks like at thumbnail size."""

    source: int  # index into the source list
    camera: str
    time_s: float  # seconds from the start of its source (bags: message stamp; videos: frame time)
    locator: Any  # image path, video frame index, or (topic, message index within the topic)


@dataclass(frozen=True)
class CalibrationResult:
    """What `calib` wrote."""

    array_path: Path
    report_path: Path
    count: int
    report: dict[str, Any]


class _Source:
    kind = ""

    def __init__(self, path: Path, index: int) -> None:
        self.path, self.index = path, index

    def refs(self) -> list[FrameRef]:
        raise NotImplementedError

    def load(self, refs: Sequence[FrameRef], reduced: bool) -> Iterator[tuple[FrameRef, np.ndarray]]:
        """Decode the given refs (BGR uint8); reduced=True may decode at 1/4 size (thumbnails)."""
        raise NotImplementedError


def _imdecode(data: bytes | np.ndarray, reduced: bool, what: str) -> np.ndarray | None:
    import cv2

    buf = np.frombuffer(data, np.uint8) if isinstance(data, (bytes, bytearray, memoryview)) else data
    img = cv2.imdecode(buf, cv2.IMREAD_REDUCED_COLOR_4 if reduced else cv2.IMREAD_COLOR)
    if img is None:
        LOG.warning("could not decode %s; skipped", what)
    return img


class _ImageFolder(_Source):
    kind = "images"

    def refs(self) -> list[FrameRef]:
        files = sorted(p for p in self.path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        out = []
        for k, f in enumerate(files):
            rel = f.parent.relative_to(self.path)
            cam = str(rel) if str(rel) != "." else self.path.name
            out.append(FrameRef(self.index, cam, float(k), f))
        return out

    def load(self, refs: Sequence[FrameRef], reduced: bool) -> Iterator[tuple[FrameRef, np.ndarray]]:
        for r in refs:
            img = _imdecode(Path(r.locator).read_bytes(), reduced, str(r.locator))
            if img is not None:
                yield r, img


class _Video(_Source):
    kind = "video"

    def _open(self) -> Any:
        import cv2

        cap = cv2.VideoCapture(str(self.path))
        if not cap.isOpened():
            raise CalibrationError(f"cannot open video {self.path}")
        return cap

    def refs(self) -> list[FrameRef]:
        import cv2

        cap = self._open()
        n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
        cap.release()
        return [FrameRef(self.index, self.path.stem, k / fps, k) for k in range(max(n, 0))]

    def load(self, refs: Sequence[FrameRef], reduced: bool) -> Iterator[tuple[FrameRef, np.ndarray]]:
        import cv2

        cap = self._open()
        want = {int(r.locator): r for r in refs}
        k = 0
        try:
            while want:
                ok = cap.grab()
                if not ok:
                    break
                if k in want:
                    ok, img = cap.retrieve()
                    if ok and img is not None:
                        if reduced:
                            img = cv2.resize(img, (max(img.shape[1] // 4, 1), max(img.shape[0] // 4, 1)),
                                             interpolation=cv2.INTER_AREA)
                        yield want.pop(k), img
                k += 1
        finally:
            cap.release()


class _Rosbag(_Source):
    kind = "rosbag2"

    def __init__(self, path: Path, index: int, topics: Sequence[str] | None) -> None:
        super().__init__(path, index)
        self.topics = list(topics) if topics else None

    def _reader(self) -> Any:
        from rosbags.highlevel import AnyReader
        from rosbags.typesys import Stores, get_typestore

        return AnyReader([self.path], default_typestore=get_typestore(Stores.ROS2_JAZZY))

    def _connections(self, reader: Any) -> list[Any]:
        conns = [c for c in reader.connections if c.msgtype in IMAGE_MSGTYPES
                 and (self.topics is None or c.topic in self.topics)]
        if not conns:
            have = sorted({(c.topic, c.msgtype) for c in reader.connections})
            raise CalibrationError(f"bag {self.path} has no image topic"
                                   + (f" among {self.topics}" if self.topics else "") + f"; topics: {have}")
        return conns

    @staticmethod
    def camera_of(topic: str) -> str:
        """`/<cam>/image/compressed` -> `<cam>`."""
        parts = [p for p in topic.split("/") if p]
        return parts[0] if parts else topic

    def refs(self) -> list[FrameRef]:
        out: list[FrameRef] = []
        try:
            with self._reader() as reader:
                conns = self._connections(reader)
                start = reader.start_time
                counters = {c.topic: 0 for c in conns}
                # Timestamps only (no deserialisation): the bag index order is time order.
                for conn, t_ns, _raw in reader.messages(connections=conns):
                    k = counters[conn.topic]
                    counters[conn.topic] = k + 1
                    out.append(FrameRef(self.index, self.camera_of(conn.topic), (t_ns - start) * 1e-9,
                                        (conn.topic, k)))
        except CalibrationError:
            raise
        except Exception as exc:
            raise CalibrationError(f"cannot read bag {self.path}: {exc}") from exc
        return out

    def load(self, refs: Sequence[FrameRef], reduced: bool) -> Iterator[tuple[FrameRef, np.ndarray]]:
        want = {tuple(r.locator): r for r in refs}
        with self._reader() as reader:
            conns = [c for c in self._connections(reader) if c.topic in {t for t, _ in want}]
            counters = {c.topic: 0 for c in conns}
            for conn, _t, raw in reader.messages(connections=conns):
                k = counters[conn.topic]
                counters[conn.topic] = k + 1
                ref = want.pop((conn.topic, k), None)
                if ref is None:
                    continue
                msg = reader.deserialize(raw, conn.msgtype)
                img = self._image(msg, conn, reduced, f"{self.path}:{conn.topic}#{k}")
                if img is not None:
                    yield ref, img
                if not want:
                    break

    @staticmethod
    def _image(msg: Any, conn: Any, reduced: bool, what: str) -> np.ndarray | None:
        if conn.msgtype.endswith("CompressedImage"):
            return _imdecode(np.asarray(msg.data, np.uint8), reduced, what)
        enc = msg.encoding.lower()
        data = np.asarray(msg.data, np.uint8)
        if enc in ("bgr8", "rgb8"):
            img = data.reshape(msg.height, msg.step)[:, : msg.width * 3].reshape(msg.height, msg.width, 3)
            img = img[:, :, ::-1].copy() if enc == "rgb8" else img.copy()
        elif enc == "mono8":
            g = data.reshape(msg.height, msg.step)[:, : msg.width]
            img = np.repeat(g[:, :, None], 3, axis=2)
        else:
            LOG.warning("unsupported image encoding %r in %s; skipped", msg.encoding, what)
            return None
        return img[::4, ::4].copy() if reduced else img


def open_sources(paths: Sequence[str | Path], topics: Sequence[str] | None = None) -> list[_Source]:
    """Classify each path as an image folder, a video file, or a rosbag2 (directory or .mcap/.db3 file)."""
    sources: list[_Source] = []
    for k, raw in enumerate(paths):
        p = Path(raw)
        if not p.exists():
            raise CalibrationError(f"calibration source {p} does not exist")
        if p.is_file() and p.suffix in (".mcap", ".db3"):
            sources.append(_Rosbag(p.parent, k, topics))
        elif p.is_dir() and (p / "metadata.yaml").is_file():
            sources.append(_Rosbag(p, k, topics))
        elif p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES:
            sources.append(_Video(p, k))
        elif p.is_dir():
            sources.append(_ImageFolder(p, k))
        else:
            raise CalibrationError(f"calibration source {p}: not an image folder, a video "
                                   f"({', '.join(VIDEO_SUFFIXES)}) or a rosbag2")
    return sources


def _descriptor(img_bgr: np.ndarray) -> tuple[np.ndarray, float]:
    """Content descriptor (16x16 gray thumbnail + coarse colour) in 0..1, and mean brightness 0..255."""
    import cv2

    small = cv2.resize(img_bgr, (THUMB, THUMB), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
    gray = small.mean(axis=2)
    colour = small.reshape(-1, 3).mean(axis=0)
    return np.concatenate([gray.ravel(), colour * 4.0]), float(gray.mean() * 255.0)


def _even_pick(n_items: int, n_pick: int) -> np.ndarray:
    if n_pick >= n_items:
        return np.arange(n_items)
    return np.unique(np.round(np.linspace(0, n_items - 1, n_pick)).astype(int))


def _quotas(available: dict[str, int], total: int) -> dict[str, int]:
    """Split `total` evenly over cameras, giving what a small camera cannot use to the others."""
    quota = {c: 0 for c in available}
    left = total
    open_cams = [c for c in sorted(available) if available[c] > 0]
    while left > 0 and open_cams:
        share = max(left // len(open_cams), 1)
        for c in list(open_cams):
            add = min(share, available[c] - quota[c], left)
            quota[c] += add
            left -= add
            if quota[c] >= available[c]:
                open_cams.remove(c)
            if left == 0:
                break
    return quota


def select_diverse(descriptors: np.ndarray, cameras: Sequence[str], times: np.ndarray, count: int,
                   duplicate_distance: float) -> tuple[np.ndarray, int]:
    """Indices of `count` frames spread over cameras and time and far apart in content; and #duplicates skipped.

    A frame closer than `duplicate_distance` (mean absolute thumbnail difference) to a selected one is a
    near-duplicate and never selected.
    """
    n = len(descriptors)
    cams = np.asarray(cameras)
    d = descriptors.shape[1]
    min_dist = np.full(n, np.inf, dtype=np.float64)
    chosen = np.zeros(n, dtype=bool)
    available = {c: int((cams == c).sum()) for c in np.unique(cams)}
    quota = _quotas(available, count)
    order: list[int] = []
    # Interleave cameras so early picks (which shape min_dist) cover every camera.
    slices: dict[str, list[np.ndarray]] = {}
    for c, q in quota.items():
        idx = np.flatnonzero(cams == c)
        idx = idx[np.argsort(times[idx], kind="stable")]
        slices[c] = [s for s in np.array_split(idx, q) if len(s)] if q else []
    rounds = max((len(v) for v in slices.values()), default=0)
    for r in range(rounds):
        for c in sorted(slices):
            if r >= len(slices[c]):
                continue
            cand = slices[c][r]
            cand = cand[~chosen[cand] & (min_dist[cand] >= duplicate_distance)]
            if not len(cand):
                continue
            pick = int(cand[np.argmax(min_dist[cand])]) if np.isfinite(min_dist[cand]).any() else int(cand[len(cand) // 2])
            chosen[pick] = True
            order.append(pick)
            dist = np.abs(descriptors - descriptors[pick]).sum(axis=1) / d
            np.minimum(min_dist, dist, out=min_dist)
    # Slices emptied by duplicates: fill up with the most distinct frames left anywhere.
    while len(order) < count:
        ok = ~chosen & (min_dist >= duplicate_distance)
        if not ok.any():
            break
        pick = int(np.flatnonzero(ok)[np.argmax(min_dist[ok])])
        chosen[pick] = True
        order.append(pick)
        np.minimum(min_dist, np.abs(descriptors - descriptors[pick]).sum(axis=1) / d, out=min_dist)
    duplicates = int((~chosen & (min_dist < duplicate_distance)).sum())
    return np.asarray(order, dtype=int), duplicates


def _hist(values: Sequence[float] | np.ndarray, bins: int, lo: float, hi: float) -> dict[str, list[float]]:
    counts, edges = np.histogram(np.asarray(values, dtype=np.float64), bins=bins, range=(lo, hi))
    return {"edges": [round(float(e), 3) for e in edges], "counts": [int(c) for c in counts]}


def build_calibration_set(sources: Sequence[str | Path], out_dir: str | Path, size_hw: tuple[int, int],
                          count: int = DFC_MAX_CALIBSET, topics: Sequence[str] | None = None,
                          pool_factor: int = 4, duplicate_distance: float = 0.01,
                          progress: Callable[[str], None] | None = None) -> CalibrationResult:
    """Sample, preprocess and write the calibration array `calib_<H>x<W>.npy` and `calib_report.json`."""
    from mars_camera.yolo.letterbox import letterbox

    if not 1 <= count <= DFC_MAX_CALIBSET:
        raise CalibrationError(f"--count {count}: must be 1..{DFC_MAX_CALIBSET} (the DFC uses at most 1024)")
    say = progress or LOG.info
    srcs = open_sources(sources, topics)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)

    # Pass 1: candidate pool, evenly over time per (source, camera).
    pool: list[FrameRef] = []
    totals: dict[str, int] = {}
    per_key: dict[tuple[int, str], list[FrameRef]] = {}
    for s in srcs:
        refs = s.refs()
        if not refs:
            raise CalibrationError(f"calibration source {s.path} ({s.kind}) has no frames")
        for r in refs:
            per_key.setdefault((r.source, r.camera), []).append(r)
    keys = sorted(per_key)
    per_cam_pool = max(pool_factor * count // max(len(keys), 1), 1)
    for key in keys:
        refs = sorted(per_key[key], key=lambda r: r.time_s)
        totals[f"{srcs[key[0]].path}:{key[1]}"] = len(refs)
        pool.extend(refs[i] for i in _even_pick(len(refs), per_cam_pool))
    say(f"calib: {sum(totals.values())} frames in {len(srcs)} source(s), {len(keys)} camera stream(s); "
        f"pool {len(pool)}")
    thumbs: dict[FrameRef, tuple[np.ndarray, float]] = {}
    for s in srcs:
        mine = [r for r in pool if r.source == s.index]
        for ref, img in s.load(mine, reduced=True):
            thumbs[ref] = _descriptor(img)
    pool = [r for r in pool if r in thumbs]
    if not pool:
        raise CalibrationError("no decodable frames in the calibration sources")
    desc = np.stack([thumbs[r][0] for r in pool])
    bright = np.array([thumbs[r][1] for r in pool])
    cams = [f"{r.source}:{r.camera}" for r in pool]
    times = np.array([r.time_s for r in pool])
    order, dups = select_diverse(desc, cams, times, count, duplicate_distance)
    selected = [pool[i] for i in order]
    if len(selected) < count:
        say(f"calib: only {len(selected)} distinct frames available (asked for {count})")

    # Pass 2: full decode of the selection, runtime letterbox, written in selection order.
    h, w = size_hw
    arr_path = out / f"calib_{h}x{w}.npy"
    tmp_path = out / f".calib_{h}x{w}.npy.partial"
    arr = np.lib.format.open_memmap(tmp_path, mode="w+", dtype=np.uint8, shape=(len(selected), h, w, 3))
    slot = {r: k for k, r in enumerate(selected)}
    written = np.zeros(len(selected), dtype=bool)
    for s in srcs:
        mine = [r for r in selected if r.source == s.index]
        for ref, img in s.load(mine, reduced=False):
            rgb, _ = letterbox(img, (w, h), bgr_to_rgb=True)
            arr[slot[ref]] = rgb
            written[slot[ref]] = True
    if not written.all():
        raise CalibrationError(f"{int((~written).sum())} selected frames could not be decoded the second time")
    arr.flush()
    del arr
    tmp_path.replace(arr_path)

    sel_b = bright[order]
    by_cam: dict[str, int] = {}
    for r in selected:
        name = f"{srcs[r.source].path}:{r.camera}"
        by_cam[name] = by_cam.get(name, 0) + 1
    report: dict[str, Any] = {
        "array": arr_path.name, "shape": [len(selected), h, w, 3], "dtype": "uint8",
        "layout": "NHWC RGB, letterboxed like the camera node (mars_camera.yolo.letterbox)",
        "requested": count, "selected": len(selected), "pool": len(pool),
        "near_duplicates_skipped": dups, "duplicate_distance": duplicate_distance,
        "sources": [{"path": str(s.path), "kind": s.kind} for s in srcs],
        "frames_available": totals, "selected_per_camera": by_cam,
        "brightness_pool": _hist(bright, 16, 0, 256), "brightness_selected": _hist(sel_b, 16, 0, 256),
        "time_selected": {name: _hist([r.time_s for r in selected if f"{srcs[r.source].path}:{r.camera}" == name],
                                      10, min(r.time_s for r in pool), max(r.time_s for r in pool) + 1e-9)
                          for name in by_cam},
        "frames": [{"source": str(srcs[r.source].path), "camera": r.camera, "time_s": round(r.time_s, 6),
                    "locator": str(r.locator), "brightness": round(float(bright[i]), 2)}
                   for r, i in zip(selected, order)],
    }
    report_path = out / "calib_report.json"
    report_path.write_text(json.dumps(report, indent=1))
    say(f"calib: wrote {arr_path} {report['shape']} and {report_path}")
    return CalibrationResult(arr_path, report_path, len(selected), report)


CALIBRATION_HOWTO = ("build one with `mars-hailo calib SOURCES... -o CALIB_DIR --onnx MODEL.onnx` (SOURCES: image "
                     "folders, videos or rosbag2 bags from the cameras) and pass --calib CALIB_DIR/calib_HxW.npy")


def _open_calibration_array(p: Path) -> np.ndarray:
    """The calibration .npy memory-mapped, after checking that it is one and holds (N, H, W, 3) images."""
    if p.is_dir():
        inside = sorted(q.name for q in p.glob("calib_*.npy"))
        raise CalibrationError(f"calibration array {p} is a directory: pass the .npy file "
                               + (f"inside it ({', '.join(inside)})" if inside else f"`mars-hailo calib` wrote; "
                                  f"{CALIBRATION_HOWTO}"))
    check_input_file(p, "calibration array", CalibrationError, "a NumPy .npy array", CALIBRATION_HOWTO)
    try:
        data = np.load(p, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise CalibrationError(f"calibration array {p} is not a readable NumPy .npy array ({exc}); "
                               f"{CALIBRATION_HOWTO}") from exc
    if not isinstance(data, np.ndarray) or data.ndim != 4 or data.shape[3] != 3 or data.shape[0] == 0:
        shape = getattr(data, "shape", type(data).__name__)
        raise CalibrationError(f"calibration array {p} has shape {shape}, expected (N, H, W, 3) images with N "
                               f"> 0; {CALIBRATION_HOWTO}")
    return data


def check_calibration_array(path: Path | None) -> tuple[int, ...]:
    """Shape (N, H, W, 3) of a calibration .npy; CalibrationError saying what is wrong and how to make one."""
    if path is None:
        raise CalibrationError(f"compile needs a calibration set (images the optimizer quantizes the model "
                               f"with): {CALIBRATION_HOWTO}")
    return tuple(int(v) for v in _open_calibration_array(Path(path)).shape)


def load_calibration_array(path: str | Path, size_hw: tuple[int, int], limit: int | None = None) -> np.ndarray:
    """Load a calib .npy as the float32 NHWC array the DFC expects, re-letterboxing if the size differs.

    The resolution fallback reuses a calib set made at a larger size: a letterboxed square frame resized to
    a smaller square is the letterbox of the original up to one pixel of rounding in the padding.
    """
    import cv2

    p = Path(path)
    data = _open_calibration_array(p)
    if limit is not None:
        data = data[:limit]
    h, w = size_hw
    if data.shape[1:3] == (h, w):
        return np.asarray(data, dtype=np.float32)
    from mars_camera.yolo.letterbox import letterbox

    out = np.empty((len(data), h, w, 3), dtype=np.float32)
    for k in range(len(data)):
        img = np.ascontiguousarray(data[k])
        if data.dtype != np.uint8:
            img = np.clip(img, 0, 255).astype(np.uint8)
        out[k] = letterbox(img, (w, h), bgr_to_rgb=False)[0] if (data.shape[1] / data.shape[2]) != (h / w) \
            else cv2.resize(img, (w, h), interpolation=cv2.INTER_LINEAR)
    return out
