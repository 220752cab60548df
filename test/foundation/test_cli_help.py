"""Every command-line tool's --help: defaults shown, no reStructuredText markup, no leading blank line."""
from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path
from typing import Dict, List

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Tool -> (module, arguments before --help, texts its help must show).
HELP_EXPECTATIONS: Dict[str, tuple] = {
    "mars-sim": ("mars_sim.cli", [], ["random seed (same config + seed = same output) (default: 0)",
                                      "(default: the config's duration_s, else the whole drive)",
                                      "(default: mcap)", "(default: float32)", "(default: 300)"]),
    "mars-count": ("mars_pipeline.count_cli", [], ["(default: one per CPU,"]),
    "mars-tune": ("mars_pipeline.tune_cli", [], ["(default: 180.0)", "(default: 60)", "(default: 0)"]),
    "mars-track-mot": ("mars_tracker.mot_cli", [], ["(default: 30.0)", "(default: hand_tuned)", "(default: 0)"]),
    "mars-hailo compile": ("mars_hailo.cli", ["compile"], ["(default: the config's hw_arch)",
                                                           "needed to compile"]),
    "mars-hailo export": ("mars_hailo.cli", ["export"], ["(default: [640, 640])", "(default: 17)"]),
    "mars-hailo calib": ("mars_hailo.cli", ["calib"], ["(default: 1024)"]),
    "mars-hailo validate": ("mars_hailo.cli", ["validate"], ["(default: 16)"]),
    "mars-detect": ("mars_camera.detect_offline", [], ["(default: 10.0)", "(default: mcap)", "(default: 0)"]),
}


def _help_text(module: str, args: List[str]) -> str:
    done = subprocess.run([sys.executable, "-m", module, *args, "--help"], capture_output=True, text=True,
                          cwd=ROOT, env={"PYTHONPATH": str(ROOT), "COLUMNS": "200", "PATH": "/usr/bin:/bin"},
                          timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize("tool", sorted(HELP_EXPECTATIONS))
def test_help_shows_defaults_without_markup(tool: str) -> None:
    module, args, wanted = HELP_EXPECTATIONS[tool]
    text = _help_text(module, args)
    assert text.startswith("usage: ") and "``" not in text and "(default: None)" not in text
    for piece in wanted:
        assert piece in " ".join(text.split()), (tool, piece)


def test_help_formatter_keeps_layout_and_skips_defaults_without_value() -> None:
    from mars_core.cli_help import HelpFormatter, plain_description

    parser = argparse.ArgumentParser(prog="t", description=plain_description("``t``: does it.\n\n    t --n 3"),
                                     formatter_class=HelpFormatter)
    parser.add_argument("--n", type=int, default=2, help="how many")
    parser.add_argument("--name", default="", help="a name")
    parser.add_argument("--flag", action="store_true", help="a flag")
    parser.add_argument("--size", default=None, help="a size (default: automatic)")
    parser.add_argument("--kept", default=5, help="said already (default 5)")
    text = parser.format_help()
    assert "t: does it.\n\n    t --n 3" in text
    assert "how many (default: 2)" in text and "a name\n" in text and "a flag\n" in text
    assert "(default: automatic)" in text and "(default 5)" in text and "(default: 5)" not in text
