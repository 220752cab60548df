"""Hailo backend against the fake hailo_platform (real class names, layouts, quantization, errors)."""
from __future__ import annotations

import sys

import numpy as np
import pytest

import hailo_platform
from mars_camera.detector_config import CameraDetectorConfig
from mars_camera.detectors import (BackendUnavailableError, DetectorError, InferenceTimeoutError,
                                   ModelMismatchError, create_backend)
from mars_camera.detectors.hailo_backend import HailoDetectorBackend, SharedVDevice
from mars_camera.frame_detector import FrameDetector
from mars_camera.frame_sources.base import Frame
from mars_camera.yolo.letterbox import letterbox

pytestmark = pytest.mark.hailo


@pytest.fixture
def hefs(tmp_path, model_path, fake_hailo):
    raw = fake_hailo.write_fake_hef(str(tmp_path / "raw.hef"), model_path)
    nms = fake_hailo.write_fake_hef(str(tmp_path / "nms.hef"), model_path, nms_on_chip=True,
                                    nms_score_threshold=0.01, nms_iou_threshold=0.5)
    l_raw = fake_hailo.write_fake_hef(str(tmp_path / "raw8l.hef"), model_path, hw_arch="hailo8l")
    return {"raw": raw, "nms": nms, "raw8l": l_raw}


def _hailo(cfg, fake_hailo, **kw):
    return create_backend(cfg, hailo_module=hailo_platform, architecture_probe=fake_hailo.identify_architecture,
                          **kw).backend


def _image(seed=0):
    return np.random.default_rng(seed).integers(0, 255, (480, 640, 3), dtype=np.uint8)


def test_raw_heads_are_uint8_and_decode_like_the_onnx_model(hefs, fake_hailo, model_path):
    cfg = CameraDetectorConfig(backend="hailo", hef_path=hefs["raw"], score_threshold=0.0)
    backend = _hailo(cfg, fake_hailo)
    try:
        assert backend.layout == "raw_heads" and [h["stride"] for h in backend.describe()["heads"]] == [8, 16, 32]
        model_input, _ = letterbox(_image(), (320, 320))
        out = backend.infer(model_input)
        assert all(m.dtype == np.uint8 for m in out.box_maps + out.class_maps)
        assert out.box_maps[0].shape == (40, 40, 64) and out.feature_map.shape == (40, 40, 64)
        onnx_det = FrameDetector(CameraDetectorConfig(backend="onnx", model_path=model_path, score_threshold=0.0,
                                                      model_id="m"))
        ref = onnx_det.backend.infer(model_input)
        from mars_camera.yolo.decoding import decode_decoded_output, decode_raw_heads
        stock = decode_decoded_output(ref.decoded, score_threshold=-1.0)   # every anchor
        raw = decode_raw_heads(out.box_maps, out.class_maps, out.strides, out.scores_are_logits, -1.0,
                               box_quant=[(q.scale, q.zero_point) for q in out.box_quant],
                               class_quant=[(q.scale, q.zero_point) for q in out.class_quant])
        # 8-bit quantization: boxes within a few input pixels, scores within a few quantization steps.
        assert np.median(np.abs(raw.xyxy - stock.xyxy)) < 1.0
        assert np.abs(raw.class_scores - stock.class_scores).max() < 4 * out.class_quant[0].scale
        fmap_ref = ref.feature_map[0].transpose(1, 2, 0)
        assert np.abs(out.feature_map - fmap_ref).max() < 0.6 * (fmap_ref.max() - fmap_ref.min()) / 255 * 2
        onnx_det.close()
    finally:
        backend.close()


def test_on_chip_nms_gives_the_same_detections_as_cpu_nms(hefs, fake_hailo, model_path, rendered_images):
    kw = dict(score_threshold=0.01, iou_threshold=0.5, feature_dim=16, model_id="m")
    hailo = FrameDetector(CameraDetectorConfig(backend="hailo", hef_path=hefs["nms"], **kw),
                          backend=_hailo(CameraDetectorConfig(backend="hailo", hef_path=hefs["nms"], **kw), fake_hailo))
    cpu = FrameDetector(CameraDetectorConfig(backend="onnx", model_path=model_path, **kw))
    try:
        assert hailo.backend.layout == "nms_by_class"
        a = hailo.detect(Frame(rendered_images[0], 7, 3)).frame.detections
        b = cpu.detect(Frame(rendered_images[0], 7, 3)).frame.detections
        assert len(a) == len(b) > 0
        from mars_camera.yolo.nms import box_iou
        iou = box_iou(a.xyxy, b.xyxy)
        assert (iou.max(axis=1) > 0.99).all()          # same boxes, in original-image pixels
        assert a.features is not None and a.features.shape == (len(a), 16)
    finally:
        hailo.close()
        cpu.close()


