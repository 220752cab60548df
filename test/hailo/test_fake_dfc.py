"""The fake DFC behaves like the real one where our code depends on it (names, checks, files, failures)."""
from __future__ import annotations

import json
import tarfile
from pathlib import Path

import numpy as np
import pytest

from mars_hailo.onnx_layout import inspect_onnx

pytestmark = pytest.mark.hailo


def _parsed(fake_dfc: Path, onnx: Path, tmp: Path) -> Path:
    from hailo_sdk_client import ClientRunner

    lay = inspect_onnx(onnx)
    runner = ClientRunner(hw_arch="hailo8")
    hn, params = runner.translate_onnx_model(str(onnx), "net", start_node_names=["images"],
                                             end_node_names=lay.end_node_names(),
                                             net_input_shapes={"images": [1, 3, 64, 64]})
    assert json.loads(hn)["name"] == "net" and "weights_digest" in params
    har = tmp / "net.har"
    runner.save_har(str(har))
    return har


def test_parse_checks_node_names(fake_dfc: Path, v8_onnx: Path) -> None:
    from hailo_sdk_client import ClientRunner
    from hailo_sdk_client.model_translator.exceptions import MisspellNodeError

    with pytest.raises(MisspellNodeError, match="/model.22/cv9"):
        ClientRunner(hw_arch="hailo8").translate_onnx_model(str(v8_onnx), "net", start_node_names=["images"],
                                                           end_node_names=["/model.22/cv9.0/cv9.0.2/Conv"])


def test_har_round_trip_and_optimize_checks(fake_dfc: Path, v8_onnx: Path, tmp_path: Path) -> None:
    from hailo_sdk_client import ClientRunner, InvalidArgumentsException
    from hailo_sdk_client.sdk_backend.sdk_backend_exceptions import AllocatorScriptParserException

    har = _parsed(fake_dfc, v8_onnx, tmp_path)
    with tarfile.open(har) as tar:
        assert "net.hn" in tar.getnames()
    runner = ClientRunner(har=str(har))
    assert runner.state.value == "hailo_model"
    with pytest.raises(AllocatorScriptParserException, match="conv99"):
        runner.load_model_script("change_output_activation(conv99, sigmoid)\n")
    runner.load_model_script("model_optimization_config(calibration, batch_size=2, calibset_size=4)\n")
    with pytest.raises(InvalidArgumentsException, match="float32"):
        runner.optimize(np.zeros((4, 64, 64, 3), np.uint8))
    with pytest.raises(InvalidArgumentsException, match=r"\(N, 64, 64, 3\)"):
        runner.optimize(np.zeros((4, 3, 64, 64), np.float32))
    runner.optimize(np.zeros((4, 64, 64, 3), np.float32))
    with pytest.raises(InvalidArgumentsException, match="hailo8l"):
        ClientRunner(hw_arch="hailo8l", har=str(har))
    hef = runner.compile()
    assert isinstance(hef, bytes) and hef[:4] == b"\x01HEF"


