"""`mars-hailo`: export | inspect | calib | compile [--slurm] | status | validate (see the README section "Compile your model for the Hailo")."""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
from pathlib import Path
from typing import Any, Sequence

from mars_core.cli_help import HelpFormatter
from mars_hailo.errors import HailoToolchainError, HefValidationError, StageFailedError, check_input_file
from mars_hailo.slurm_jobs import DEFAULT_CPUS, DEFAULT_MAX_REQUEUES, EXIT_RESUMABLE

LOG = logging.getLogger("mars_hailo")


def _say(msg: str) -> None:
    LOG.info(msg)


def _cmd_export(a: argparse.Namespace) -> int:
    from mars_hailo.onnx_export import export_onnx
    from mars_hailo.onnx_layout import format_layout_report

    layout = export_onnx(a.model, a.output, tuple(a.imgsz), a.opset, a.feature_node, a.feature_output)
    print(f"wrote {a.output}")
    print(format_layout_report(layout, a.net_name))
    return 0


def _cmd_inspect(a: argparse.Namespace) -> int:
    from mars_hailo.config import load_compile_config
    from mars_hailo.onnx_layout import format_layout_report, inspect_onnx

    cfg = load_compile_config(a.config)
    feature = a.feature_output or cfg.feature_output
    layout = inspect_onnx(a.onnx, feature)
    if a.json:
        print(json.dumps({**layout.to_dict(), "translate_kwargs": layout.translate_kwargs(cfg.net_name),
                          "nms_config": layout.nms_config(cfg.nms.score_threshold, cfg.nms.iou_threshold,
                                                          cfg.nms.max_proposals_per_class)}, indent=1))
    else:
        print(format_layout_report(layout, cfg.net_name, cfg.nms.score_threshold, cfg.nms.iou_threshold,
                                   cfg.nms.max_proposals_per_class))
    return 0


def _cmd_calib(a: argparse.Namespace) -> int:
    from mars_hailo.calibration import build_calibration_set
    from mars_hailo.onnx_layout import inspect_onnx

    if a.imgsz:
        size = (a.imgsz[0], a.imgsz[1])
    elif a.onnx:
        size = inspect_onnx(a.onnx).input_hw
    else:
        raise HailoToolchainError("calib needs the model input size: --imgsz H W or --onnx MODEL.onnx")
    res = build_calibration_set(a.sources, a.output, size, a.count, a.topics or None, progress=_say)
    print(f"wrote {res.array_path} ({res.count} images) and {res.report_path}")
    return 0


_SLURM_OPTIONS = ("partition", "time", "gpus", "mem", "cpus", "requeue")


def _cmd_compile(a: argparse.Namespace) -> int:
    from mars_hailo.config import load_compile_config
    from mars_hailo.pipeline import CompilePipeline

    given = [f"--{name}" for name in _SLURM_OPTIONS if getattr(a, name) not in (None, False)]
    if given and not a.slurm:
        raise HailoToolchainError(f"{', '.join(given)} size the Slurm job: add --slurm")
    cfg = load_compile_config(a.config)
    if a.hw_arch:
        cfg = dataclasses.replace(cfg, hw_arch=a.hw_arch)
    pipe = CompilePipeline(a.onnx, a.calib, a.work_dir, cfg, say=_say, echo=_say)
    if a.slurm:
        return _submit_compile(a, pipe)
    if a.dry_run:
        print(pipe.plan())
        return 0
    res = pipe.run()
    print(f"HEF: {res.hef} (input {res.input_hw[0]}x{res.input_hw[1]}); description: {res.description}")
    return 0


def _submit_compile(a: argparse.Namespace, pipe: Any) -> int:
    """compile --slurm: print the plan, write the job script sized from it, sbatch it (not with --dry-run)."""
    from mars_hailo.calibration import check_calibration_array
    from mars_hailo.pipeline import dfc_location, dfc_missing_message
    from mars_hailo.slurm_jobs import (check_request_options, job_script, request_from_needs, submit)

    check_request_options(a.time, a.mem, a.gpus, a.cpus, a.max_requeues)
    print(pipe.plan())
    needs = pipe.job_needs()
    if not needs["stages"]:
        raise HailoToolchainError(f"nothing to submit: {needs.get('why') or 'every stage is done'} "
                                  f"(see {pipe.state_path})")
    request = request_from_needs(needs, a.cpus, a.mem, a.gpus, a.partition, a.time, a.requeue, a.max_requeues)
    # The job runs the command as typed, without the Slurm options, with absolute paths.
    command = [sys.executable, "-m", "mars_hailo.cli"] + (["-v"] if a.verbose else []) + [
        "compile", str(pipe.onnx), "--work-dir", str(pipe.work)]
    command += ["--calib", str(pipe.calib)] if pipe.calib else []
    command += ["--config", str(Path(a.config).resolve())] if a.config else []
    command += ["--hw-arch", a.hw_arch] if a.hw_arch else []
    script = job_script(command, request, pipe.work, pipe.config.net_name,
                        f"stages {', '.join(needs['stages'])} at {needs['resolution']}: {needs['why']}")
    if a.dry_run:
        print("\nSlurm job script (not submitted: --dry-run):\n" + script)
        return 0
    check_calibration_array(pipe.calib)   # refused here, not hours later in the queue
    if dfc_location(pipe.python) is None:
        raise HailoToolchainError(dfc_missing_message(pipe.python))
    record = submit(script, pipe.work, request, needs)
    print(f"\nsubmitted Slurm job {record['job_id']} ({request.cpus} CPUs, {request.mem} memory, "
          f"{request.gpus} GPU(s){', requeued on failure' if request.requeue else ''}); script {record['script']}")
    print(f"follow it: tail -f {record['log']}")
    print(f"status:    mars-hailo status {pipe.work}")
    return 0


