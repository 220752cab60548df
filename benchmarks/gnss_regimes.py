"""Count and map accuracy per GNSS regime, measured on the user's path with default settings.

For each regime preset and seed: ``mars-sim --preset P --seed S --out R``, ``mars-count R/bag --out C`` (no
options: the rig and datum come from the run's own rig.yaml, as for a user), ``mars-eval --truth R/truth
--result C --json``. Prints one row per run and a summary per regime (worst |count error|, duplicates).

    .venv/bin/python benchmarks/gnss_regimes.py --seeds 1 2 3 [--regimes rtk-float two-pass-float] [--keep DIR]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Tuple

REGIMES = ("field-short", "rtk-float", "rtk-dropouts", "two-pass-fixed", "two-pass-float", "gnss-imu", "gnss-no-imu",
           "hard")


def _tool(name: str) -> List[str]:
    """The installed console script next to this interpreter (what the README tells the user to run)."""
    script = Path(sys.executable).with_name(name)
    return [str(script)] if script.exists() else [sys.executable, "-m", {
        "mars-sim": "mars_sim.cli", "mars-count": "mars_pipeline.count_cli",
        "mars-eval": "mars_sim.evaluation.cli"}[name]]


def user_path(name: str, sim_args: List[str], seed: int, work: Path) -> Tuple[Dict[str, Any], Dict[str, Any], float]:
    """`mars-sim SIM_ARGS --seed S`, `mars-count` with no options, `mars-eval --json`: the scores, mars-count's
    summary.json and the seconds mars-count took."""
    run, result = work / f"{name}-{seed}", work / f"{name}-{seed}-count"
    subprocess.run(_tool("mars-sim") + sim_args + ["--seed", str(seed), "--out", str(run)], check=True,
                   capture_output=True)
    started = time.perf_counter()
    subprocess.run(_tool("mars-count") + [str(run / "bag"), "--out", str(result)], check=True, capture_output=True)
    seconds = time.perf_counter() - started
    scores_path = work / f"{name}-{seed}.json"
    subprocess.run(_tool("mars-eval") + ["--truth", str(run / "truth"), "--result", str(result), "--json",
                                         str(scores_path)], check=True, capture_output=True)
    return json.loads(scores_path.read_text()), json.loads((result / "summary.json").read_text()), seconds


def run_one(regime: str, seed: int, work: Path) -> Dict[str, float]:
    """sim -> count -> eval for one regime and seed; the scores as a flat dict."""
    sim = ["--config", str(work / "field-short.yaml")] if regime == "field-short" else ["--preset", regime]
    scores, summary, seconds = user_path(regime, sim, seed, work)
    per_camera = summary.get("per_camera", {})
    return {"count_error_pct": scores["count"]["error_pct"], "predicted": scores["count"]["predicted"],
            "true": scores["count"]["true"], "duplicates_pct": 100.0 * scores["map"]["duplicates"] /
            max(scores["count"]["true"], 1),
            # None when no map flower lies within the matching radius (metres of plain-GNSS error)
            "loc_median_m": scores["map"]["loc_error_median_m"] or float("nan"),
            "f1": scores["map"]["f1"] or 0.0, "count_seconds": seconds,
            "gnss": summary.get("gnss", {}).get("quality", "?"), "cameras": len(per_camera)}


def main() -> int:
    """Run the regimes x seeds and print the table."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    p.add_argument("--regimes", nargs="+", default=list(REGIMES), choices=REGIMES)
    p.add_argument("--keep", type=Path, default=None, help="keep the runs in this folder")
    args = p.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="mars_gnss_regimes_"))
    work.mkdir(parents=True, exist_ok=True)
    # The 'field' pass (RTK fixed, IMU) on the regimes' short field: the reference the others are compared with.
    (work / "field-short.yaml").write_text("preset: field\nfield: {rows: 2, row_length_m: 30.0}\n")
    print(f"{'regime':16s} {'seed':>4s} {'count':>7s} {'true':>5s} {'error':>8s} {'dup':>6s} {'loc':>7s} "
          f"{'F1':>5s}  gnss")
    worst: Dict[str, List[float]] = {}
    for regime in args.regimes:
        for seed in args.seeds:
            s = run_one(regime, seed, work)
            worst.setdefault(regime, []).append(abs(s["count_error_pct"]))
            print(f"{regime:16s} {seed:4d} {s['predicted']:7d} {s['true']:5d} {s['count_error_pct']:+7.1f}% "
                  f"{s['duplicates_pct']:5.1f}% {s['loc_median_m']:6.3f}m {s['f1']:5.2f}  {s['gnss']}", flush=True)
    print("\nworst |count error| per regime: " + ", ".join(f"{r} {max(v):.1f}%" for r, v in worst.items()))
    print(f"runs kept in {work}" if args.keep else f"runs in {work} (temporary)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
