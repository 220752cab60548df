"""Scoring of counting runs: count error, map matching (Hungarian within a radius) and tracking per camera.

Python API: ``evaluate_run(truth_dir, result_dir, radius_m) -> dict`` (keys count, map, tracking, checks; radius_m
in metres or "auto"; ForeignResultError when the result cannot be the truth's run),
``evaluate_mot_files(gt_txt, tracks_txt)``, and the building blocks ``map_scores``, ``count_scores``,
``tracking_scores`` (HOTA via trackeval; MOTA, IDF1, ID switches via motmetrics). CLI: ``mars-eval``.
"""
from mars_sim.evaluation.count_metrics import count_scores
from mars_sim.evaluation.map_metrics import map_scores, match_flowers
from mars_sim.evaluation.mot_files import MotTable, read_mot, write_mot
from mars_sim.evaluation.run_evaluation import evaluate_mot_files, evaluate_run
from mars_sim.evaluation.tracking_metrics import tracking_scores

__all__ = ["count_scores", "map_scores", "match_flowers", "MotTable", "read_mot", "write_mot", "evaluate_mot_files",
           "evaluate_run", "tracking_scores"]
