"""Count score: predicted vs true number of flowers."""
from __future__ import annotations

from typing import Dict


def count_scores(predicted: int, true: int) -> Dict[str, float]:
    """Predicted vs true count with signed and absolute percentage error."""
    error_pct = 100.0 * (predicted - true) / true if true else float("nan")
    return {"predicted": int(predicted), "true": int(true), "error": int(predicted - true),
            "error_pct": error_pct, "abs_error_pct": abs(error_pct)}
