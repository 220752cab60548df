"""Runs ONE compile stage in its own process: `python -m mars_hailo.stage_worker REQ RESULT`.

Own process because (1) the thread-cap variables must be set before TensorFlow is imported, and (2) a crash
or an OOM kill of the DFC must not take the orchestrator (and its state file) down with it.
"""
from __future__ import annotations

import json
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from mars_hailo.resources import THREAD_ENV_VARS


def _atomic_target(path: Path) -> Path:
    return path.with_name(f".{path.name}.partial")


def run_stage(req: dict[str, Any]) -> dict[str, Any]:
    """Execute the stage described by `req`; returns result details (raises on failure)."""
    from hailo_sdk_client import ClientRunner  # lazy: only on the machine with the DFC

    stage = req["stage"]
    out: dict[str, Any] = {}
    if stage == "parse":
        runner = ClientRunner(hw_arch=req["hw_arch"])
        kw = req["translate_kwargs"]
        runner.translate_onnx_model(req["onnx"], kw["net_name"], start_node_names=kw["start_node_names"],
                                    end_node_names=kw["end_node_names"], net_input_shapes=kw["net_input_shapes"])
        hn = runner.get_hn_dict()
        out["layer_map"] = {orig: name for name, layer in hn["layers"].items()
                            for orig in layer.get("original_names", [])}
        out["layer_shapes"] = {name: layer.get("output_shapes", [None])[0] for name, layer in hn["layers"].items()}
        tmp = _atomic_target(Path(req["artifact"]))
        runner.save_har(str(tmp))
        tmp.replace(req["artifact"])
    elif stage == "optimize":
        from mars_hailo.calibration import load_calibration_array

        runner = ClientRunner(hw_arch=req["hw_arch"], har=req["har_in"])
        runner.load_model_script(Path(req["model_script"]).read_text())
        calib = load_calibration_array(req["calib"], tuple(req["input_hw"]), limit=req["calibset_size"])
        out["calib_shape"] = list(calib.shape)
        runner.optimize(calib)
        tmp = _atomic_target(Path(req["artifact"]))
        runner.save_har(str(tmp))
        tmp.replace(req["artifact"])
    elif stage == "compile":
        runner = ClientRunner(hw_arch=req["hw_arch"], har=req["har_in"])
        hef = runner.compile()
        tmp = _atomic_target(Path(req["artifact"]))
        tmp.write_bytes(hef)
        tmp.replace(req["artifact"])
        out["hef_bytes"] = len(hef)
    else:
        raise ValueError(f"unknown stage {stage!r}")
    return out


def main(argv: list[str] | None = None) -> int:
    """Entry point of the stage subprocess; writes a JSON result whatever happens (except a hard kill)."""
    args = sys.argv[1:] if argv is None else argv
    req = json.loads(Path(args[0]).read_text())
    result_path = Path(args[1])
    result: dict[str, Any] = {
        "stage": req["stage"], "pid": os.getpid(), "status": "running",
        "threads": {v: os.environ.get(v) for v in THREAD_ENV_VARS + ("TF_NUM_INTEROP_THREADS",)},
        "affinity": sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
    }
    result_path.write_text(json.dumps(result))
    t0 = time.monotonic()
    try:
        result.update(run_stage(req))
        result["status"] = "done"
        code = 0
    except BaseException as exc:  # report everything, incl. MemoryError, to the orchestrator
        result.update(status="failed", error_type=type(exc).__name__, error_module=type(exc).__module__,
                      message=str(exc), traceback=traceback.format_exc())
        # The DFC parser suggests start/end nodes when the given ones do not work: pass them on.
        for attr in ("recommended_start_node_names", "recommended_end_node_names"):
            if getattr(exc, attr, None):
                result[attr] = [str(n) for n in getattr(exc, attr)]
        # No traceback on the console: the orchestrator writes it into the stage log and names the cause.
        code = 2
    result["duration_s"] = round(time.monotonic() - t0, 3)
    result_path.write_text(json.dumps(result))
    return code


if __name__ == "__main__":
    sys.exit(main())
