"""The issue's acceptance flow on real project data: the default ONNX model and a bag from the simulator
(`mars-sim --images`): inspect -> calib -> compile --dry-run -> compile (fake DFC, with a resolution
fallback) -> validate against the HEF description."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mars_hailo.cli import main

pytestmark = [pytest.mark.hailo, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_MODELS = sorted((ROOT / "models" / "detector").glob("*.onnx"))


@pytest.mark.skipif(not DEFAULT_MODELS, reason="the default detector model is not built yet")
def test_default_model_from_simulated_bag_to_validated_hef(fake_dfc: Path, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    sim = pytest.importorskip("mars_sim.cli")
    assert sim.main(["--preset", "quick", "--seed", "1", "--out", str(tmp_path / "run"), "--images",
                     "--image-every", "15", "--render-scale", "0.1"]) == 0
    bag = tmp_path / "run" / "bag"
    onnx = DEFAULT_MODELS[0]
    capsys.readouterr()

    assert main(["inspect", str(onnx), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["feature_node"] is not None, "the default model must carry the `features` output"
    h, w = info["input_shape"][2:]

    assert main(["calib", str(bag), "-o", str(tmp_path / "calib"), "--onnx", str(onnx), "--count", "12"]) == 0
    capsys.readouterr()
    report = json.loads((tmp_path / "calib" / "calib_report.json").read_text())
    assert len(report["selected_per_camera"]) == 3  # the rig's three cameras, balanced
    assert max(report["selected_per_camera"].values()) - min(report["selected_per_camera"].values()) <= 1
    assert np.load(tmp_path / "calib" / f"calib_{h}x{w}.npy").shape == (12, h, w, 3)

    cfg = tmp_path / "compile.yaml"
    cfg.write_text("resolution_ladder: [1.0, 0.8]\noptimize:\n  calibset_size: 12\n")
    args = ["compile", str(onnx), "--calib", str(tmp_path / "calib" / f"calib_{h}x{w}.npy"),
            "--work-dir", str(tmp_path / "work"), "--config", str(cfg)]
    assert main(args + ["--dry-run"]) == 0
    assert "end_node_names=['/model.22/cv2.0/cv2.0.2/Conv'" in capsys.readouterr().out
    # The full size does not fit the (fake) chip: compile steps down the ladder.
    monkeypatch.setenv("HAILO_FAKE_FAIL", f"compile:alloc_above={h - 1}")
    assert main(args) == 0
    capsys.readouterr()
    state = json.loads((tmp_path / "work" / "state.json").read_text())
    small = (int(h * 0.8) // 32 * 32, int(w * 0.8) // 32 * 32)
    assert [a["outcome"] for a in state["attempts"]] == ["resource", "done"]
    assert state["final"]["resolution"] == f"{small[0]}x{small[1]}"

    hef = tmp_path / "work" / "mars_yolo.hef"
    assert main(["validate", str(hef), "--onnx", str(onnx), "--config", str(cfg), "--no-hailort"]) == 0
    out = capsys.readouterr().out
    assert "OK" in out and f"input mars_yolo/input_layer1 {small[0]}x{small[1]}x3" in out