def test_allocation_failure_above_a_resolution(fake_dfc: Path, v8_onnx: Path, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from hailo_sdk_client import ClientRunner
    from hailo_sdk_client.sdk_backend.sdk_backend_exceptions import BackendAllocatorException

    runner = ClientRunner(har=str(_parsed(fake_dfc, v8_onnx, tmp_path)))
    runner.optimize(np.zeros((2, 64, 64, 3), np.float32))
    monkeypatch.setenv("HAILO_FAKE_FAIL", "compile:alloc_above=32")
    with pytest.raises(BackendAllocatorException, match="No successful assignments"):
        runner.compile()
    monkeypatch.setenv("HAILO_FAKE_FAIL", "compile:alloc_above=64")
    assert runner.compile()[:4] == b"\x01HEF"


def test_parser_recommendation_reaches_the_stage_result(fake_dfc: Path, v8_onnx: Path, tmp_path: Path) -> None:
    from mars_hailo import stage_worker

    req = {"stage": "parse", "hw_arch": "hailo8", "artifact": str(tmp_path / "n.har"), "onnx": str(v8_onnx),
           "translate_kwargs": {"net_name": "n", "start_node_names": ["images"], "end_node_names": [],
                                "net_input_shapes": {"images": [1, 3, 64, 64]}}}
    (tmp_path / "req.json").write_text(json.dumps(req))
    assert stage_worker.main([str(tmp_path / "req.json"), str(tmp_path / "res.json")]) == 2
    res = json.loads((tmp_path / "res.json").read_text())
    assert res["error_type"] == "ParsingWithRecommendationException"
    assert res["recommended_end_node_names"][:2] == ["/model.22/cv2.0/cv2.0.2/Conv", "/model.22/cv3.0/cv3.0.2/Conv"]
    assert not (tmp_path / "n.har").exists()


def _compiled_hef(v8_onnx: Path, tmp: Path, nms: bool, hw: int) -> tuple[Path, dict[str, str]]:
    """parse -> model script (normalization, sigmoid on the class convs, NMS) -> optimize -> compile."""
    from hailo_sdk_client import ClientRunner

    lay = inspect_onnx(v8_onnx, "features")
    runner = ClientRunner(hw_arch="hailo8")
    runner.translate_onnx_model(str(v8_onnx), "net", start_node_names=["images"], end_node_names=lay.end_node_names(),
                                net_input_shapes={"images": [1, 3, hw, hw]})
    layers = {layer["original_names"][0]: name for name, layer in runner.get_hn_dict()["layers"].items()}
    script = ["normalization1 = normalization([0.0, 0.0, 0.0], [255.0, 255.0, 255.0])"]
    script += [f"change_output_activation({layers[s.cls_node].split('/')[1]}, sigmoid)" for s in lay.scales]
    if nms:
        cfg = tmp / "nms.json"
        cfg.write_text(json.dumps(lay.nms_config(0.05, 0.5, 10, layers, (hw, hw))))
        script.append(f'nms_postprocess("{cfg}", meta_arch=yolov8, engine=cpu)')
    runner.load_model_script("\n".join(script) + "\n")
    runner.optimize(np.random.default_rng(0).uniform(0, 255, (4, hw, hw, 3)).astype(np.float32))
    hef = tmp / f"net_{hw}_{int(nms)}.hef"
    hef.write_bytes(runner.compile())
    return hef, layers


@pytest.mark.parametrize("nms", [False, True])
def test_compiled_hef_runs_on_the_fake_hailort(fake_dfc: Path, v8_onnx: Path, tmp_path: Path, nms: bool) -> None:
    """The fake DFC's HEF (real header + payload) is what the fake HailoRT loads, describes and runs."""
    import onnxruntime as ort

    import hailo_platform
    from hailo_platform.pyhailort.pyhailort import HailoRTInvalidHEFException

    hef_path, layers = _compiled_hef(v8_onnx, tmp_path, nms, 64)
    lay = inspect_onnx(v8_onnx, "features")
    for hef in (hailo_platform.HEF(str(hef_path)), hailo_platform.HEF(hef_path.read_bytes())):
        assert hef.get_network_group_names() == ["net"]
        (inp,) = hef.get_input_vstream_infos()
        assert inp.name == "net/input_layer1" and tuple(inp.shape) == (64, 64, 3)
        outs = {o.name: o for o in hef.get_output_vstream_infos()}
        feature_layer = layers[lay.feature_node]
        heads = {layers[n] for s in lay.scales for n in (s.box_node, s.cls_node)}
        # The HN layer names are the vstream names; the NMS consumes the heads, the feature map stays an output.
        assert set(outs) == ({"net/yolov8_nms_postprocess", feature_layer} if nms else heads | {feature_layer})
        assert hef.get_original_names_from_vstream_name(feature_layer) == [lay.feature_node]
    image = np.random.default_rng(4).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    ref_sess = ort.InferenceSession(str(v8_onnx), providers=["CPUExecutionProvider"])
    ref = dict(zip([o.name for o in ref_sess.get_outputs()],
                   ref_sess.run(None, {"images": image.transpose(2, 0, 1)[None].astype(np.float32) / 255})))
    with hailo_platform.VDevice() as vdevice:
        model = vdevice.create_infer_model(str(hef_path))
        with model.configure() as configured:
            bindings = configured.create_bindings(output_buffers={
                n: np.empty(model.output(n).shape, np.float32 if model.output(n).is_nms else np.uint8)
                for n in model.output_names})
            bindings.input().set_buffer(image)
            configured.run([bindings], 5000)
            q = model.output(feature_layer).quant_infos[0]
            feats = (bindings.output(feature_layer).get_buffer().astype(np.float32) - q.qp_zp) * q.qp_scale
            nms_out = bindings.output("net/yolov8_nms_postprocess").get_buffer() if nms else None
    # The device computes the parsed ONNX (normalization /255 from the script), 8-bit quantized.
    assert np.abs(feats - ref["features"][0].transpose(1, 2, 0)).max() <= q.qp_scale
    if nms:
        boxes = nms_out[0] if isinstance(nms_out, list) else None
        assert boxes is not None and boxes.shape[1] == 5 and len(boxes) > 0
        assert (boxes[:, 4] > 0.05).all() and (boxes[:, :4] >= 0).all() and (boxes[:, :4] <= 1).all()
    # A corrupted HEF is refused like HailoRT does (MD5 of the payload in the header).
    data = bytearray(hef_path.read_bytes())
    data[-2] ^= 0xFF
    with pytest.raises(HailoRTInvalidHEFException):
        hailo_platform.HEF(bytes(data))


def test_compiled_hef_at_a_fallback_size_runs_at_that_size(fake_dfc: Path, v8_onnx: Path, tmp_path: Path) -> None:
    import hailo_platform

    hef_path, layers = _compiled_hef(v8_onnx, tmp_path, False, 32)
    hef = hailo_platform.HEF(str(hef_path))
    assert tuple(hef.get_input_vstream_infos()[0].shape) == (32, 32, 3)
    grids = sorted({tuple(o.shape[:2]) for o in hef.get_output_vstream_infos()}, reverse=True)
    assert grids == [(4, 4), (2, 2), (1, 1)]
    cls = [o for o in hef.get_output_vstream_infos() if o.name in {layers[s.cls_node] for s in
                                                                   inspect_onnx(v8_onnx).scales}]
    # change_output_activation(sigmoid) was compiled in: the class streams' quantized range lies in [0, 1].
    assert cls and all(o.quant_info.qp_scale * (255 - o.quant_info.qp_zp) <= 1.0 + 1e-6 for o in cls)
