"""The GNSS offset between the current pass and the flowers an earlier pass mapped nearby, by point-set voting.

With RTK float (or worse) a second look at the same flowers, minutes later, is displaced by the change of the
receiver bias: decimetres, more than the flower spacing, so a per-flower gate either joins neighbours or misses
the flower. The bias changes slowly, so all tracks of the last seconds share one displacement: each track votes
with the displacements to the earlier-pass flowers around it, and the displacement most tracks agree on (a
robust mode, as in RANSAC with a one-point model) is the offset. Tracks then merge with earlier flowers within
the tight radius the agreement allows instead of the GNSS uncertainty.
"""
from __future__ import annotations

import bisect
import math
from collections import deque
from dataclasses import dataclass
from typing import Deque, Dict, List, Optional, Tuple, Union

import numpy as np

from mars_core.jit import kernel, register_warm_up


@dataclass(frozen=True)
class PassOffset:
    """Displacement (m) to add to a current-pass position to compare it with earlier-pass flowers."""

    stamp_ns: int
    offset: np.ndarray       # (2,)
    spread_m: float          # RMS disagreement of the supporting tracks (the registration residual)
    support: int             # distinct earlier flowers the agreeing tracks matched
    voters: int              # tracks that had earlier-pass flowers around them
    reference_ns: int        # median time the matched earlier flowers were last seen (the earlier pass)


def opposite_heading(yaw_a: Union[float, np.ndarray], yaw_b: float) -> np.ndarray:
    """True where two headings differ by more than 90 degrees: the robot drove the other way, so the views
    belong to another pass even seconds apart (the far end of a row before and after the headland turn)."""
    d = np.abs(np.angle(np.exp(1j * (np.asarray(yaw_a, dtype=np.float64) - yaw_b))))
    return np.nan_to_num(d, nan=0.0) > 0.5 * np.pi


def consensus_offset(votes: np.ndarray, owner: np.ndarray, flower_of: np.ndarray, bandwidth_m: float,
                     min_support: int) -> Optional[Tuple[np.ndarray, float, int, np.ndarray]]:
    """The displacement most voters agree on: votes (V, 2), the voter of each (V,), the earlier flower of each
    (V,). Returns (offset (2,), RMS residual, distinct earlier flowers supporting it, chosen vote indices) or None
    when fewer than min_support distinct flowers, or fewer than half the voters, agree within the bandwidth."""
    voters = int(owner.max()) + 1 if owner.shape[0] else 0
    if voters < min_support:
        return None
    h2 = bandwidth_m ** 2
    votes = np.ascontiguousarray(votes, dtype=np.float64)
    support = vote_support(votes, np.ascontiguousarray(owner, dtype=np.int64), voters, h2)
    members = [np.flatnonzero(owner == k) for k in range(voters)]
    centre = votes[int(np.argmax(support))]
    chosen = np.zeros(0, np.int64)
    for _ in range(3):   # refine: mean of each voter's vote nearest the centre, within the bandwidth
        dist2 = np.sum((votes - centre) ** 2, axis=1)
        nearest = np.array([mine[int(np.argmin(dist2[mine]))] for mine in members])
        chosen = nearest[dist2[nearest] <= h2]
        if chosen.shape[0] == 0:
            return None
        centre = votes[chosen].mean(axis=0)
    # The tracks of one flower (several cameras, fragments) all pick the same earlier flower: only distinct
    # earlier flowers are independent evidence. A mode shared by fewer than half the voters is as likely a
    # neighbour pattern as the offset.
    distinct = int(np.unique(flower_of[chosen]).shape[0])
    if distinct < min_support or 2 * chosen.shape[0] < voters:
        return None
    spread = float(np.sqrt(np.mean(np.sum((votes[chosen] - centre) ** 2, axis=1))))
    return centre.copy(), spread, distinct, chosen


@kernel
def vote_support(votes: np.ndarray, owner: np.ndarray, voters: int, h2: float) -> np.ndarray:
    """Support (V,) of each vote (V, 2): the distinct voters (owner, 0..voters-1) with a vote within sqrt(h2).

    The votes are swept in x order, so each vote looks only at those within the bandwidth in x (a V x V
    distance matrix took seconds per track on crowded re-visited maps). The test is the squared distance
    dx * dx + dy * dy <= h2; the x window has a little slack so that rounding never drops a candidate.
    """
    n = votes.shape[0]
    order = np.argsort(votes[:, 0])
    reach = math.sqrt(h2) * (1.0 + 1e-9) + 1e-12
    last_counted = np.empty(voters, np.int64)   # the vote a voter was last counted for
    last_counted[:] = -1
    support = np.zeros(n, np.int64)
    for a in range(n):
        i = order[a]
        b = a
        while b > 0 and votes[i, 0] - votes[order[b - 1], 0] <= reach:
            b -= 1
        while b < n and votes[order[b], 0] - votes[i, 0] <= reach:
            j = order[b]
            dx = votes[i, 0] - votes[j, 0]
            dy = votes[i, 1] - votes[j, 1]
            if dx * dx + dy * dy <= h2 and last_counted[owner[j]] != i:
                last_counted[owner[j]] = i
                support[i] += 1
            b += 1
    return support


