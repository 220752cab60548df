"""`mars-hailo` end to end: inspect -> calib (simulated bag) -> compile --dry-run -> compile -> validate."""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

from mars_hailo.cli import main

pytestmark = pytest.mark.hailo

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_MODELS = sorted((ROOT / "models" / "detector").glob("*.onnx"))


def _flow(onnx: Path, bag: Path, tmp: Path, capsys: pytest.CaptureFixture[str]) -> dict:
    assert main(["inspect", str(onnx), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert len(info["end_node_names"]) == 7 and info["feature_node"] is not None
    h, w = info["input_shape"][2:]
    assert main(["calib", str(bag), "-o", str(tmp / "calib"), "--onnx", str(onnx), "--count", "6"]) == 0
    capsys.readouterr()
    calib = tmp / "calib" / f"calib_{h}x{w}.npy"
    assert np.load(calib).shape == (6, h, w, 3)
    cfg = tmp / "compile.yaml"
    cfg.write_text("resolution_ladder: [1.0, 0.5]\noptimize:\n  calibset_size: 6\n")
    args = ["compile", str(onnx), "--calib", str(calib), "--work-dir", str(tmp / "work"), "--config", str(cfg)]
    assert main(args + ["--dry-run"]) == 0
    plan = capsys.readouterr().out
    assert "parse    RUN" in plan and not (tmp / "work").exists()
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "HEF:" in out
    hef = tmp / "work" / "mars_yolo.hef"
    assert main(["validate", str(hef), "--onnx", str(onnx), "--config", str(cfg), "--no-hailort"]) == 0
    assert "OK" in capsys.readouterr().out
    assert main(["validate", str(hef), "--no-hailort", "--hw-arch", "hailo8l"]) == 1
    assert "does not run on a hailo8l" in capsys.readouterr().out
    return info


@pytest.mark.slow
def test_cli_flow_on_a_yolov8_export(fake_dfc: Path, v8_onnx: Path, camera_bag: Callable[..., Path],
                                     tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    info = _flow(v8_onnx, camera_bag(frames=4, duplicates=1), tmp_path, capsys)
    assert info["family"] == "yolov8"


@pytest.mark.slow
@pytest.mark.skipif(not DEFAULT_MODELS, reason="the default detector model is not built yet")
def test_cli_flow_on_the_default_model(fake_dfc: Path, camera_bag: Callable[..., Path], tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    onnx = tmp_path / DEFAULT_MODELS[0].name
    shutil.copy(DEFAULT_MODELS[0], onnx)
    if main(["inspect", str(onnx), "--json"]) == 0 and json.loads(capsys.readouterr().out)["feature_node"] is None:
        h = 320
        assert main(["export", str(DEFAULT_MODELS[0]), "-o", str(onnx), "--imgsz", str(h), str(h)]) == 0
        capsys.readouterr()
    info = _flow(onnx, camera_bag(frames=4, duplicates=1), tmp_path, capsys)
    assert info["family"] in ("yolov8", "yolo11") and info["feature_stride"] == 8


def test_cli_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["inspect", str(tmp_path / "missing.onnx")]) == 2
    assert "missing.onnx does not exist" in capsys.readouterr().err
    bad = tmp_path / "bad.yaml"
    bad.write_text("optimize:\n  batch_sise: 4\n")
    assert main(["compile", str(tmp_path / "m.onnx"), "--work-dir", str(tmp_path), "--config", str(bad)]) == 2
    assert "batch_sise" in capsys.readouterr().err


def test_validate_reports_quantization_drift_with_hailort(fake_dfc: Path, v8_onnx: Path, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    import sys

    sys.modules.pop("hailo_platform", None)
    fc = pytest.importorskip("hailo_platform._fake_control")
    fc.STATE.reset()
    hef = tmp_path / "m.hef"
    fc.write_fake_hef(str(hef), str(v8_onnx), nms_on_chip=False)
    calib = tmp_path / "c.npy"
    np.save(calib, np.random.default_rng(1).integers(0, 256, (4, 64, 64, 3), dtype=np.uint8))
    assert main(["validate", str(hef), "--onnx", str(v8_onnx), "--no-nms", "--calib", str(calib),
                 "--drift-images", "4"]) == 0
    out = capsys.readouterr().out
    assert "source: hailort" in out and "quantization drift: images=4.0000, box_agreement=" in out
    assert "not checked: architecture" in out


def test_inspect_names_a_directory_and_an_empty_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "models"
    folder.mkdir()
    empty = tmp_path / "empty.onnx"
    empty.write_bytes(b"")
    assert main(["inspect", str(folder)]) == 2
    assert f"{folder} is a directory" in capsys.readouterr().err
    assert main(["inspect", str(empty)]) == 2
    err = capsys.readouterr().err
    assert "is empty (0 bytes), not an ONNX model" in err and "found []" not in err
    assert main(["validate", str(empty), "--no-hailort"]) == 2
    assert "is empty (0 bytes), not a Hailo HEF" in capsys.readouterr().err


def _without_the_fake_dfc(monkeypatch: pytest.MonkeyPatch) -> None:
    """Hide the fake DFC that earlier tests imported (sys.modules, sys.path); skip if a real one is installed."""
    import importlib.util
    import sys

    for name in [m for m in sys.modules if m.startswith("hailo_sdk_client")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if Path(p or ".").resolve() != ROOT / "test" / "fakes"])
    if importlib.util.find_spec("hailo_sdk_client") is not None:
        pytest.skip("a Hailo Dataflow Compiler is installed here")


def test_compile_says_when_the_dfc_is_missing(v8_onnx: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    _without_the_fake_dfc(monkeypatch)
    calib = tmp_path / "calib.npy"
    np.save(calib, np.zeros((2, 64, 64, 3), np.uint8))
    args = ["compile", str(v8_onnx), "--calib", str(calib), "--work-dir", str(tmp_path / "work")]
    assert main(args + ["--dry-run"]) == 0
    assert "Dataflow Compiler: MISSING: the Hailo Dataflow Compiler (Python package hailo_sdk_client) is not " \
           "installed" in capsys.readouterr().out
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "hailo_sdk_client) is not installed" in err and "Traceback" not in err
    assert not (tmp_path / "work" / "64x64").exists()      # refused before any stage ran


def test_compile_says_what_calibration_it_needs(fake_dfc: Path, v8_onnx: Path, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    work = tmp_path / "work"
    base = ["compile", str(v8_onnx), "--work-dir", str(work)]
    assert main(base + ["--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "Dataflow Compiler: " + str(fake_dfc) in out and "calibration: MISSING: compile needs a calibration" in out
    assert main(base) == 2
    err = capsys.readouterr().err
    assert "None" not in err and "mars-hailo calib" in err and "--calib CALIB_DIR/calib_HxW.npy" in err
    folder = tmp_path / "calib"
    folder.mkdir()
    np.save(folder / "calib_64x64.npy", np.zeros((2, 64, 64, 3), np.uint8))
    assert main(base + ["--calib", str(folder)]) == 2
    assert "is a directory: pass the .npy file inside it (calib_64x64.npy)" in capsys.readouterr().err
    flat = tmp_path / "flat.npy"
    np.save(flat, np.zeros((4, 10), np.float32))
    assert main(base + ["--calib", str(flat)]) == 2
    assert "has shape (4, 10), expected (N, H, W, 3)" in capsys.readouterr().err
    assert not (work / "64x64").exists()                    # every one refused before parse


def test_a_lasting_stage_failure_is_one_paragraph_without_a_rerun_hint(
        fake_dfc: Path, v8_onnx: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    calib = tmp_path / "calib.npy"
    np.save(calib, np.zeros((2, 64, 64, 3), np.uint8))
    work = tmp_path / "work"
    monkeypatch.setenv("HAILO_FAKE_FAIL", "parse:error")
    assert main(["compile", str(v8_onnx), "--calib", str(calib), "--work-dir", str(work)]) == 2
    err = capsys.readouterr().err
    log = work / "64x64" / "stage_parse.log"
    assert "Traceback" not in err and "rerun the same command" not in err
    message = err.strip().splitlines()[-1]
    assert message.startswith("mars-hailo compile: error: stage parse at 64x64 failed: UnsupportedModelError: "
                              "fake DFC: parse rejects this model")
    assert f"Full traceback in {log}" in message
    assert "Traceback (most recent call last)" in log.read_text()


def test_a_killed_stage_suggests_the_rerun(fake_dfc: Path, v8_onnx: Path, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    calib = tmp_path / "calib.npy"
    np.save(calib, np.zeros((2, 64, 64, 3), np.uint8))
    monkeypatch.setenv("HAILO_FAKE_FAIL", "parse:crash")
    # Its own exit status (EX_TEMPFAIL): the machine failed, a rerun resumes (a Slurm job script requeues on it)
    assert main(["compile", str(v8_onnx), "--calib", str(calib), "--work-dir", str(tmp_path / "work")]) == 75
    err = capsys.readouterr().err
    assert "stage parse at 64x64 crashed" in err and "rerun the same command to resume at parse" in err