def test_one_vdevice_is_shared_and_released_with_the_last_model(hefs, fake_hailo):
    cfg_raw = CameraDetectorConfig(backend="hailo", hef_path=hefs["raw"])
    cfg_nms = CameraDetectorConfig(backend="hailo", hef_path=hefs["nms"])
    a = _hailo(cfg_raw, fake_hailo)
    b = _hailo(cfg_nms, fake_hailo)
    img, _ = letterbox(_image(), (320, 320))
    for _ in range(3):
        a.infer(img)
        b.infer(img)
    assert fake_hailo.STATE.vdevice_opens == 1 and SharedVDevice.users() == 2
    a.close()
    assert fake_hailo.STATE.open_vdevices == 1
    b.close()
    b.close()  # idempotent
    assert fake_hailo.STATE.open_vdevices == 0 and fake_hailo.STATE.vdevice_releases == 1


def test_frames_overlap_and_stay_in_order(hefs, fake_hailo):
    cfg = CameraDetectorConfig(backend="hailo", hef_path=hefs["raw"], score_threshold=0.01)
    det = FrameDetector(cfg, backend=_hailo(cfg, fake_hailo))
    try:
        frames = [Frame(_image(i), 100 + i, i) for i in range(5)]
        results = list(det.run(frames, depth=3))
        assert [r.frame.frame_number for r in results] == [0, 1, 2, 3, 4]
        assert [r.frame.stamp_ns for r in results] == [100, 101, 102, 103, 104]
    finally:
        det.close()


def test_timeouts_and_device_errors_surface_and_the_backend_recovers(hefs, fake_hailo):
    cfg = CameraDetectorConfig(backend="hailo", hef_path=hefs["raw"], hailo_timeout_ms=300)
    backend = _hailo(cfg, fake_hailo)
    img, _ = letterbox(_image(), (320, 320))
    try:
        fake_hailo.STATE.inference_delay_s = 0.8
        with pytest.raises(InferenceTimeoutError, match="hailo_timeout_ms=300") as info:
            backend.infer(img)
        from hailo_platform.pyhailort.pyhailort import HailoRTTimeout
        assert isinstance(info.value.__cause__, HailoRTTimeout)  # HailoRT's own exception, wrapped
        fake_hailo.STATE.inference_delay_s = 0.0
        fake_hailo.STATE.ready_timeouts = 1
        with pytest.raises(InferenceTimeoutError, match="not ready"):
            backend.submit(img)
        import time
        time.sleep(0.8)  # let the slow frame drain
        fake_hailo.STATE.fail_next_inferences = 1
        with pytest.raises(DetectorError, match="HAILO_STREAM_ABORT"):
            backend.infer(img)
        assert backend.infer(img).box_maps[0].shape == (40, 40, 64)   # next frame fine
    finally:
        backend.close()


def test_pipeline_reports_a_failed_frame_and_continues(hefs, fake_hailo):
    cfg = CameraDetectorConfig(backend="hailo", hef_path=hefs["raw"], score_threshold=0.01)
    det = FrameDetector(cfg, backend=_hailo(cfg, fake_hailo))
    errors = []
    try:
        fake_hailo.STATE.fail_next_inferences = 1
        frames = [Frame(_image(i), i, i) for i in range(3)]
        results = list(det.run(frames, depth=2, on_error=lambda f, e: errors.append((f.frame_number, str(e)))))
        assert [r.frame.frame_number for r in results] == [1, 2]
        assert errors and errors[0][0] == 0 and "HAILO_STREAM_ABORT" in errors[0][1]
        fake_hailo.STATE.fail_next_inferences = 1
        with pytest.raises(DetectorError):
            list(det.run(frames[:1]))
    finally:
        det.close()


def test_architecture_mismatch_is_a_clear_start_up_error(hefs, fake_hailo):
    # The configuration expects hailo8l but the device is a hailo8.
    with pytest.raises(ModelMismatchError, match="hailo_arch is 'hailo8l'.*reports 'hailo8'"):
        _hailo(CameraDetectorConfig(backend="hailo", hef_path=hefs["raw8l"], hailo_arch="hailo8l"), fake_hailo)
    # Architecture unknown to us (no hailortcli): HailoRT refuses the HEF at configure time.
    with pytest.raises(ModelMismatchError, match="another Hailo architecture"):
        create_backend(CameraDetectorConfig(backend="hailo", hef_path=hefs["raw8l"]), hailo_module=hailo_platform,
                       architecture_probe=lambda: None)
    assert fake_hailo.STATE.open_vdevices == 0  # nothing leaked