@register_warm_up
def compile_pass_alignment_kernels() -> None:
    """Compile (or load) vote_support for the types consensus_offset passes."""
    vote_support(np.zeros((2, 2)), np.zeros(2, np.int64), 1, 0.01)


class PassOffsetEstimator:
    """Votes of recent tracks -> the current pass-to-map offset (None while too few tracks agree)."""

    def __init__(self, window_s: float, bandwidth_m: float, min_support: int) -> None:
        self.window_ns = int(window_s * 1e9)
        self.bandwidth_m = bandwidth_m
        self.min_support = min_support
        # (track's last stamp, (k, 2) displacements, (k,) earlier flower of each, (k,) when that flower was seen)
        self._votes: Deque[Tuple[int, np.ndarray, np.ndarray, np.ndarray]] = deque()
        self.history: List[PassOffset] = []                    # every confident estimate, in stamp order
        self._history_ns: List[int] = []
        self._newest_ns = 0

    def add(self, stamp_ns: int, displacements: np.ndarray, flowers: np.ndarray, seen_ns: np.ndarray) -> None:
        """The displacements (earlier flower - track position) of one track to the earlier flowers around it,
        with those flowers' indices and last-seen stamps."""
        self._votes.append((int(stamp_ns), np.asarray(displacements, dtype=np.float64).reshape(-1, 2),
                            np.asarray(flowers, dtype=np.int64).reshape(-1), np.asarray(seen_ns, np.int64).reshape(-1)))
        self._newest_ns = max(self._newest_ns, int(stamp_ns))
        while self._votes and self._votes[0][0] < self._newest_ns - 2 * self.window_ns:
            self._votes.popleft()

    def estimate(self, stamp_ns: int) -> Optional[PassOffset]:
        """The offset the tracks within half a window of stamp_ns (before and after) agree on, or None."""
        half = self.window_ns // 2
        recent = [(v, f, s) for t, v, f, s in self._votes if v.shape[0] and abs(t - stamp_ns) <= half]
        if len(recent) < self.min_support:
            return None
        votes = np.concatenate([v for v, _, _ in recent])
        owner = np.repeat(np.arange(len(recent)), [v.shape[0] for v, _, _ in recent])
        found = consensus_offset(votes, owner, np.concatenate([f for _, f, _ in recent]), self.bandwidth_m,
                                 self.min_support)
        if found is None:
            return None
        centre, spread, distinct, chosen = found
        seen = np.concatenate([s for _, _, s in recent])
        result = PassOffset(int(stamp_ns), centre, spread, distinct, len(recent), int(np.median(seen[chosen])))
        if not self._history_ns or stamp_ns >= self._history_ns[-1]:
            self.history.append(result)
            self._history_ns.append(result.stamp_ns)
        return result

    def offset_around(self, stamp_ns: int) -> Optional[PassOffset]:
        """The median of the estimates within half a window of stamp_ns, before and after (None without any):
        a flower settled seconds after it was seen uses the tracks that came after it too."""
        half = self.window_ns // 2
        lo = bisect.bisect_left(self._history_ns, stamp_ns - half)
        hi = bisect.bisect_right(self._history_ns, stamp_ns + half)
        if hi <= lo:
            return None
        near = self.history[lo:hi]
        offsets = np.array([e.offset for e in near])
        centre = np.median(offsets, axis=0)
        spread = max(float(np.median([e.spread_m for e in near])),
                     float(np.sqrt(np.mean(np.sum((offsets - centre) ** 2, axis=1)))))
        mid = near[len(near) // 2]
        return PassOffset(int(stamp_ns), centre, spread, mid.support, mid.voters, mid.reference_ns)

    def clear(self) -> None:
        """Forget the votes (new session)."""
        self._votes.clear()
        self._newest_ns = 0


def revisits(history: List[PassOffset], gap_s: float = 10.0) -> List[Dict[str, float]]:
    """The stretches of driving over flowers an earlier pass mapped, each with its median offset (m), the median
    registration residual and when the earlier pass was there (ns): the pass-to-pass GNSS offsets to report."""
    out: List[Dict[str, float]] = []
    start = 0
    for i in range(1, len(history) + 1):
        if i < len(history) and history[i].stamp_ns - history[i - 1].stamp_ns <= gap_s * 1e9:
            continue
        part = history[start:i]
        offsets = np.array([e.offset for e in part])
        out.append({"from_ns": part[0].stamp_ns, "to_ns": part[-1].stamp_ns,
                    "earlier_pass_ns": int(np.median([e.reference_ns for e in part])),
                    "offset_x_m": float(np.median(offsets[:, 0])), "offset_y_m": float(np.median(offsets[:, 1])),
                    "residual_m": float(np.median([e.spread_m for e in part])), "estimates": len(part)})
        start = i
    return out
