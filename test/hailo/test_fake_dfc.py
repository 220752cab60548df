"""The fake DFC behaves like the real one where our code depends on it (names, checks, files, failures)."""
from __future__ import annotations

import json
import tarfile
from pathlib import Path

import numpy as np
import pytest

from mars_camera.hailo_compile.onnx_layout import inspect_onnx


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
    from mars_camera.hailo_compile import stage_worker

    req = {"stage": "parse", "hw_arch": "hailo8", "artifact": str(tmp_path / "n.har"), "onnx": str(v8_onnx),
           "translate_kwargs": {"net_name": "n", "start_node_names": ["images"], "end_node_names": [],
                                "net_input_shapes": {"images": [1, 3, 64, 64]}}}
    (tmp_path / "req.json").write_text(json.dumps(req))
    assert stage_worker.main([str(tmp_path / "req.json"), str(tmp_path / "res.json")]) == 2
    res = json.loads((tmp_path / "res.json").read_text())
    assert res["error_type"] == "ParsingWithRecommendationException"
    assert res["recommended_end_node_names"][:2] == ["/model.22/cv2.0/cv2.0.2/Conv", "/model.22/cv3.0/cv3.0.2/Conv"]
    assert not (tmp_path / "n.har").exists()
