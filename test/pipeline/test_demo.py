"""The README's main command (`make demo` = mars-demo) end to end, on a short drive."""
from __future__ import annotations

import json

import pytest

from mars_pipeline.demo import main as mars_demo

pytestmark = pytest.mark.slow


def test_demo_simulates_counts_from_images_and_scores(tmp_path, capsys):
    out = tmp_path / "demo"
    assert mars_demo(["--out", str(out), "--seconds", "3", "--seed", "2"]) == 0
    printed = capsys.readouterr().out
    assert "Flowers counted:" in printed and "loc error median" in printed
    assert "tracking scored on the" in printed and "camera frames that had an image" in printed
    assert not printed.startswith("\n") and "{" not in printed  # no raw dicts (per camera {...})
    summary = json.loads((out / "result" / "summary.json").read_text())
    assert sorted(summary["from_images"]) == ["cam_center", "cam_left", "cam_right"]   # the detector ran
    assert summary["detector"].startswith("backend=auto chose onnx")
    assert summary["frames_total"] > 0 and (out / "result" / "map.png").is_file()
