"""Validation of NavSatFix messages: what is usable, with a counted reason for everything rejected."""
from __future__ import annotations

import math
from collections import Counter
from typing import Dict, Optional

from mars_core.observations import COVARIANCE_TYPE_UNKNOWN, GnssFix


class FixValidator:
    """Accepts or rejects fixes (no fix, NaN, out of range, bad or too large covariance) and counts why."""

    def __init__(self, min_status: int, default_sd_m: float, max_sd_m: float) -> None:
        self.min_status = min_status
        self.default_sd_m = default_sd_m
        self.max_sd_m = max_sd_m
        self.rejected: Counter = Counter()
        self.accepted = 0

    def horizontal_sd(self, fix: GnssFix) -> Optional[float]:
        """Horizontal sd (m) of a usable fix, or None (and the reason counted) when it must not be used."""
        reason = self._reject_reason(fix)
        if reason is not None:
            self.rejected[reason] += 1
            return None
        sd = self._sd(fix)
        if sd is None:
            self.rejected["bad_covariance"] += 1
            return None
        if sd > self.max_sd_m:
            self.rejected["covariance_too_large"] += 1
            return None
        self.accepted += 1
        return sd

    def _reject_reason(self, fix: GnssFix) -> Optional[str]:
        if fix.status < self.min_status:
            return "no_fix" if fix.status < 0 else "status_below_minimum"
        if not all(math.isfinite(v) for v in (fix.latitude, fix.longitude, fix.altitude)):
            return "nan_position"
        if not (-90.0 <= fix.latitude <= 90.0 and -180.0 <= fix.longitude <= 180.0):
            return "position_out_of_range"
        return None

    def _sd(self, fix: GnssFix) -> Optional[float]:
        if fix.covariance_type == COVARIANCE_TYPE_UNKNOWN:
            return self.default_sd_m
        cov = fix.position_covariance
        if len(cov) != 9:
            return None
        east, north = float(cov[0]), float(cov[4])
        if not (math.isfinite(east) and math.isfinite(north)) or east < 0 or north < 0:
            return None
        if east == 0.0 and north == 0.0:   # receivers that fill zeros mean "unknown"
            return self.default_sd_m
        return math.sqrt(0.5 * (east + north))

    def counts(self) -> Dict[str, int]:
        """Accepted count and rejected counts per reason."""
        out = {"accepted": self.accepted}
        out.update({f"rejected_{k}": v for k, v in sorted(self.rejected.items())})
        return out