def test_input_size_and_feature_output_are_checked_against_the_hef(hefs, fake_hailo, tmp_path):
    with pytest.raises(ModelMismatchError, match="HEF .* takes 320x320"):
        _hailo(CameraDetectorConfig(backend="hailo", hef_path=hefs["raw"], input_width=640, input_height=640),
               fake_hailo)
    with pytest.raises(ModelMismatchError, match="feature_output 'neck'.*conv40"):
        _hailo(CameraDetectorConfig(backend="hailo", hef_path=hefs["raw"], feature_output="neck"), fake_hailo)
    bad = tmp_path / "bad.hef"
    bad.write_bytes(b"\x00garbage")
    with pytest.raises(ModelMismatchError, match="not a valid HEF"):
        _hailo(CameraDetectorConfig(backend="hailo", hef_path=str(bad)), fake_hailo)
    no_features = fake_hailo.write_fake_hef(str(tmp_path / "nofeat.hef"), CameraDetectorConfig().resolved_model_path,
                                            feature_output="")
    backend = _hailo(CameraDetectorConfig(backend="hailo", hef_path=no_features, feature_output=""), fake_hailo)
    assert backend.feature_info is None
    backend.close()


def test_explicit_hailo_without_hailort_is_refused(monkeypatch, tmp_path):
    hef = tmp_path / "m.hef"
    hef.write_text("x")
    monkeypatch.setitem(sys.modules, "hailo_platform", None)
    with pytest.raises(BackendUnavailableError, match="hailo_platform"):
        create_backend(CameraDetectorConfig(backend="hailo", hef_path=str(hef)))
    with pytest.raises(BackendUnavailableError, match="hailo_platform"):
        HailoDetectorBackend(str(hef), (320, 320))


def test_auto_picks_hailo_when_device_and_hef_exist(hefs, fake_hailo, caplog):
    cfg = CameraDetectorConfig(backend="auto", hef_path=hefs["raw"])
    with caplog.at_level("INFO"):
        choice = create_backend(cfg, device_present=lambda: True, architecture_probe=fake_hailo.identify_architecture)
    try:
        assert choice.backend.name == "hailo" and "Hailo device present" in choice.reason
        assert "detector backend: hailo" in caplog.text
    finally:
        choice.backend.close()
    choice = create_backend(cfg, device_present=lambda: False)
    assert choice.backend.name == "onnx" and "no Hailo device" in choice.reason
    choice.backend.close()


def test_raw_heads_with_logit_class_outputs(hefs, fake_hailo, model_path, tmp_path):
    """A HEF compiled without the on-chip sigmoid: scores_are_logits is honoured (hailo_scores_activated=False)."""
    logits = fake_hailo.write_fake_hef(str(tmp_path / "logits.hef"), model_path, class_sigmoid_on_chip=False)
    img, _ = letterbox(_image(2), (320, 320))
    from mars_camera.yolo.decoding import decode_raw_heads
    scores = {}
    for name, hef, activated in (("sigmoid", hefs["raw"], True), ("logits", logits, False)):
        backend = _hailo(CameraDetectorConfig(backend="hailo", hef_path=hef, hailo_scores_activated=activated),
                         fake_hailo)
        out = backend.infer(img)
        assert out.scores_are_logits is (not activated)
        scores[name] = decode_raw_heads(out.box_maps, out.class_maps, out.strides, out.scores_are_logits, -1.0,
                                        box_quant=[(q.scale, q.zero_point) for q in out.box_quant],
                                        class_quant=[(q.scale, q.zero_point) for q in out.class_quant]).class_scores
        backend.close()
    assert np.abs(scores["sigmoid"] - scores["logits"]).max() < 0.02


def test_chip_temperature_is_reported_while_the_device_is_open(hefs, fake_hailo):
    cfg = CameraDetectorConfig(backend="hailo", hef_path=hefs["raw"])
    backend = _hailo(cfg, fake_hailo)
    try:
        fake_hailo.STATE.chip_temperature_c = 61.0
        assert backend.describe()["temperature_c"] == pytest.approx(61.0)
    finally:
        backend.close()
    assert SharedVDevice.chip_temperature_c() is None   # released: nothing to ask
