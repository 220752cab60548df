"""Count accuracy per detector score regime, measured on the user's path with default settings.

The scores-* presets differ only in the detector's score scale (RTK fixed, one pass, 2 rows x 30 m): the
default detector, flowers scored lower, every score squared (another calibration), a quantized device model
(shift and coarse steps), and flowers / look-alikes / clutter scored closer together. For each preset and seed:
``mars-sim --preset P --seed S --out R``, ``mars-count R/bag --out C`` (no options), ``mars-eval --truth R/truth
--result C --json``. Prints the map count error, each camera's count error (its confirmed tracks against the
flowers it detected at least twice) and the score scale the tracker learned (typical flower score per camera).

    .venv/bin/python benchmarks/score_regimes.py --seeds 1 2 3 [--regimes scores-low scores-overlap] [--keep DIR]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any, Dict, List

from gnss_regimes import user_path  # the user's three commands, as gnss_regimes runs them

REGIMES = ("scores-default", "scores-low", "scores-recalibrated", "scores-quantized", "scores-overlap")


def run_one(regime: str, seed: int, work: Path) -> Dict[str, Any]:
    """sim -> count -> eval for one regime and seed."""
    scores, summary, _ = user_path(regime, ["--preset", regime], seed, work)
    return {"count": scores["count"], "cameras": scores.get("count_per_camera", {}), "f1": scores["map"]["f1"],
            "typical": {k: v.get("typical_flower_score") for k, v in summary.get("score_scale", {}).items()}}


def main() -> int:
    """Run the regimes x seeds and print the table."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    p.add_argument("--regimes", nargs="+", default=list(REGIMES), choices=REGIMES)
    p.add_argument("--keep", type=Path, default=None, help="keep the runs in this folder")
    args = p.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="mars_score_regimes_"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"{'regime':20s} {'seed':>4s} {'count':>6s} {'true':>5s} {'map error':>9s} {'F1':>5s}  per-camera error "
          f"(typical flower score)")
    worst: Dict[str, List[float]] = {}
    for regime in args.regimes:
        for seed in args.seeds:
            s = run_one(regime, seed, work)
            c = s["count"]
            cams = "  ".join(f"{name} {v['error_pct']:+.1f}% ({s['typical'].get(name) or float('nan'):.2f})"
                             for name, v in s["cameras"].items())
            worst.setdefault(regime, []).append(abs(c["error_pct"]))
            worst.setdefault(regime + " per camera", []).extend(abs(v["error_pct"]) for v in s["cameras"].values())
            print(f"{regime:20s} {seed:4d} {c['predicted']:6d} {c['true']:5d} {c['error_pct']:+8.1f}% "
                  f"{s['f1'] or 0.0:5.2f}  {cams}", flush=True)
    print("\nworst |count error|: " + ", ".join(f"{r} {max(v):.1f}%" for r, v in worst.items()))
    print(f"runs kept in {work}" if args.keep else f"runs in {work} (temporary)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
