"""`compile`: parse -> optimize -> compile, resumable, resource-aware, with a resolution fallback ladder.

Layout of the work directory (one sub-directory per input resolution tried):
    state.json                      every attempt, stage status, durations, fingerprints, errors
    <H>x<W>/<net>.har               parse artifact
    <H>x<W>/<net>_optimized.har     optimize artifact
    <H>x<W>/<net>.hef               compile artifact
    <H>x<W>/model_script.alls       the generated model script (for the record)
    <H>x<W>/nms_config.json         NMS post-process config with HN layer names
    <H>x<W>/stage_<name>.log        stdout/stderr of the stage process
    <net>.hef, <net>.hef.json       the final HEF and its description (what validate and the camera read)
A stage is skipped when state.json records it done with the same fingerprint and its artifact exists.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import importlib.util
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from mars_hailo.calibration import check_calibration_array
from mars_hailo.config import CompileConfig, resolve_ladder
from mars_hailo.errors import CalibrationError, HailoToolchainError, StageFailedError
from mars_hailo.hef_validation import (HefDescription, HefExpectation, StreamInfo,
                                                      description_path)
from mars_hailo.model_script import build_model_script, nms_config_for, write_nms_config
from mars_hailo.onnx_layout import NMS_META_ARCH, YoloLayout, inspect_onnx
from mars_hailo.resources import (CpuBudget, allowed_cpus, fitting_batch_size, free_ram_gb,
                                                 free_vram_gb, thread_environment)

LOG = logging.getLogger("mars_hailo")
STAGES = ("parse", "optimize", "compile")
STATE_VERSION = 1
_ALLOC_PATTERN = re.compile(r"no successful assignment|allocat|not enough resources|doesn't fit|does not fit",
                            re.IGNORECASE)
_OOM_TYPES = ("ResourceExhaustedError", "MemoryError", "OutOfMemoryError")
_TIMEOUT_TYPES = ("TimeoutError", "DeadlineExceededError")
# Failures a rerun can get past (the machine, not the inputs, was the problem); the others need a fix first.
_TRANSIENT = {"oom": "ran out of memory", "crashed": "crashed", "timeout": "timed out"}


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _fp(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _res_key(hw: tuple[int, int]) -> str:
    return f"{hw[0]}x{hw[1]}"


@dataclass(frozen=True)
class StageOutcome:
    """How one stage subprocess ended."""

    status: str  # done | failed | oom | resource | crashed
    returncode: int
    duration_s: float
    result: dict[str, Any]
    message: str


@dataclass
class CompileResult:
    """What compile produced."""

    hef: Path
    description: Path
    input_hw: tuple[int, int]
    state_path: Path
    attempts: list[dict[str, Any]] = field(default_factory=list)


class CompilePipeline:
    """Orchestrates the three stages for one ONNX + calibration set + config into `work_dir`."""

    def __init__(self, onnx_path: str | Path, calib_path: str | Path | None, work_dir: str | Path,
                 config: CompileConfig, python: str = sys.executable, cpu_budget: CpuBudget | None = None,
                 say: Callable[[str], None] | None = None, echo: Callable[[str], None] | None = None) -> None:
        self.onnx = Path(onnx_path).resolve()
        self.calib = Path(calib_path).resolve() if calib_path else None
        self.work = Path(work_dir).resolve()
        self.config = config
        self.python = python
        self.cpu = cpu_budget or allowed_cpus()
        self.say = say or LOG.info
        self.echo = echo or LOG.debug
        self._inputs_cache: dict[str, str] | None = None
        self.layout: YoloLayout = inspect_onnx(self.onnx, config.feature_output)
        if self.layout.feature_node is None:
            self.say(f"WARNING: {self.onnx} has no feature output {config.feature_output!r}; the HEF will carry "
                     "no features (run `mars-hailo export` first)")
        self.state_path = self.work / "state.json"
        self.ladder = resolve_ladder(config.resolution_ladder, self.layout.input_hw)

    # ------------------------------------------------------------------ state
    def load_state(self) -> dict[str, Any]:
        """The state file, or a fresh state."""
        if self.state_path.is_file():
            try:
                state = json.loads(self.state_path.read_text())
                if state.get("version") == STATE_VERSION:
                    return state
                self.say(f"state {self.state_path} has version {state.get('version')}; starting fresh")
            except json.JSONDecodeError as exc:
                bad = self.state_path.with_suffix(".json.corrupt")
                self.state_path.replace(bad)
                self.say(f"state {self.state_path} unreadable ({exc}); kept as {bad}, starting fresh")
        return {"version": STATE_VERSION, "resolutions": {}, "attempts": [], "final": None}

    def save_state(self, state: dict[str, Any]) -> None:
        """Write the state atomically (a kill mid-write must not lose it)."""
        self.work.mkdir(parents=True, exist_ok=True)
        tmp = self.state_path.with_name(".state.json.partial")
        tmp.write_text(json.dumps(state, indent=1))
        tmp.replace(self.state_path)

    # ------------------------------------------------------------------ fingerprints
    def _inputs(self) -> dict[str, str]:
        if self._inputs_cache is None:
            self._inputs_cache = {"onnx_sha256": _sha256(self.onnx),
                                  "calib_sha256": _sha256(self.calib) if self.calib and self.calib.is_file() else ""}
        return self._inputs_cache

    def stage_fingerprints(self, hw: tuple[int, int], inputs: dict[str, str]) -> dict[str, str]:
        """Fingerprint of each stage's inputs at resolution hw (a change invalidates it and what follows)."""
        c = self.config
        parse = _fp("parse", inputs["onnx_sha256"], c.hw_arch, self.layout.translate_kwargs(c.net_name, hw))
        opt_cfg = {k: v for k, v in c.optimize.__dict__.items() if k not in ("oom_retries",)}
        optimize = _fp("optimize", parse, inputs["calib_sha256"], opt_cfg, c.nms.__dict__,
                       c.normalization_mean, c.normalization_std, c.class_activation)
        compile_ = _fp("compile", optimize, c.compiler.__dict__)
        return {"parse": parse, "optimize": optimize, "compile": compile_}

    # ------------------------------------------------------------------ resources
    def optimize_batch_size(self, hw: tuple[int, int]) -> tuple[int, list[str]]:
        """Batch size for optimize lowered to fit free RAM and VRAM; and the warnings explaining why."""
        o = self.config.optimize
        scale = hw[0] * hw[1] / (640 * 640)
        notes: list[str] = []
        ram = free_ram_gb()
        batch = fitting_batch_size(o.batch_size, o.ram_base_gb * scale, o.ram_per_batch_image_gb * scale, ram)
        need = (o.ram_base_gb + o.ram_per_batch_image_gb * o.batch_size) * scale
        if ram is not None and need > ram:
            notes.append(f"optimize needs ~{need:.1f} GB RAM at batch {o.batch_size}, {ram:.1f} GB free: "
                         f"batch size lowered to {batch}")
        vram = free_vram_gb()
        if vram is None:
            if o.optimization_level >= 2:
                notes.append(f"no NVIDIA GPU found: optimization_level {o.optimization_level} needs one; the DFC "
                             "falls back to level 0 (lower accuracy) or runs for a very long time on CPU")
        else:
            vb = fitting_batch_size(batch, 0.0, o.vram_per_batch_image_gb * scale, vram)
            if vb < batch:
                notes.append(f"GPU has {vram:.1f} GB free: optimize batch size lowered to {vb}")
            batch = vb
        return batch, notes

    def _memory_warning(self, stage: str, hw: tuple[int, int]) -> str | None:
        scale = hw[0] * hw[1] / (640 * 640)
        need = self.config.parse_ram_gb if stage == "parse" else self.config.compiler.ram_gb * max(scale, 0.5)
        ram = free_ram_gb()
        if ram is not None and ram < need:
            return f"{stage} is known to need ~{need:.1f} GB RAM, {ram:.1f} GB free: it may be killed (OOM)"
        return None

    # ------------------------------------------------------------------ paths
    def rung_dir(self, hw: tuple[int, int]) -> Path:
        """Artifacts directory of one resolution."""
        return self.work / _res_key(hw)

    def artifact(self, stage: str, hw: tuple[int, int]) -> Path:
        """Artifact path of a stage at a resolution."""
        n = self.config.net_name
        return self.rung_dir(hw) / {"parse": f"{n}.har", "optimize": f"{n}_optimized.har",
                                    "compile": f"{n}.hef"}[stage]

    # ------------------------------------------------------------------ plan
    def _stage_done(self, state: dict[str, Any], hw: tuple[int, int], stage: str, fp: str) -> bool:
        rec = state["resolutions"].get(_res_key(hw), {}).get("stages", {}).get(stage)
        return bool(rec and rec.get("status") == "done" and rec.get("fingerprint") == fp
                    and self.artifact(stage, hw).is_file())

    def _failed_on_resources(self, state: dict[str, Any], hw: tuple[int, int], fp: str) -> bool:
        rec = state["resolutions"].get(_res_key(hw), {})
        return bool(rec.get("resource_failure") and rec.get("resource_failure_fingerprint") == fp)

    def plan(self) -> str:
        """The whole plan, as `--dry-run` prints it: resources, resolutions, stages to run or skip, scripts."""
        c = self.config
        state = self.load_state()
        inputs = self._inputs()
        lines = [f"mars-hailo compile plan ({_now()})",
                 f"  ONNX: {self.onnx} ({self.layout.family}, {self.layout.num_classes} classes, "
                 f"input {list(self.layout.input_shape)})",
                 f"  calibration: {_calib_text(self.calib)}",
                 f"  Dataflow Compiler: {dfc_location(self.python) or 'MISSING: ' + dfc_missing_message(self.python)}",
                 f"  work dir: {self.work}", f"  target: {c.hw_arch}, network name {c.net_name}",
                 f"  CPUs allowed: {self.cpu.cpus} (affinity {self.cpu.affinity}, cgroup quota "
                 f"{self.cpu.cgroup_quota if self.cpu.cgroup_quota is not None else 'none'}, scheduler "
                 f"{self.cpu.scheduler_limit or 'none'}; limited by {self.cpu.source})",
                 "  stage environment: " + " ".join(f"{k}={v}" for k, v in sorted(
                     thread_environment(self.cpu.cpus, {}).items()) if k.endswith("THREADS")),
                 f"  free RAM: {_gb(free_ram_gb())}, free VRAM: {_gb(free_vram_gb())}",
                 "  resolution ladder: " + " -> ".join(_res_key(r) for r in self.ladder)]
        start = None
        for hw in self.ladder:
            fps = self.stage_fingerprints(hw, inputs)
            if self._failed_on_resources(state, hw, fps["compile"]):
                lines.append(f"  {_res_key(hw)}: skipped (compile failed on resources before: "
                             f"{state['resolutions'][_res_key(hw)]['resource_failure'][:80]})")
                continue
            start = hw
            break
        if start is None:
            lines.append("  every resolution failed on resources before; extend resolution_ladder")
            return "\n".join(lines)
        fps = self.stage_fingerprints(start, inputs)
        layer_map = state["resolutions"].get(_res_key(start), {}).get("layer_map")
        batch, notes = self.optimize_batch_size(start)
        lines.append(f"  starting at {_res_key(start)}:")
        for st in STAGES:
            done = self._stage_done(state, start, st, fps[st])
            lines.append(f"    {st:<8} {'SKIP (done)' if done else 'RUN'}  -> {self.artifact(st, start)}")
            w = self._memory_warning(st, start) if st != "optimize" else None
            if w and not done:
                lines.append(f"             WARNING: {w}")
        for n in notes:
            lines.append(f"  WARNING: {n}")
        kw = self.layout.translate_kwargs(c.net_name, start)
        lines.append("  parse call:")
        lines.append(f"    ClientRunner(hw_arch={c.hw_arch!r}).translate_onnx_model({str(self.onnx)!r}, "
                     f"{kw['net_name']!r},")
        lines.append(f"        start_node_names={kw['start_node_names']},")
        lines.append(f"        end_node_names={kw['end_node_names']},")
        lines.append(f"        net_input_shapes={kw['net_input_shapes']})")
        nms_path = self.rung_dir(start) / "nms_config.json"
        script = build_model_script(c, self.layout, layer_map, nms_path if c.nms.enabled else None, batch,
                                    c.optimize.calibset_size)
        lines.append(f"  model script ({self.rung_dir(start) / 'model_script.alls'}):")
        lines += [f"    {ln}" for ln in script.splitlines()]
        if c.nms.enabled:
            lines.append(f"  NMS config ({nms_path}):")
            nms = nms_config_for(c, self.layout, start, layer_map)
            for k, v in nms.items():
                if k == "bbox_decoders":
                    lines.append("    bbox_decoders:")
                    lines += [f"      {json.dumps(b)}" for b in v]
                else:
                    lines.append(f"    {k}: {json.dumps(v)}")
        lines.append(f"  final: {self.work / (c.net_name + '.hef')} + description "
                     f"{description_path(self.work / (c.net_name + '.hef'))}")
        return "\n".join(lines)

    def start_resolution(self, state: dict[str, Any]) -> tuple[int, int] | None:
        """The first resolution of the ladder that has not failed on resources before (None: none is left)."""
        inputs = self._inputs()
        for hw in self.ladder:
            if not self._failed_on_resources(state, hw, self.stage_fingerprints(hw, inputs)["compile"]):
                return hw
        return None

    def stage_ram_gb(self, stage: str, hw: tuple[int, int]) -> float:
        """RAM a stage is known to need at resolution hw (optimize at the configured batch size), in GB."""
        c = self.config
        scale = hw[0] * hw[1] / (640 * 640)
        if stage == "parse":
            return c.parse_ram_gb
        if stage == "optimize":
            return (c.optimize.ram_base_gb + c.optimize.ram_per_batch_image_gb * c.optimize.batch_size) * scale
        return c.compiler.ram_gb * max(scale, 0.5)

    def job_needs(self) -> dict[str, Any]:
        """What a machine must offer the stages still to run: {"stages": [...], "ram_gb", "gpus", "why"}: the
        most RAM any of them is known to need, and a GPU when optimize runs at optimization_level >= 2."""
        state = self.load_state()
        start = self.start_resolution(state)
        if start is None:
            return {"stages": [], "ram_gb": 0.0, "gpus": 0, "why": "every resolution failed on resources before"}
        fps = self.stage_fingerprints(start, self._inputs())
        todo = [st for st in STAGES if not self._stage_done(state, start, st, fps[st])]
        ram = {st: self.stage_ram_gb(st, start) for st in todo}
        level = self.config.optimize.optimization_level
        gpus = 1 if "optimize" in todo and level >= 2 else 0
        why = [f"{st} ~{gb:.1f} GB RAM" for st, gb in ram.items()]
        if "optimize" in todo:
            why.append(f"optimization_level {level}: " + ("a GPU" if gpus else "no GPU needed"))
        return {"stages": todo, "resolution": _res_key(start), "ram_gb": max(ram.values(), default=0.0),
                "gpus": gpus, "why": ", ".join(why)}

    # ------------------------------------------------------------------ running
    def _run_stage(self, stage: str, hw: tuple[int, int], request: dict[str, Any]) -> StageOutcome:
        d = self.rung_dir(hw)
        d.mkdir(parents=True, exist_ok=True)
        req_path, res_path, log_path = d / f"stage_{stage}.request.json", d / f"stage_{stage}.result.json", \
            d / f"stage_{stage}.log"
        req_path.write_text(json.dumps(request, indent=1))
        res_path.unlink(missing_ok=True)
        env = thread_environment(self.cpu.cpus)
        # The worker must import the same modules (and, in tests, the same fakes) as this process.
        env["PYTHONPATH"] = os.pathsep.join(os.path.abspath(p) if p else os.getcwd() for p in sys.path)
        t0 = time.monotonic()
        prefix = f"[{_res_key(hw)} {stage}] "
        with open(log_path, "a") as log:
            log.write(f"\n=== {stage} {_res_key(hw)} started {_now()} (cpus={self.cpu.cpus}) ===\n")
            log.flush()
            # The DFC's own progress goes to the stage log and, line by line, to the user.
            proc = subprocess.Popen([self.python, "-m", "mars_hailo.stage_worker", str(req_path),
                                     str(res_path)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    cwd=str(d), text=True, errors="replace")
            assert proc.stdout is not None
            for line in proc.stdout:
                log.write(line)
                log.flush()
                self.echo(prefix + line.rstrip("\n"))
            proc.wait()
        dt = time.monotonic() - t0
        result: dict[str, Any] = {}
        if res_path.is_file():
            try:
                result = json.loads(res_path.read_text())
            except json.JSONDecodeError:
                result = {}
        if result.get("traceback"):
            with open(log_path, "a") as log:
                log.write(result["traceback"].rstrip("\n") + "\n")
        rc = proc.returncode
        if rc == 0 and result.get("status") == "done":
            return StageOutcome("done", rc, dt, result, "ok")
        if rc in (-signal.SIGKILL, 128 + signal.SIGKILL):
            return StageOutcome("oom", rc, dt, result, f"{stage} was killed (SIGKILL), most likely by the kernel's "
                                "out-of-memory killer")
        if result.get("status") == "failed":
            etype, msg = result.get("error_type", ""), result.get("message", "")
            if etype in _OOM_TYPES or "out of memory" in msg.lower() or "OOM when allocating" in msg:
                return StageOutcome("oom", rc, dt, result, f"{stage} ran out of memory: {etype}: {msg[:300]}")
            if etype in _TIMEOUT_TYPES or "timed out" in msg.lower():
                return StageOutcome("timeout", rc, dt, result, f"{stage} timed out: {etype}: {msg[:300]}")
            if stage == "compile" and (etype == "BackendAllocatorException" or _ALLOC_PATTERN.search(msg)):
                return StageOutcome("resource", rc, dt, result, f"{etype}: {msg[:300]}")
            hint = "".join(f"; the DFC recommends {k.split('_')[1]} nodes {result[k]}"
                           for k in ("recommended_start_node_names", "recommended_end_node_names") if result.get(k))
            return StageOutcome("failed", rc, dt, result, f"{etype}: {msg[:500]}{hint}")
        return StageOutcome("crashed", rc, dt, result, f"{stage} process ended with status {rc} without a result "
                            f"(crash); see {log_path}")

    def run(self) -> CompileResult:
        """Run (or resume) the stages until a HEF exists; raises StageFailedError with the state kept."""
        c = self.config
        check_calibration_array(self.calib)
        if dfc_location(self.python) is None:
            raise HailoToolchainError(dfc_missing_message(self.python))
        state = self.load_state()
        inputs = self._inputs()
        state["inputs"] = {"onnx": str(self.onnx), "calib": str(self.calib), **inputs,
                           "config": c.to_dict()}
        self.say(f"compile: {self.cpu.cpus} CPU(s) allowed (limited by {self.cpu.source}); "
                 f"threads capped with OMP/TF/BLAS variables")
        for hw in self.ladder:
            fps = self.stage_fingerprints(hw, inputs)
            key = _res_key(hw)
            if self._failed_on_resources(state, hw, fps["compile"]):
                self.say(f"compile: {key} failed on resources before; next resolution")
                continue
            rung = state["resolutions"].setdefault(key, {"stages": {}})
            attempt: dict[str, Any] = {"resolution": key, "started": _now(), "stages": {}}
            state["attempts"].append(attempt)
            state["current_resolution"] = key
            self.save_state(state)
            try:
                outcome = self._run_rung(state, rung, attempt, hw, fps)
            except StageFailedError:
                attempt.update(finished=_now(), outcome="failed")
                self.save_state(state)
                raise
            attempt["finished"] = _now()
            attempt["outcome"] = outcome
            self.save_state(state)
            if outcome == "done":
                return self._finish(state, hw)
            if outcome == "resource":
                self.say(f"compile: {key} does not fit the {c.hw_arch}; stepping down the resolution ladder and "
                         "re-running from parse")
                continue
        raise StageFailedError("every resolution in the ladder failed on resources: "
                               + ", ".join(_res_key(r) for r in self.ladder)
                               + f"; see {self.state_path}. Add smaller sizes to resolution_ladder or use a "
                               "smaller model")

    def _run_rung(self, state: dict[str, Any], rung: dict[str, Any], attempt: dict[str, Any],
                  hw: tuple[int, int], fps: dict[str, str]) -> str:
        c = self.config
        key = _res_key(hw)
        for stage in STAGES:
            if self._stage_done(state, hw, stage, fps[stage]):
                self.say(f"[{key}] {stage}: already done ({self.artifact(stage, hw).name}), skipped")
                attempt["stages"][stage] = {"status": "skipped"}
                continue
            # A redone stage invalidates the stages after it.
            for later in STAGES[STAGES.index(stage) + 1:]:
                rung["stages"].pop(later, None)
            warn = self._memory_warning(stage, hw) if stage != "optimize" else None
            if warn:
                self.say(f"[{key}] WARNING: {warn}")
            req: dict[str, Any] = {"stage": stage, "hw_arch": c.hw_arch, "artifact": str(self.artifact(stage, hw)),
                                   "input_hw": list(hw)}
            batch = None
            if stage == "parse":
                req.update(onnx=str(self.onnx), translate_kwargs=self.layout.translate_kwargs(c.net_name, hw))
            elif stage == "optimize":
                batch, notes = self.optimize_batch_size(hw)
                for n in notes:
                    self.say(f"[{key}] WARNING: {n}")
                req.update(har_in=str(self.artifact("parse", hw)), calib=str(self.calib),
                           calibset_size=c.optimize.calibset_size)
            else:
                req.update(har_in=str(self.artifact("optimize", hw)))
            retries = c.optimize.oom_retries if stage == "optimize" else 0
            while True:
                if stage == "optimize":
                    req["model_script"] = str(self._write_scripts(rung, hw, int(batch or 1)))
                    req["batch_size"] = batch
                self.say(f"[{key}] {stage}: started" + (f" (batch size {batch})" if batch else ""))
                started = _now()
                out = self._run_stage(stage, hw, req)
                rec = {"status": out.status, "fingerprint": fps[stage], "started": started, "finished": _now(),
                       "duration_s": round(out.duration_s, 3), "artifact": str(self.artifact(stage, hw)),
                       "returncode": out.returncode, "threads": out.result.get("threads"),
                       "affinity": out.result.get("affinity"), "message": out.message}
                if batch:
                    rec["batch_size"] = batch
                attempt["stages"][stage] = rec
                rung["stages"][stage] = rec
                self.save_state(state)
                retry = out.status == "oom" and stage == "optimize" and retries > 0 and bool(batch and batch > 1)
                self.say(f"[{key}] {stage}: {out.status} in {out.duration_s:.1f} s"
                         + (f": {out.message}" if retry else ""))
                if retry and batch:
                    retries -= 1
                    batch = max(batch // 2, 1)
                    self.say(f"[{key}] optimize: retrying with batch size {batch}")
                    continue
                break
            if out.status == "done":
                if stage == "parse":
                    rung["layer_map"] = out.result.get("layer_map", {})
                    rung["layer_shapes"] = out.result.get("layer_shapes", {})
                    self.save_state(state)
                continue
            if out.status == "resource":
                rung["resource_failure"] = out.message
                rung["resource_failure_fingerprint"] = fps["compile"]
                self.save_state(state)
                return "resource"
            raise StageFailedError(self._failure_text(stage, hw, out), resumable=out.status in _TRANSIENT)
        return "done"

    def _failure_text(self, stage: str, hw: tuple[int, int], out: StageOutcome) -> str:
        """One paragraph: the stage, the cause, where the traceback is, and a rerun only if it can help."""
        log = self.rung_dir(hw) / f"stage_{stage}.log"
        cause = " ".join(out.message.split()).rstrip(".")
        head = f"stage {stage} at {_res_key(hw)} {_TRANSIENT.get(out.status, 'failed')}: {cause}."
        if out.status == "oom":
            head += (" Free memory, lower optimize.batch_size / optimization_level, or run on a node with more "
                     "RAM.")
        if out.status in _TRANSIENT:
            return (f"{head} Earlier stages are kept: rerun the same command to resume at {stage}. Stage log: "
                    f"{log}; state: {self.state_path}")
        return (f"{head} Rerunning the same command will fail the same way: fix the cause first (earlier stages "
                f"are kept). Full traceback in {log}; state: {self.state_path}")

    def _write_scripts(self, rung: dict[str, Any], hw: tuple[int, int], batch: int) -> Path:
        c = self.config
        d = self.rung_dir(hw)
        layer_map = rung.get("layer_map")
        if not layer_map:
            raise StageFailedError(f"no parse layer map recorded for {_res_key(hw)}; delete "
                                   f"{self.artifact('parse', hw)} and rerun")
        nms_path = d / "nms_config.json"
        if c.nms.enabled:
            write_nms_config(nms_path, nms_config_for(c, self.layout, hw, layer_map))
        script = build_model_script(c, self.layout, layer_map, nms_path if c.nms.enabled else None, batch,
                                    c.optimize.calibset_size)
        path = d / "model_script.alls"
        path.write_text(script)
        return path

    def _finish(self, state: dict[str, Any], hw: tuple[int, int]) -> CompileResult:
        c = self.config
        final = self.work / f"{c.net_name}.hef"
        tmp = final.with_name(f".{final.name}.partial")
        shutil.copyfile(self.artifact("compile", hw), tmp)
        tmp.replace(final)
        rung = state["resolutions"][_res_key(hw)]
        desc = build_description(c, self.layout, hw, rung.get("layer_map", {}), final, self._inputs())
        side = description_path(final)
        side.write_text(json.dumps(desc.to_dict(), indent=1))
        state["final"] = {"hef": str(final), "description": str(side), "resolution": _res_key(hw),
                          "finished": _now()}
        self.save_state(state)
        total = sum(r.get("duration_s", 0.0) for a in state["attempts"] for r in a["stages"].values()
                    if isinstance(r, dict))
        self.say(f"compile: wrote {final} ({_res_key(hw)}) and {side}; stage time over all attempts {total:.1f} s")
        return CompileResult(final, side, hw, self.state_path, state["attempts"])


def _calib_text(calib: Path | None) -> str:
    try:
        shape = check_calibration_array(calib)
    except CalibrationError as exc:
        return f"MISSING: {exc}"
    return f"{calib} ({shape[0]} images {shape[1]}x{shape[2]})"


DFC_PACKAGE = "hailo_sdk_client"


def dfc_location(python: str) -> str | None:
    """Where the stage interpreter finds the Hailo Dataflow Compiler (hailo_sdk_client), None when it does not.

    Only looked up, not imported: importing the real DFC loads TensorFlow (seconds). The stage workers run with
    this process's sys.path, so the same search path is used for another interpreter.
    """
    if os.path.realpath(python) == os.path.realpath(sys.executable):
        spec = importlib.util.find_spec(DFC_PACKAGE)
        return None if spec is None else str(spec.origin or (spec.submodule_search_locations or [""])[0])
    code = (f"import importlib.util as u; s = u.find_spec({DFC_PACKAGE!r}); "
            "print(s.origin if s is not None else '')")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(os.path.abspath(p) if p else os.getcwd() for p in sys.path))
    try:
        out = subprocess.run([python, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None


def dfc_missing_message(python: str) -> str:
    """What to do when the stage interpreter has no DFC."""
    return (f"the Hailo Dataflow Compiler (Python package {DFC_PACKAGE}) is not installed for {python}: install "
            "Hailo's DFC wheel (hailo_dataflow_compiler-*.whl from the Hailo Developer Zone, not on PyPI) into "
            "this environment, or run mars-hailo compile on the machine that has it; `--dry-run` prints the plan "
            "without it")


def _gb(v: float | None) -> str:
    return "unknown" if v is None else f"{v:.1f} GB"


def expectation_for(config: CompileConfig, layout: YoloLayout, hw: tuple[int, int]) -> HefExpectation:
    """What the camera node will expect of a HEF compiled from this layout and config at resolution hw."""
    return HefExpectation(input_hw=hw, num_classes=layout.num_classes, nms=config.nms.enabled,
                          hw_arch=config.hw_arch,
                          feature_channels=layout.feature_shape[1] if layout.feature_shape else None,
                          feature_stride=layout.feature_stride or 8,
                          strides=tuple(s.stride for s in layout.scales), reg_max=layout.reg_max or 16,
                          original_roles=_original_roles(layout),
                          box_channels=((layout.num_anchors or 3) * (5 + layout.num_classes)
                                        if layout.family == "yolov5" else None),
                          class_heads=layout.family != "yolov5")


def _original_roles(layout: YoloLayout) -> tuple[tuple[str, str], ...]:
    roles = []
    for s in layout.scales:
        roles += [(n, "box") for n in (s.box_node, s.anchor_node) if n]
        if s.cls_node:
            roles.append((s.cls_node, "cls"))
    if layout.feature_node:
        roles.append((layout.feature_node, "features"))
    return tuple(roles)


def build_description(config: CompileConfig, layout: YoloLayout, hw: tuple[int, int], layer_map: dict[str, str],
                      hef: Path, inputs: dict[str, str]) -> HefDescription:
    """The description compile writes next to the HEF: streams as HailoRT will report them, plus provenance."""
    n = config.net_name
    h, w = hw
    in_name = next((v for k, v in layer_map.items() if k == layout.input_name), f"{n}/input_layer1")
    outputs: list[StreamInfo] = []
    if config.nms.enabled:
        outputs.append(StreamInfo(f"{n}/{NMS_META_ARCH[layout.family]}_nms_postprocess", (), "FLOAT32",
                                  "HAILO_NMS_BY_CLASS", "nms", None, layout.num_classes,
                                  config.nms.max_proposals_per_class))
    else:
        for s in layout.scales:
            gh, gw = h // s.stride, w // s.stride
            if s.box_node:
                outputs.append(StreamInfo(layer_map.get(s.box_node, s.box_node), (gh, gw, 4 * (layout.reg_max or 16)),
                                          "UINT8", "NHWC", "box", s.stride, original_names=(s.box_node,)))
            if s.cls_node:
                outputs.append(StreamInfo(layer_map.get(s.cls_node, s.cls_node), (gh, gw, layout.num_classes),
                                          "UINT8", "NHWC", "cls", s.stride, original_names=(s.cls_node,)))
            if s.anchor_node:
                c = (layout.num_anchors or 3) * (5 + layout.num_classes)
                outputs.append(StreamInfo(layer_map.get(s.anchor_node, s.anchor_node), (gh, gw, c), "UINT8", "NHWC",
                                          "box", s.stride, original_names=(s.anchor_node,)))
    feature_name = None
    if layout.feature_node and layout.feature_shape:
        fs = layout.feature_stride or 8
        feature_name = layer_map.get(layout.feature_node, layout.feature_node)
        outputs.append(StreamInfo(feature_name, (h // fs, w // fs, layout.feature_shape[1]), "UINT8", "NHWC",
                                  "features", fs, original_names=(layout.feature_node,)))
    exp = expectation_for(config, layout, hw)
    extra = {"family": layout.family, "onnx": layout.onnx_path, "onnx_input_hw": list(layout.input_hw),
             "onnx_sha256": inputs.get("onnx_sha256"),
             "calib_sha256": inputs.get("calib_sha256"), "class_activation": config.class_activation,
             "nms": config.nms.__dict__ if config.nms.enabled else None,
             "feature_onnx_output": layout.feature_output,
             "expectation": {"input_hw": list(hw), "num_classes": exp.num_classes, "nms": exp.nms,
                             "feature_channels": exp.feature_channels, "feature_stride": exp.feature_stride,
                             "strides": list(exp.strides), "reg_max": exp.reg_max,
                             "feature_output_name": feature_name,
                             "original_roles": dict(exp.original_roles), "box_channels": exp.box_channels,
                             "class_heads": exp.class_heads},
             "created": _now()}
    return HefDescription(str(hef), "description", config.hw_arch, n,
                          (StreamInfo(in_name, (h, w, 3), "UINT8", "NHWC"),), tuple(outputs), extra)
