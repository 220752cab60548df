"""`compile` against the fake DFC: stages, resume, resolution fallback, OOM handling, thread cap, plan."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mars_hailo.config import CompileConfig, compile_config_from_dict
from mars_hailo.errors import CalibrationError, HailoToolchainError, StageFailedError
from mars_hailo.hef_validation import validate_hef
from mars_hailo.pipeline import CompilePipeline, expectation_for
from mars_hailo.resources import allowed_cpus, free_ram_gb

pytestmark = [pytest.mark.hailo, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]


def _config(**over: Any) -> CompileConfig:
    base: dict[str, Any] = {"resolution_ladder": [[64, 64], [32, 32]], "optimize": {"calibset_size": 8}}
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(base.get(k), dict):
            base[k] = {**base[k], **v}
        else:
            base[k] = v
    return compile_config_from_dict(base)


@pytest.fixture
def calib(tmp_path: Path) -> Path:
    p = tmp_path / "calib_64x64.npy"
    np.save(p, np.random.default_rng(0).integers(0, 256, (8, 64, 64, 3), dtype=np.uint8))
    return p


def _pipe(onnx: Path, calib: Path, work: Path, cfg: CompileConfig | None = None) -> CompilePipeline:
    return CompilePipeline(onnx, calib, work, cfg or _config(), say=lambda m: None)


def _state(work: Path) -> dict[str, Any]:
    return json.loads((work / "state.json").read_text())


def test_full_run_writes_every_artifact(fake_dfc: Path, v8_onnx: Path, calib: Path, tmp_path: Path) -> None:
    work = tmp_path / "work"
    res = _pipe(v8_onnx, calib, work).run()
    d = work / "64x64"
    for name in ("mars_yolo.har", "mars_yolo_optimized.har", "mars_yolo.hef", "model_script.alls",
                 "nms_config.json", "stage_parse.log"):
        assert (d / name).is_file(), name
    assert res.hef == work / "mars_yolo.hef" and res.input_hw == (64, 64)
    st = _state(work)
    stages = st["attempts"][-1]["stages"]
    assert [stages[s]["status"] for s in ("parse", "optimize", "compile")] == ["done"] * 3
    assert all(stages[s]["duration_s"] > 0 for s in stages)
    cpus = str(allowed_cpus().cpus)
    assert all(stages[s]["threads"]["OMP_NUM_THREADS"] == cpus for s in stages)
    # The NMS config and the model script name real layers of the parsed HAR.
    with tarfile.open(d / "mars_yolo.har") as tar:
        hn = json.loads(tar.extractfile("mars_yolo.hn").read())
    nms = json.loads((d / "nms_config.json").read_text())
    assert {b["reg_layer"] for b in nms["bbox_decoders"]} <= set(hn["layers"])
    script = (d / "model_script.alls").read_text()
    cls_layers = [n for n, layer in hn["layers"].items() if layer["original_names"][0].startswith("/model.22/cv3")]
    for name in cls_layers:
        assert f"change_output_activation({name.split('/')[1]}, sigmoid)" in script
    assert "normalization([0.0, 0.0, 0.0], [255.0, 255.0, 255.0])" in script and "nms_postprocess(" in script
    rep = validate_hef(res.hef, expectation_for(_config(), _pipe(v8_onnx, calib, work).layout, (64, 64)),
                       use_hailort=False)
    assert rep.ok, rep.to_text()


def test_dry_run_prints_plan_and_runs_nothing(fake_dfc: Path, v8_onnx: Path, calib: Path, tmp_path: Path) -> None:
    work = tmp_path / "work"
    plan = _pipe(v8_onnx, calib, work).plan()
    assert not work.exists()
    for text in ("resolution ladder: 64x64 -> 32x32", "parse    RUN", "optimize RUN", "compile  RUN",
                 "/model.22/cv3.2/cv3.2.2/Conv", "<layer of /model.22/cv3.0/cv3.0.2/Conv>", "OMP_NUM_THREADS=",
                 "TF_NUM_INTRAOP_THREADS=", "model_optimization_flavor(optimization_level=2"):
        assert text in plan, text
    _pipe(v8_onnx, calib, work).run()
    plan = _pipe(v8_onnx, calib, work).plan()
    assert plan.count("SKIP (done)") == 3 and "<layer of" not in plan


@pytest.mark.parametrize("stage", ["optimize", "compile"])
def test_crash_mid_stage_then_resume(fake_dfc: Path, v8_onnx: Path, calib: Path, tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch, stage: str) -> None:
    work = tmp_path / "work"
    monkeypatch.setenv("HAILO_FAKE_FAIL", f"{stage}:crash")
    with pytest.raises(StageFailedError, match=f"resume at {stage}"):
        _pipe(v8_onnx, calib, work).run()
    st = _state(work)
    assert st["resolutions"]["64x64"]["stages"][stage]["status"] == "crashed"
    assert st["attempts"][0]["outcome"] == "failed"
    har = work / "64x64" / "mars_yolo.har"
    mtime = har.stat().st_mtime_ns
    monkeypatch.delenv("HAILO_FAKE_FAIL")
    _pipe(v8_onnx, calib, work).run()
    last = _state(work)["attempts"][-1]["stages"]
    assert last["parse"] == {"status": "skipped"} and har.stat().st_mtime_ns == mtime
    if stage == "compile":
        assert last["optimize"] == {"status": "skipped"}
    assert last[stage]["status"] == "done" and (work / "mars_yolo.hef").is_file()


def test_resolution_fallback_reruns_from_parse(fake_dfc: Path, v8_onnx: Path, calib: Path, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    work = tmp_path / "work"
    monkeypatch.setenv("HAILO_FAKE_FAIL", "compile:alloc_above=48")
    res = _pipe(v8_onnx, calib, work).run()
    assert res.input_hw == (32, 32)
    st = _state(work)
    assert [(a["resolution"], a["outcome"]) for a in st["attempts"]] == [("64x64", "resource"), ("32x32", "done")]
    assert st["attempts"][1]["stages"]["parse"]["status"] == "done"
    assert "BackendAllocatorException" in st["resolutions"]["64x64"]["resource_failure"]
    desc = json.loads((work / "mars_yolo.hef.json").read_text())
    assert desc["inputs"][0]["shape"] == [32, 32, 3]
    feat = next(o for o in desc["outputs"] if o["role"] == "features")
    assert feat["shape"] == [4, 4, 16]
    # A rerun does not retry the size that did not fit.
    assert "64x64: skipped (compile failed on resources" in _pipe(v8_onnx, calib, work).plan()


def test_every_resolution_failing_is_reported(fake_dfc: Path, v8_onnx: Path, calib: Path, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HAILO_FAKE_FAIL", "compile:alloc_above=16")
    with pytest.raises(StageFailedError, match="every resolution"):
        _pipe(v8_onnx, calib, tmp_path / "work").run()


def test_oom_kill_in_optimize_halves_the_batch(fake_dfc: Path, v8_onnx: Path, calib: Path, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    work = tmp_path / "work"
    monkeypatch.setenv("HAILO_FAKE_FAIL", "optimize:oom_kill=4")
    _pipe(v8_onnx, calib, work).run()
    rec = _state(work)["resolutions"]["64x64"]["stages"]["optimize"]
    assert rec["status"] == "done" and rec["batch_size"] == 4
    assert "batch_size=4" in (work / "64x64" / "model_script.alls").read_text()


def test_gpu_oom_exhausting_retries_fails_clearly(fake_dfc: Path, v8_onnx: Path, calib: Path, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HAILO_FAKE_FAIL", "optimize:gpu_oom=1")
    with pytest.raises(StageFailedError, match="out of memory.*ResourceExhaustedError"):
        _pipe(v8_onnx, calib, tmp_path / "work").run()  # 8 -> 4 -> 2, all > 1
    rec = _state(tmp_path / "work")["resolutions"]["64x64"]["stages"]["optimize"]
    assert rec["status"] == "oom" and rec["batch_size"] == 2


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs 2 CPUs to restrict to 1")
def test_thread_cap_follows_a_restricted_cpu_set(v8_onnx: Path, calib: Path, tmp_path: Path) -> None:
    work = tmp_path / "work"
    code = (f"import os, sys; os.sched_setaffinity(0, {{min(os.sched_getaffinity(0))}}); "
            f"sys.path.insert(0, {str(ROOT / 'test' / 'fakes')!r}); sys.path.insert(0, {str(ROOT)!r}); "
            "from mars_hailo.pipeline import CompilePipeline; "
            "from mars_hailo.config import compile_config_from_dict; "
            "cfg = compile_config_from_dict({'resolution_ladder': [[64, 64]], 'optimize': {'calibset_size': 8}}); "
            f"CompilePipeline({str(v8_onnx)!r}, {str(calib)!r}, {str(work)!r}, cfg).run()")
    env = {k: v for k, v in os.environ.items() if k != "HAILO_FAKE_FAIL"}
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, env=env, capture_output=True)
    stages = _state(work)["attempts"][-1]["stages"]
    for s in ("parse", "optimize", "compile"):
        assert stages[s]["threads"]["OMP_NUM_THREADS"] == "1"
        assert stages[s]["threads"]["TF_NUM_INTRAOP_THREADS"] == "1"
        assert stages[s]["threads"]["TF_NUM_INTEROP_THREADS"] == "1"
        assert len(stages[s]["affinity"]) == 1


def test_config_change_reruns_only_the_affected_stages(fake_dfc: Path, v8_onnx: Path, calib: Path,
                                                       tmp_path: Path) -> None:
    work = tmp_path / "work"
    _pipe(v8_onnx, calib, work).run()
    _pipe(v8_onnx, calib, work, _config(nms={"score_threshold": 0.35})).run()
    last = _state(work)["attempts"][-1]["stages"]
    assert last["parse"] == {"status": "skipped"}
    assert last["optimize"]["status"] == "done" and last["compile"]["status"] == "done"
    assert json.loads((work / "64x64" / "nms_config.json").read_text())["nms_scores_th"] == 0.35


def test_bad_calibration_array_surfaces_the_reason(fake_dfc: Path, v8_onnx: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.npy"
    np.save(bad, np.zeros((4, 64, 64, 1), np.uint8))
    # Checked before the first stage runs (issue 17: say what calibration is needed, not a failed stage later).
    with pytest.raises(CalibrationError, match=r"\(N, H, W, 3\).*mars-hailo calib"):
        _pipe(v8_onnx, bad, tmp_path / "work").run()
    assert not (tmp_path / "work" / "model.har").exists()
    with pytest.raises(HailoToolchainError, match="missing.npy"):
        _pipe(v8_onnx, tmp_path / "missing.npy", tmp_path / "w2").run()


def test_optimize_batch_lowered_to_free_ram(v8_onnx: Path, calib: Path, tmp_path: Path) -> None:
    ram = free_ram_gb()
    if ram is None:
        pytest.skip("no /proc/meminfo")
    scale = 64 * 64 / (640 * 640)
    cfg = _config(optimize={"ram_base_gb": 0.0, "ram_per_batch_image_gb": ram / 2.5 / scale})
    batch, notes = _pipe(v8_onnx, calib, tmp_path / "w", cfg).optimize_batch_size((64, 64))
    assert batch == 2 and any("lowered to 2" in n for n in notes)


def test_no_dfc_installed_is_refused_before_any_stage(v8_onnx: Path, calib: Path, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    # Without test/fakes on the path hailo_sdk_client cannot be imported: the run says so up front, with how to
    # install it, instead of failing in a stage process (issue 17 defect 10).
    monkeypatch.setattr(sys, "path", [p for p in sys.path if not p.endswith("fakes")])
    with pytest.raises(HailoToolchainError, match=r"hailo_sdk_client\) is not installed.*--dry-run"):
        _pipe(v8_onnx, calib, tmp_path / "work").run()


@pytest.mark.parametrize("family,nms", [("yolov5", False), ("yolov5", True), ("yolo11", False)])
def test_other_families_compile_and_validate(fake_dfc: Path, v5_onnx: Path, v11_onnx: Path, tmp_path: Path,
                                             family: str, nms: bool) -> None:
    onnx = v5_onnx if family == "yolov5" else v11_onnx
    calib = tmp_path / "c.npy"
    np.save(calib, np.zeros((8, 64, 64, 3), np.uint8))
    cfg = _config(resolution_ladder=[[64, 64]], nms={"enabled": nms})
    pipe = _pipe(onnx, calib, tmp_path / "work", cfg)
    res = pipe.run()
    script = (tmp_path / "work" / "64x64" / "model_script.alls").read_text()
    assert ("nms_postprocess" in script) == nms
    assert ("meta_arch=yolov5" in script) == (family == "yolov5" and nms)
    assert ("change_output_activation" in script) == (family != "yolov5")
    rep = validate_hef(res.hef, expectation_for(cfg, pipe.layout, (64, 64)), use_hailort=False)
    assert rep.ok, rep.to_text()
