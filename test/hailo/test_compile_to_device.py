"""Compile -> run on the (fake) device, as one flow on real project data.

The shipped default model and a bag rendered by the simulator go through `mars-hailo inspect` -> `calib` ->
`compile` (fake DFC: the HEF is HailoRT's header + the network it compiled) -> `validate` through the fake
HailoRT with the quantization drift; then the camera's Hailo backend loads that HEF and a FrameDetector on a
rendered image gives the ONNX backend's detections. With a resolution fallback the smaller HEF must be reported
against a camera expecting the original size, by validate and by the camera at start-up.
"""
from __future__ import annotations

import contextlib
import io
import json
import re
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pytest

from mars_hailo.cli import main

pytestmark = [pytest.mark.hailo, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_MODEL = ROOT / "models" / "detector" / "flower_yolov8n.onnx"
IMAGE_TOPIC = "/cam_center/image/compressed"


def _cli(*args: str) -> tuple[int, str]:
    """Run mars-hailo in-process; exit code and stdout."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(list(args))
    return code, out.getvalue()


@pytest.fixture(scope="module")
def sim_bag(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A short simulated pass with rendered images (half resolution, every 6th frame)."""
    from mars_sim import preset_config, simulate, write_run

    out = tmp_path_factory.mktemp("sim") / "run"
    config = preset_config("quick", {"duration_s": 4, "render": {"scale": 0.5, "image_every_n_frames": 6}})
    write_run(simulate(config, seed=3), out, images=True)
    return out / "bag"


@pytest.fixture(scope="module")
def calibrated(sim_bag: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """`inspect` and `calib` on the default model and the simulated bag."""
    if not DEFAULT_MODEL.is_file():
        pytest.fail(f"default model {DEFAULT_MODEL} is missing: see models/detector/README.md")
    code, out = _cli("inspect", str(DEFAULT_MODEL), "--json")
    assert code == 0
    info = json.loads(out)
    h, w = info["input_shape"][2:]
    calib_dir = tmp_path_factory.mktemp("calib")
    code, _ = _cli("calib", str(sim_bag), "-o", str(calib_dir), "--onnx", str(DEFAULT_MODEL), "--count", "12")
    assert code == 0
    return {"info": info, "hw": (h, w), "calib": calib_dir / f"calib_{h}x{w}.npy",
            "report": json.loads((calib_dir / "calib_report.json").read_text())}


@pytest.fixture
def device(fake_dfc: Path) -> Iterator[Any]:
    """The fake HailoRT (same fakes directory as the fake DFC), healthy HAILO8, reset afterwards."""
    from hailo_platform import _fake_control

    _fake_control.STATE.reset()
    yield _fake_control
    _fake_control.STATE.reset()


def _rendered_frame(bag: Path) -> Any:
    """A rendered image of the centre camera from the middle of the pass (flowers in view)."""
    from mars_camera.frame_sources.bag_source import BagImageFrameSource

    source = BagImageFrameSource(str(bag), IMAGE_TOPIC)
    source.open()
    frames = []
    try:
        while (frame := source.read()) is not None:
            frames.append(frame)
    finally:
        source.close()
    assert frames, f"no images on {IMAGE_TOPIC} in {bag}"
    return frames[len(frames) // 2]


def _hailo_backend(hef: Path, device: Any, **config: Any) -> Any:
    import hailo_platform

    from mars_camera.detector_config import CameraDetectorConfig
    from mars_camera.detectors.selection import create_backend

    cfg = CameraDetectorConfig(backend="hailo", hef_path=str(hef), **config)
    return cfg, create_backend(cfg, hailo_module=hailo_platform,
                               architecture_probe=device.identify_architecture).backend


def test_default_model_compiled_runs_on_the_device_like_onnx(calibrated: dict[str, Any], sim_bag: Path,
                                                             device: Any, tmp_path: Path) -> None:
    from mars_camera.detector_config import CameraDetectorConfig
    from mars_camera.frame_detector import FrameDetector
    from mars_hailo.hef_validation import read_hef_header
    from mars_camera.yolo.nms import box_iou

    info, (h, w), calib = calibrated["info"], calibrated["hw"], calibrated["calib"]
    assert info["feature_node"] is not None, "the default model must carry the `features` output"
    assert len(calibrated["report"]["selected_per_camera"]) == 3
    assert np.load(calib).shape == (12, h, w, 3)

    # On-chip NMS with the camera's IoU threshold, so that both paths suppress alike.
    cfg = tmp_path / "compile.yaml"
    cfg.write_text("nms:\n  enabled: true\n  iou_threshold: 0.5\n  score_threshold: 0.2\n"
                   "optimize:\n  calibset_size: 12\n")
    work = tmp_path / "work"
    code, out = _cli("compile", str(DEFAULT_MODEL), "--calib", str(calib), "--work-dir", str(work),
                     "--config", str(cfg))
    assert code == 0, out
    hef = work / "mars_yolo.hef"
    header = read_hef_header(hef)          # HailoRT's header, MD5 over the payload
    assert header.version == 0 and header.md5_ok

    # validate through HailoRT (the fake reads the compiled HEF itself) with the quantization drift.
    code, out = _cli("validate", str(hef), "--onnx", str(DEFAULT_MODEL), "--config", str(cfg), "--calib", str(calib),
                     "--drift-images", "6")
    assert code == 0, out
    assert "source: hailort" in out and "HEF read by HailoRT" in out
    assert f"input mars_yolo/input_layer1 {h}x{w}x3" in out and "NMS output mars_yolo/yolov8_nms_postprocess" in out
    assert "architecture hailo8" in out and "feature output" in out
    drift = dict((k, float(v)) for k, v in re.findall(r"(\w+)=([-\d.na]+)", out.split("quantization drift:")[1]))
    assert drift["images"] == 6
    assert drift["box_agreement"] > 0.8 and drift["feature_cosine"] > 0.98, out

    # The camera's Hailo backend loads the same HEF; detections on a rendered image match the ONNX backend's.
    frame = _rendered_frame(sim_bag)
    kw: dict[str, Any] = dict(score_threshold=0.25, iou_threshold=0.5, model_id="m")
    hailo_cfg, backend = _hailo_backend(hef, device, **kw)
    hailo = FrameDetector(hailo_cfg, backend=backend)
    cpu = FrameDetector(CameraDetectorConfig(backend="onnx", model_path=str(DEFAULT_MODEL), **kw))
    try:
        assert backend.layout == "nms_by_class" and backend.input_size == (w, h)
        assert backend.describe()["feature_output"] == "mars_yolo/" + next(
            n for n, o in _hn_layers(work).items() if o == info["feature_node"])
        a = hailo.detect(frame).frame.detections
        b = cpu.detect(frame).frame.detections
    finally:
        hailo.close()
        cpu.close()
    assert len(b) >= 3, "the rendered image should show flowers to the default model"
    assert abs(len(a) - len(b)) <= max(1, len(b) // 10)
    iou = box_iou(a.xyxy, b.xyxy)
    iou[a.class_ids[:, None] != b.class_ids[None, :]] = 0.0
    best = iou.argmax(axis=1)
    matched = iou.max(axis=1) > 0.8
    assert matched.mean() >= 0.9, (len(a), len(b), np.round(iou.max(axis=1), 3))
    assert np.abs(a.scores[matched] - b.scores[best[matched]]).max() < 0.06
    fa, fb = a.features[matched], b.features[best[matched]]
    cos = (fa * fb).sum(1) / (np.linalg.norm(fa, axis=1) * np.linalg.norm(fb, axis=1))
    assert cos.min() > 0.95
    assert device.STATE.open_vdevices == 0 and device.STATE.frames_run >= 7  # 6 drift images + 1 camera frame


def _hn_layers(work: Path) -> dict[str, str]:
    """Short HN layer name -> ONNX end node, from the parse record of the final resolution."""
    state = json.loads((work / "state.json").read_text())
    rung = state["resolutions"][state["final"]["resolution"]]
    return {v.split("/", 1)[1]: k for k, v in rung["layer_map"].items()}


def test_resolution_fallback_is_reported_against_the_original_size(calibrated: dict[str, Any], sim_bag: Path,
                                                                   device: Any, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from mars_camera.detectors import ModelMismatchError
    from mars_camera.frame_detector import FrameDetector

    (h, w), calib = calibrated["hw"], calibrated["calib"]
    cfg = tmp_path / "compile.yaml"
    cfg.write_text("resolution_ladder: [1.0, 0.8]\nnms:\n  enabled: false\noptimize:\n  calibset_size: 12\n")
    work = tmp_path / "work"
    monkeypatch.setenv("HAILO_FAKE_FAIL", f"compile:alloc_above={h - 1}")   # the full size does not fit the chip
    code, out = _cli("compile", str(DEFAULT_MODEL), "--calib", str(calib), "--work-dir", str(work),
                     "--config", str(cfg))
    assert code == 0, out
    sh, sw = int(h * 0.8) // 32 * 32, int(w * 0.8) // 32 * 32
    assert f"(input {sh}x{sw})" in out
    hef = work / "mars_yolo.hef"

    # The HEF alone: HailoRT reports the compiled (smaller) input and validate checks the heads at that size.
    code, out = _cli("validate", str(hef), "--onnx", str(DEFAULT_MODEL), "--config", str(cfg))
    assert code == 0, out
    assert f"input mars_yolo/input_layer1 {sh}x{sw}x3" in out and "box output stride 32" in out
    # Against a camera configured for the ONNX's size: a clear problem naming both sizes.
    code, out = _cli("validate", str(hef), "--onnx", str(DEFAULT_MODEL), "--config", str(cfg), "--imgsz", str(h),
                     str(w), "--calib", str(calib))
    assert code == 1
    assert (f"PROBLEM: input mars_yolo/input_layer1 shape [{sh}, {sw}, 3], expected [{h}, {w}, 3] (HWC): the HEF "
            f"was compiled at {sh}x{sw} instead of the ONNX's {h}x{w} (resolution fallback); configure the camera "
            f"with input_width={sw} input_height={sh}") in out, out
    assert "quantization drift:" not in out

    # The camera refuses it at start-up with the setting to change ...
    with pytest.raises(ModelMismatchError, match=rf"are {w}x{h} but HEF .* takes {sw}x{sh}: set "
                                                  rf"input_width={sw} input_height={sh}"):
        _hailo_backend(hef, device)
    assert device.STATE.open_vdevices == 0
    # ... and runs it when configured for the compiled size: raw heads at the fallback grid, with features.
    hailo_cfg, backend = _hailo_backend(hef, device, input_width=sw, input_height=sh, score_threshold=0.25)
    det = FrameDetector(hailo_cfg, backend=backend)
    try:
        assert backend.layout == "raw_heads"
        assert [hd["stride"] for hd in backend.describe()["heads"]] == [8, 16, 32]
        out_maps = backend.infer(np.zeros((sh, sw, 3), np.uint8))
        assert out_maps.box_maps[0].shape == (sh // 8, sw // 8, 64) and out_maps.feature_map.shape[:2] == (sh // 8,
                                                                                                       sw // 8)
        detections = det.detect(_rendered_frame(sim_bag)).frame.detections
        assert len(detections) > 0 and detections.features is not None
    finally:
        det.close()
