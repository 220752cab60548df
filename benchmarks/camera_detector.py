"""Camera detector benchmark: per-stage CPU time, bytes on the wire, end-to-end fps with ONNX Runtime on CPU.

    .venv/bin/python benchmarks/camera_detector.py [--model models/detector/flower_yolov8n.onnx] [--frames 60]

1. CPU time per frame OUTSIDE inference at a 640x640 model input with 50 detections (preprocess = letterbox
   of a 1536x864 frame (+ the float NCHW tensor for ONNX Runtime), decoding, NMS, feature pooling, message
   fill = FlowerDetectionArray built and CDR-serialized by rclpy), for the three output layouts the node
   handles: the ONNX stock output, Hailo raw heads (uint8) and Hailo on-chip NMS. The model outputs are
   synthesised with 50 flowers (each a cluster of overlapping candidate anchors, as real heads produce) so
   that the stage costs do not depend on what a given model happens to detect; compared with the ONNX
   inference time of the given model (and of --model640 when given).
2. Bytes on the wire of one FlowerDetectionArray at 30 detections with uint8 (and float32) features,
   serialized by rclpy (CDR), compared with sending the image (raw sensor_msgs/Image and JPEG).
3. End-to-end frames/s of FrameDetector with the ONNX backend on CPU at the model's input size, over
   rendered frames (synchronous and pipelined).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Callable, Dict, List

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from mars_core.detections import DetectionFrame, Detections  # noqa: E402
from mars_camera.detector_config import CameraDetectorConfig  # noqa: E402
from mars_camera.detectors.base import LAYOUT_DECODED, LAYOUT_NMS_BY_CLASS, LAYOUT_RAW_HEADS  # noqa: E402
from mars_camera.detectors.base import FeatureMapInfo, ModelOutputs, QuantParams  # noqa: E402
from mars_core.feature_codec import FeatureEncoding  # noqa: E402
from mars_camera.frame_detector import FrameDetector  # noqa: E402
from mars_camera.frame_sources.base import Frame  # noqa: E402
from mars_camera.yolo.hailo_nms import encode_nms_by_class  # noqa: E402
from mars_camera.yolo.letterbox import input_tensor_from_letterboxed, letterbox  # noqa: E402


def _median_ms(fn: Callable[[], object], repeat: int) -> float:
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


class _SyntheticBackend:
    """Stands in for a 640x640 model: returns prepared outputs (no inference), to time the CPU stages."""

    name = "synthetic"
    input_size = (640, 640)
    num_classes = 1
    feature_info = FeatureMapInfo(channels=64, stride=8)

    def __init__(self, outputs: ModelOutputs) -> None:
        self.outputs = outputs

    def infer(self, img: np.ndarray) -> ModelOutputs:
        return self.outputs

    def describe(self) -> Dict[str, object]:
        return {"backend": self.name}

    def close(self) -> None:
        pass


def synthetic_outputs(n_objects: int = 50, seed: int = 0) -> Dict[str, ModelOutputs]:
    """640x640 outputs in the three layouts with n_objects flowers, each seen by a 3x3 cluster of anchors."""
    rng = np.random.default_rng(seed)
    strides, grids = [8, 16, 32], [80, 40, 20]
    anchors = sum(g * g for g in grids)
    # Objects on a jittered grid so that they do not overlap each other (50 survive NMS).
    cells = np.array([(i % 10, i // 10) for i in range(n_objects)], np.float32)
    centres = (cells + 0.5) * np.float32(64.0) + rng.uniform(-8, 8, (n_objects, 2)).astype(np.float32)
    sizes = rng.uniform(16, 40, (n_objects, 2)).astype(np.float32)
    pred = np.zeros((1, 5, anchors), np.float32)
    pred[0, 4] = rng.uniform(0.0, 0.05, anchors)        # background scores
    pred[0, 2:4] = 10.0
    box_maps, cls_maps = [], []
    for g in grids:
        box_maps.append(rng.normal(0, 1, (g, g, 64)).astype(np.float32))
        cls_maps.append(rng.uniform(-9, -4, (g, g, 1)).astype(np.float32))
    for k in range(n_objects):
        cx, cy = centres[k]
        gx, gy = int(cx // 8), int(cy // 8)
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                a = (gy + dy) * 80 + (gx + dx)
                if 0 <= gy + dy < 80 and 0 <= gx + dx < 80:
                    jitter = rng.normal(0, 1.5, 4)
                    pred[0, 0, a], pred[0, 1, a] = cx + jitter[0], cy + jitter[1]
                    pred[0, 2, a], pred[0, 3, a] = sizes[k, 0] + jitter[2], sizes[k, 1] + jitter[3]
                    pred[0, 4, a] = 0.9 - 0.1 * (abs(dx) + abs(dy)) - 0.01 * k / n_objects
                    cls_maps[0][gy + dy, gx + dx, 0] = 2.0 - abs(dx) - abs(dy)
                    # DFL logits peaked at this anchor's distances to the (jittered) object box sides.
                    ax, ay = (gx + dx + 0.5) * 8, (gy + dy + 0.5) * 8
                    bx, by = pred[0, 0, a], pred[0, 1, a]
                    bw, bh = pred[0, 2, a], pred[0, 3, a]
                    dist = np.array([ax - (bx - bw / 2), ay - (by - bh / 2), (bx + bw / 2) - ax,
                                     (by + bh / 2) - ay]) / 8.0
                    bins = np.arange(16, dtype=np.float32)
                    box_maps[0][gy + dy, gx + dx] = (-4.0 * (bins[None, :] - np.clip(dist, 0, 15)[:, None]) ** 2
                                                     ).reshape(64)
    feature_map = rng.normal(0, 1, (1, 64, 80, 80)).astype(np.float32)
    decoded = ModelOutputs(layout=LAYOUT_DECODED, decoded=pred, feature_map=feature_map, feature_channels_last=False)

    def q(x: np.ndarray) -> tuple:
        lo, hi = float(x.min()), float(x.max())
        s = (hi - lo) / 255
        zp = round(-lo / s)
        return np.clip(np.rint(x / s + zp), 0, 255).astype(np.uint8), QuantParams(s, zp)

    raw = ModelOutputs(layout=LAYOUT_RAW_HEADS, strides=strides, scores_are_logits=True,
                       feature_channels_last=True)
    for b, c in zip(box_maps, cls_maps):
        qb, pb = q(b)
        qc, pc = q(c)
        raw.box_maps.append(qb)
        raw.class_maps.append(qc)
        raw.box_quant.append(pb)
        raw.class_quant.append(pc)
    fq, fp = q(feature_map[0].transpose(1, 2, 0))
    raw.feature_map = fp.dequantize(fq)
    xyxy = np.concatenate([centres - sizes / 2, centres + sizes / 2], 1)
    nms = ModelOutputs(layout=LAYOUT_NMS_BY_CLASS, feature_map=raw.feature_map, feature_channels_last=True,
                       nms_by_class=encode_nms_by_class(xyxy, np.linspace(0.9, 0.5, n_objects), np.zeros(n_objects,
                                                        np.int32), 1, 640, 640))
    return {"onnx (decoded output)": decoded, "hailo raw heads (uint8)": raw, "hailo on-chip NMS": nms}


def message_fill(frame: DetectionFrame, encoding: FeatureEncoding) -> bytes:
    """FlowerDetectionArray as the node publishes it, serialized (CDR) like on the wire."""
    from rclpy.serialization import serialize_message
    from mars_ros.messages.detection_messages import detection_msg_rclpy
    return serialize_message(detection_msg_rclpy(frame, encoding))


def bench_stages(repeat: int) -> Dict[str, float]:
    """Part 1: per-stage CPU ms outside inference at 640x640 with 50 detections."""
    image = cv2.resize(np.random.default_rng(1).integers(0, 255, (216, 384, 3), dtype=np.uint8), (1536, 864))
    frame = Frame(image, 1, 0)
    results = {}
    for label, outputs in synthetic_outputs().items():
        cfg = CameraDetectorConfig(backend="onnx", input_width=640, input_height=640, feature_dim=64,
                                   model_id="bench", score_threshold=0.25, iou_threshold=0.5)
        det = FrameDetector(cfg, backend=_SyntheticBackend(outputs))  # type: ignore[arg-type]
        n = len(det.detect(frame).frame.detections)
        lb = _median_ms(lambda: letterbox(image, (640, 640)), repeat)
        boxed, transform = letterbox(image, (640, 640))
        if outputs.layout == LAYOUT_DECODED:  # ONNX Runtime needs a float NCHW tensor; Hailo takes the uint8 image
            lb += _median_ms(lambda: input_tensor_from_letterboxed(boxed), repeat)
        stage = {"decode": [], "nms": [], "features": []}
        for _ in range(repeat):
            _, d, s, f = det.postprocess_outputs(outputs, transform)
            stage["decode"].append(d)
            stage["nms"].append(s)
            stage["features"].append(f)
        dets = det.detect(frame).frame
        fill = _median_ms(lambda: message_fill(dets, FeatureEncoding.UINT8), repeat)
        med = {k: statistics.median(v) * 1e3 for k, v in stage.items()}
        total = lb + med["decode"] + med["nms"] + med["features"] + fill
        print(f"  {label:26s} dets={n:3d}  preprocess {lb:5.2f}  decode {med['decode']:5.2f}  nms {med['nms']:5.2f}  "
              f"features {med['features']:5.2f}  message {fill:5.2f}  = {total:5.2f} ms")
        results[label] = total
    return results


def onnx_inference_ms(model: str, repeat: int) -> float:
    """Median ONNX Runtime (CPU) inference time of one frame of the model."""
    cfg = CameraDetectorConfig(backend="onnx", model_path=model, model_id="bench")
    import onnxruntime as ort
    size = ort.InferenceSession(model, providers=["CPUExecutionProvider"]).get_inputs()[0].shape[2]
    cfg = CameraDetectorConfig(backend="onnx", model_path=model, model_id="bench", input_width=size,
                               input_height=size)
    det = FrameDetector(cfg)
    img, _ = letterbox(np.zeros((size, size, 3), np.uint8), (size, size))
    ms = _median_ms(lambda: det.backend.infer(img), repeat)
    det.close()
    return ms


def bench_wire() -> None:
    """Part 2: bytes per frame at 30 detections, quantized vs float features vs the image."""
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 1400, (30, 2)).astype(np.float32)
    feats = rng.normal(size=(30, 64)).astype(np.float32)
    feats /= np.linalg.norm(feats, axis=1, keepdims=True)
    dets = Detections(np.concatenate([xy, xy + 40], 1), rng.uniform(0.3, 1, 30), np.zeros(30), feats,
                      "flower_yolov8n-0123456789ab/roi1x1-s8-d64")
    frame = DetectionFrame("cam_left", 1, 0, 1536, 864, dets)
    u8 = len(message_fill(frame, FeatureEncoding.UINT8))
    f32 = len(message_fill(frame, FeatureEncoding.FLOAT32))
    image = _rendered_frames(1, (1536, 864))[0].image
    raw = image.nbytes
    ok, jpg = cv2.imencode(".jpg", image, [int(cv2.IMWRITE_JPEG_QUALITY), 90])
    print(f"  FlowerDetectionArray, 30 detections, uint8 features (64-d): {u8:7d} B")
    print(f"  FlowerDetectionArray, 30 detections, float32 features:      {f32:7d} B")
    print(f"  raw 1536x864 bgr8 image:                                   {raw:7d} B  ({raw / u8:.0f}x)")
    print(f"  JPEG q90 1536x864 rendered image:                          {len(jpg):7d} B  ({len(jpg) / u8:.0f}x)")


def _rendered_frames(n: int, size: tuple) -> List[Frame]:
    """Frames of the simulator's renderer when available (else the fake camera's scene)."""
    try:
        from mars_sim.presets import preset_config  # type: ignore
        from mars_sim.rendering import FrameRenderer
        from mars_sim.simulation import simulate
        result = simulate(preset_config("quick"), seed=0)
        renderer = FrameRenderer(result, scale=size[0] / result.rig.cameras[0].model.intrinsics.width)
        cam = result.rig.cameras[0].name
        count = len(result.cameras[cam].frames)
        return [Frame(renderer.render(cam, (k * 7) % count).image, k, k) for k in range(n)]
    except Exception:  # noqa: BLE001 - any simulator change: fall back to a simple scene
        sys.path.insert(0, str(REPO / "test" / "fakes"))
        from picamera2._fake_control import render_scene
        return [Frame(render_scene(size, k), k, k) for k in range(n)]


def bench_fps(model: str, frames: int) -> None:
    """Part 3: end-to-end FrameDetector fps with ONNX Runtime on CPU."""
    cfg = CameraDetectorConfig(backend="onnx", model_path=model)
    det = FrameDetector(cfg)
    clip = _rendered_frames(min(frames, 20), (1280, 960))
    seq = [clip[i % len(clip)] for i in range(frames)]
    det.detect(seq[0])
    t0 = time.perf_counter()
    n_det = sum(len(det.detect(f).frame.detections) for f in seq)
    sync = frames / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    list(det.run(seq, depth=2))
    piped = frames / (time.perf_counter() - t0)
    print(f"  {cfg.input_width}x{cfg.input_height} ONNX CPU, 1280x960 rendered frames: {sync:.1f} fps synchronous, "
          f"{piped:.1f} fps pipelined (depth 2); {n_det / frames:.1f} detections/frame")
    det.close()


def main() -> None:
    """Run the three parts and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=CameraDetectorConfig().resolved_model_path)
    parser.add_argument("--model640", default="", help="a 640x640 export of the model, for the fraction at 640")
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    print("1) CPU ms per frame outside inference, 640x640 input, 50 detections (median):")
    totals = bench_stages(args.repeat)
    inf = onnx_inference_ms(args.model, args.repeat)
    print(f"  ONNX Runtime CPU inference of {Path(args.model).name}: {inf:.1f} ms")
    if args.model640:
        inf640 = onnx_inference_ms(args.model640, max(5, args.repeat // 3))
        print(f"  ONNX Runtime CPU inference at 640x640 ({Path(args.model640).name}): {inf640:.1f} ms")
        for label, total in totals.items():
            print(f"    {label}: outside-inference CPU = {100 * total / inf640:.1f}% of the 640 inference")
    for label, total in totals.items():
        print(f"    {label}: outside-inference CPU = {100 * total / inf:.1f}% of the default model's inference")
    print("2) bytes on the wire per frame:")
    bench_wire()
    print("3) end-to-end:")
    bench_fps(args.model, args.frames)


if __name__ == "__main__":
    main()