def _cmd_status(a: argparse.Namespace) -> int:
    from mars_hailo.slurm_jobs import status_text

    print(status_text(Path(a.work_dir).resolve(), a.lines))
    return 0


def _cmd_validate(a: argparse.Namespace) -> int:
    import numpy as np

    from mars_hailo.config import load_compile_config
    from mars_hailo.hef_validation import (HefExpectation, describe_hef,
                                                          expectation_from_description_extra, hailort_hef_class,
                                                          validate_hef)
    from mars_hailo.onnx_layout import inspect_onnx
    from mars_hailo.pipeline import expectation_for

    # A missing, folder or empty HEF must be named as such, not hidden behind "pass --onnx" below.
    check_input_file(Path(a.hef), "HEF", HefValidationError, "a Hailo HEF")
    cfg = load_compile_config(a.config)
    use_rt = not a.no_hailort
    layout = inspect_onnx(a.onnx, cfg.feature_output) if a.onnx else None
    exp: HefExpectation | None = None
    if layout is not None:
        hw = tuple(a.imgsz) if a.imgsz else layout.input_hw
        if not a.imgsz:
            try:  # a resolution fallback may have compiled a smaller input: take it from the HEF
                d = describe_hef(a.hef, use_rt)
                if d.inputs and len(d.inputs[0].shape) == 3:
                    hw = (d.inputs[0].shape[0], d.inputs[0].shape[1])
            except HailoToolchainError:
                pass
        exp = expectation_for(cfg, layout, hw)
    else:
        try:
            exp = expectation_from_description_extra(describe_hef(a.hef, use_rt))
        except HailoToolchainError:
            exp = None
        if exp is None:
            raise HailoToolchainError(f"validate {a.hef}: pass --onnx (or a HEF with its compile description) "
                                      "to know what to expect")
        if a.imgsz:
            exp = dataclasses.replace(exp, input_hw=(a.imgsz[0], a.imgsz[1]))
    exp = dataclasses.replace(exp, hw_arch=a.hw_arch or cfg.hw_arch)
    if a.nms is not None:
        exp = dataclasses.replace(exp, nms=a.nms)
    report = validate_hef(a.hef, exp, use_rt)
    if report.ok and layout is not None and use_rt and hailort_hef_class() is not None and a.calib:
        if exp.input_hw != layout.input_hw:
            report.unchecked.append(f"quantization drift: HEF input {exp.input_hw} differs from the ONNX "
                                    f"{layout.input_hw}; export the ONNX at the HEF size to compare")
        else:
            from mars_hailo.calibration import load_calibration_array
            from mars_hailo.quantization_drift import measure_drift

            imgs = load_calibration_array(a.calib, exp.input_hw, limit=a.drift_images).astype(np.uint8)
            report.drift = measure_drift(a.onnx, a.hef, list(imgs), exp, layout.feature_output,
                                         cfg.nms.score_threshold, cfg.nms.iou_threshold)
    elif layout is not None and a.calib and (not use_rt or hailort_hef_class() is None):
        report.unchecked.append("quantization drift (needs HailoRT)")
    print(report.to_text())
    return 0 if report.ok else 1


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of mars-hailo."""
    p = argparse.ArgumentParser(prog="mars-hailo", description="YOLO -> Hailo HEF toolchain for the MARS cameras",
                                formatter_class=HelpFormatter)
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging (every line of the DFC's output)")
    sub = p.add_subparsers(dest="verb", required=True)

    e = sub.add_parser("export", formatter_class=HelpFormatter, help="YOLO .pt/.onnx -> ONNX with a feature output, fixed size, opset 17")
    e.add_argument("model", help="YOLO .pt (needs ultralytics) or .onnx export")
    e.add_argument("-o", "--output", required=True, help="output .onnx")
    e.add_argument("--imgsz", type=int, nargs=2, default=[640, 640], metavar=("H", "W"), help="fixed input size")
    e.add_argument("--opset", type=int, default=17, help="ONNX opset")
    e.add_argument("--feature-node", default=None, help="ONNX node whose output becomes the feature output "
                   "(default: the stride-8 neck node feeding the head)")
    e.add_argument("--feature-output", default="features", help="name of the feature output")
    e.add_argument("--net-name", default="mars_yolo", help="network name in the report")
    e.set_defaults(func=_cmd_export)

    i = sub.add_parser("inspect", formatter_class=HelpFormatter, help="find the parser's start/end nodes and the NMS config")
    i.add_argument("onnx", help="the ONNX export")
    i.add_argument("--config", default=None, help="compile YAML (default: built-in defaults)")
    i.add_argument("--feature-output", default=None, help="name of the feature output (default: the config's)")
    i.add_argument("--json", action="store_true", help="print the layout as JSON")
    i.set_defaults(func=_cmd_inspect)

    c = sub.add_parser("calib", formatter_class=HelpFormatter, help="build the calibration array from image folders, videos or rosbag2")
    c.add_argument("sources", nargs="+", help="image folders, videos or rosbag2 bags")
    c.add_argument("-o", "--output", required=True, help="output directory")
    c.add_argument("--imgsz", type=int, nargs=2, default=None, metavar=("H", "W"),
                   help="model input size (or give --onnx)")
    c.add_argument("--onnx", default=None, help="take the input size from this model")
    c.add_argument("--count", type=int, default=1024, help="images in the calibration set")
    c.add_argument("--topics", nargs="*", default=None, help="image topics in bags (default: all images)")
    c.set_defaults(func=_cmd_calib)

    m = sub.add_parser("compile", formatter_class=HelpFormatter, help="parse -> optimize -> compile, resumable")
    m.add_argument("onnx", help="the ONNX export (from `mars-hailo export`)")
    m.add_argument("--calib", default=None, help="calibration .npy from `mars-hailo calib` (needed to compile)")
    m.add_argument("--work-dir", required=True, help="artifacts, stage logs and state.json (resumable)")
    m.add_argument("--config", default=None, help="compile YAML (default: built-in defaults, see "
                   "models/hailo/compile.yaml)")
    m.add_argument("--hw-arch", choices=["hailo8", "hailo8l"], default=None,
                   help="target device (default: the config's hw_arch)")
    m.add_argument("--dry-run", action="store_true", help="print the whole plan, run nothing (with --slurm: and "
                   "the job script, not submitted)")
    j = m.add_argument_group("as a Slurm job (sized from the plan, the same command inside)")
    j.add_argument("--slurm", action="store_true", help="write an sbatch script for the plan, submit it, print "
                   "the job id and how to follow its log")
    j.add_argument("--partition", default=None, help="Slurm partition (default: the cluster's)")
    j.add_argument("--time", default=None, metavar="H:MM:SS", help="job time limit (default: the partition's)")
    j.add_argument("--gpus", type=int, default=None, metavar="N",
                   help="GPUs (default: 1 when optimize runs at optimization_level >= 2, else 0)")
    j.add_argument("--mem", default=None, metavar="M", help="memory, e.g. 32G (default: the most RAM a stage "
                   "still to run is known to need)")
    j.add_argument("--cpus", type=int, default=None, metavar="N", help=f"cpus-per-task (default {DEFAULT_CPUS}); "
                   "the stages' thread pools follow it")
    j.add_argument("--requeue", action="store_true", help="a job that fails on the machine (out of memory, "
                   "crash, time-out) or is pre-empted goes back in the queue and resumes from state.json")
    j.add_argument("--max-requeues", type=int, default=DEFAULT_MAX_REQUEUES, metavar="N",
                   help="with --requeue: times a failing job is put back at most")
    m.set_defaults(func=_cmd_compile)

    s = sub.add_parser("status", formatter_class=HelpFormatter,
                       help="a compile's stage, elapsed time, Slurm job state and last log lines")
    s.add_argument("work_dir", help="the compile's --work-dir")
    s.add_argument("--lines", type=int, default=8, help="log lines shown")
    s.set_defaults(func=_cmd_status)

    v = sub.add_parser("validate", formatter_class=HelpFormatter, help="check a .hef against what the camera node expects")
    v.add_argument("hef", help="the .hef to check")
    v.add_argument("--onnx", default=None, help="the ONNX it was compiled from (default: the HEF's description)")
    v.add_argument("--config", default=None, help="compile YAML (default: built-in defaults)")
    v.add_argument("--hw-arch", choices=["hailo8", "hailo8l"], default=None, help="the camera's device")
    v.add_argument("--imgsz", type=int, nargs=2, default=None, metavar=("H", "W"),
                   help="expected input size (default: the HEF's)")
    v.add_argument("--nms", dest="nms", action="store_true", default=None, help="expect NMS on chip")
    v.add_argument("--no-nms", dest="nms", action="store_false", help="expect raw head outputs")
    v.add_argument("--no-hailort", action="store_true", help="header + description check only")
    v.add_argument("--calib", default=None, help="images (calib .npy) for the quantization drift")
    v.add_argument("--drift-images", type=int, default=16, help="images for the quantization drift")
    v.set_defaults(func=_cmd_validate)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of mars-hailo."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    try:
        return int(args.func(args))
    except HailoToolchainError as exc:
        print(f"mars-hailo {args.verb}: error: {exc}", file=sys.stderr)
        # A failure of the machine (OOM, crash, time-out) has its own status: a job script requeues on it.
        return EXIT_RESUMABLE if isinstance(exc, StageFailedError) and exc.resumable else 2


if __name__ == "__main__":
    sys.exit(main())
