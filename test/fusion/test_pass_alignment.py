"""Pass registration: the GNSS offset between two passes from the displacements tracks vote for."""
from __future__ import annotations

import numpy as np

from mars_fusion.flower_map.pass_alignment import PassOffsetEstimator, consensus_offset, opposite_heading, revisits


def _votes(rng, earlier, offset, n_tracks, noise):
    """Each track (a flower of the new pass, moved by -offset) votes for every earlier flower within 1 m."""
    tracks = earlier[rng.choice(earlier.shape[0], n_tracks, replace=False)] - offset
    tracks = tracks + rng.normal(0.0, noise, tracks.shape)
    out = []
    for p in tracks:
        d = earlier - p
        near = np.hypot(d[:, 0], d[:, 1]) <= 1.0
        out.append((d[near], np.flatnonzero(near)))
    return out


def test_the_offset_most_tracks_agree_on_is_found_among_neighbour_votes() -> None:
    rng = np.random.default_rng(3)
    earlier = np.column_stack([rng.uniform(0, 10, 120), rng.uniform(-0.3, 0.3, 120)])   # a dense row
    offset = np.array([0.23, -0.31])
    votes = _votes(rng, earlier, offset, 12, 0.01)
    owner = np.concatenate([np.full(v.shape[0], k) for k, (v, _) in enumerate(votes)])
    found = consensus_offset(np.concatenate([v for v, _ in votes]), owner, np.concatenate([f for _, f in votes]),
                             0.05, 5)
    assert found is not None
    centre, spread, distinct, _ = found
    assert np.hypot(*(centre - offset)) < 0.01 and spread < 0.03 and distinct >= 10


def test_tracks_of_one_flower_are_one_vote_and_noise_gives_no_offset() -> None:
    rng = np.random.default_rng(4)
    earlier = np.column_stack([rng.uniform(0, 10, 120), rng.uniform(-0.3, 0.3, 120)])
    one_flower = _votes(rng, earlier, np.array([0.2, 0.1]), 1, 0.0) * 6      # six cameras/fragments, one flower
    owner = np.concatenate([np.full(v.shape[0], k) for k, (v, _) in enumerate(one_flower)])
    assert consensus_offset(np.concatenate([v for v, _ in one_flower]), owner,
                            np.concatenate([f for _, f in one_flower]), 0.05, 5) is None
    # Tracks that see unrelated places (no common offset) do not make one up.
    scattered = [(rng.uniform(-1, 1, (8, 2)), rng.integers(0, 1000, 8)) for _ in range(12)]
    owner = np.concatenate([np.full(8, k) for k in range(12)])
    assert consensus_offset(np.concatenate([v for v, _ in scattered]), owner,
                            np.concatenate([f for _, f in scattered]), 0.05, 5) is None


def test_estimates_use_the_votes_around_a_stamp_and_group_into_revisits() -> None:
    rng = np.random.default_rng(5)
    earlier = np.column_stack([rng.uniform(0, 10, 120), rng.uniform(-0.3, 0.3, 120)])
    est = PassOffsetEstimator(window_s=4.0, bandwidth_m=0.05, min_support=5)
    offset = np.array([-0.12, 0.4])
    for k, (v, f) in enumerate(_votes(rng, earlier, offset, 12, 0.01)):
        est.add(100_000_000_000 + k * 200_000_000, v, f, np.full(f.shape[0], 40_000_000_000))
    found = est.estimate(101_000_000_000)
    assert found is not None and np.hypot(*(found.offset - offset)) < 0.01
    assert found.reference_ns == 40_000_000_000
    assert est.estimate(200_000_000_000) is None            # no votes near that stamp
    [revisit] = revisits(est.history)
    assert abs(revisit["offset_x_m"] - offset[0]) < 0.01 and revisit["estimates"] == 1


def test_opposite_heading() -> None:
    assert opposite_heading(np.array([0.0, 3.1, np.nan]), -3.1).tolist() == [True, False, False]


def test_vote_support_counts_distinct_voters_within_the_bandwidth() -> None:
    from mars_fusion.flower_map.pass_alignment import vote_support

    rng = np.random.default_rng(7)
    for n, voters in ((1, 1), (30, 5), (400, 40)):
        votes = np.round(rng.normal(0.0, 0.2, (n, 2)), 2)     # rounded: ties and exact-bandwidth distances
        owner = rng.integers(0, voters, n)
        h2 = 0.05 ** 2
        close = np.sum((votes[:, None, :] - votes[None, :, :]) ** 2, axis=2) <= h2   # the plain V x V reference
        expected = np.zeros(n, np.int64)
        for k in range(voters):
            expected += np.any(close[:, owner == k], axis=1)
        assert np.array_equal(vote_support(votes, owner, voters, h2), expected)
