"""The map's change log (ROS-free): applying the published changes in order rebuilds exactly the map, and a
publication carries only what changed."""
from __future__ import annotations

from collections import Counter
from typing import Any, Dict, Tuple

import numpy as np

from fusion_synthetic import enu_config, make_field
from mars_fusion import FlowerMapper
from mars_fusion.map_changes import MapChangeTracker, MapChanges, first_camera, tile_keys
from mars_fusion.map_store import MapState


class Consumer:
    """A live subscriber's copy of the map, kept only from MapChanges."""

    def __init__(self) -> None:
        self.flowers: Dict[int, Tuple[Any, ...]] = {}
        self.tiles: Dict[int, Tuple[np.ndarray, np.ndarray]] = {}
        self.sequence = 0
        self.removed = 0

    def apply(self, changes: MapChanges) -> None:
        assert changes.sequence == self.sequence + 1
        self.sequence = changes.sequence
        if changes.full:
            assert changes.removed_ids.size == 0
            self.flowers.clear()
            self.tiles.clear()
        for fid in changes.removed_ids.tolist():
            del self.flowers[fid]
            self.removed += 1
        self.flowers.update(rows(changes.changed))
        for key, content in changes.tiles.items():
            if content[0].shape[0]:
                self.tiles[key] = content
            else:
                self.tiles.pop(key, None)
        assert len(self.flowers) == changes.total


def rows(snapshot: Any) -> Dict[int, Tuple[Any, ...]]:
    """Flower id -> every published field (plot id last)."""
    t = snapshot.flowers
    return {int(t.ids[i]): (tuple(t.xyz[i]), tuple(t.cov[i].ravel()), int(t.n_obs[i]), tuple(snapshot.cameras(i)),
                            int(t.first_ns[i]), int(t.last_ns[i]), float(snapshot.latitude[i]),
                            float(snapshot.longitude[i]), float(snapshot.altitude[i]), str(snapshot.plot_ids[i]))
            for i in range(len(snapshot))}


def check_against_map(consumer: Consumer, mapper: FlowerMapper, changes: MapChanges, plots_too: bool) -> None:
    truth = rows(mapper.snapshot())
    assert set(consumer.flowers) == set(truth)
    for fid, fields in truth.items():
        mine = consumer.flowers[fid]
        assert mine[:-1] == fields[:-1], fid
        if plots_too:
            assert mine[-1] == fields[-1], fid
    assert changes.per_camera == mapper.counts_per_camera()
    assert changes.per_plot == dict(sorted(Counter(f[-1] for f in consumer.flowers.values()).items()))
    # The tiles hold every flower once, in the tile of its position, coloured by its first camera.
    table = mapper.flowers()
    expected = Counter(zip(tile_keys(table.xyz[:, :2], 5.0).tolist(), map(tuple, table.xyz.tolist()),
                           first_camera(table.camera_mask).tolist()))
    shown = Counter((key, tuple(p), int(c)) for key, (xyz, cams) in consumer.tiles.items()
                    for p, c in zip(xyz.tolist(), cams.tolist()))
    assert shown == expected


def drive(mapper: FlowerMapper, tracker: MapChangeTracker, consumer: Consumer, messages: Any, every: int,
          full_every: int) -> int:
    """Feed messages, publishing every `every` of them (a full map every `full_every` publications)."""
    publications = 0
    for k, (_, _, payload) in enumerate(messages):
        mapper.add(payload)
        if k % every == every - 1 and mapper.map_frame is not None:
            publications += 1
            full = publications % full_every == 0
            for changes in tracker.publish(full=full):
                consumer.apply(changes)
            check_against_map(consumer, mapper, changes, plots_too=full)
    return publications


def test_changes_rebuild_the_map_through_merges_and_two_passes() -> None:
    there = make_field(n_flowers=30, length_m=12.0, gnss_sd=0.01, box_sd_px=1.0, seed=11)
    back = make_field(flowers_xyz=there.flowers_xyz, length_m=12.0, gnss_sd=0.01, box_sd_px=1.0, seed=12,
                      direction=-1.0, start_ns=there.start_ns + 60 * 10 ** 9)
    mapper = FlowerMapper(enu_config(min_flower_mean_score=0.5), there.rig)
    tracker = MapChangeTracker(mapper)
    consumer = Consumer()
    assert drive(mapper, tracker, consumer, there.messages + back.messages, every=97, full_every=7) > 20
    mapper.finalize()   # consolidation merges flowers: removed ids name the flower they went into
    changes = tracker.publish()[-1]
    consumer.apply(changes)
    check_against_map(consumer, mapper, changes, plots_too=False)
    last = tracker.publish(full=True)
    for c in last:
        consumer.apply(c)
    assert last[-1].full and len(last) == 2
    check_against_map(consumer, mapper, last[-1], plots_too=True)
    assert mapper.flower_map.counters["tracks_merged"] > 0


def test_flowers_the_row_swath_leaves_to_a_neighbouring_row_leave_the_published_map() -> None:
    # Beyond RTK fixed the own row's swath decides which flowers are reported: when it moves, flowers stop
    # (or start) being reported without being written, and the changes say so.
    from mars_fusion.flower_map.row_swath import RowSwath

    rng = np.random.default_rng(7)
    flowers = np.column_stack([np.sort(rng.uniform(1.5, 10.5, 30)), np.tile([-0.45, 0.0, 0.45], 10),
                               rng.uniform(0.5, 1.0, 30)])
    field = make_field(flowers_xyz=flowers, length_m=12.0, gnss_sd=0.06, box_sd_px=1.0, seed=8)
    mapper = FlowerMapper(enu_config(), field.rig)
    tracker = MapChangeTracker(mapper)
    consumer = Consumer()
    drive(mapper, tracker, consumer, field.messages, every=61, full_every=9)
    mapper.finalize()
    consumer.apply(tracker.publish()[0])
    store = mapper.flower_map
    assert store.row_swath() is not None        # the neighbouring rows were seen: their flowers are not counted
    counted, alive = mapper.count(), int(np.count_nonzero(store.column("alive")))
    for swath in (RowSwath(None, None), RowSwath(0.2, 0.2)):
        store._swath, store._swath_tracks = swath, 10 ** 9     # as if re-derived from many more tracks
        changes = tracker.publish()[0]
        consumer.apply(changes)
        check_against_map(consumer, mapper, changes, plots_too=False)
        if swath.left_m is None:
            assert mapper.count() == alive > counted and len(changes.changed) == mapper.count() - counted
        else:
            assert changes.removed_ids.size == alive - mapper.count() > 0 and not changes.merged_into.any()


def test_removed_flowers_name_the_flower_they_were_merged_into() -> None:
    field = make_field(n_flowers=20, gnss_sd=0.01, box_sd_px=1.0, seed=5)
    mapper = FlowerMapper(enu_config(), field.rig)
    tracker = MapChangeTracker(mapper)
    consumer = Consumer()
    drive(mapper, tracker, consumer, field.messages, every=50, full_every=1000)
    store = mapper.flower_map
    keep, gone = (int(r) for r in np.flatnonzero(store.column("alive"))[:2])
    store._absorb_columns(keep, gone)
    changes = tracker.publish()[0]
    consumer.apply(changes)
    gone_id, keep_id = int(store.column("ids")[gone]), int(store.column("ids")[keep])
    assert changes.removed_ids.tolist() == [gone_id] and changes.merged_into.tolist() == [keep_id]
    assert int(changes.changed.flowers.ids[0]) == keep_id and len(changes.changed) == 1
    check_against_map(consumer, mapper, changes, plots_too=False)


def test_a_publication_carries_what_changed_not_the_map() -> None:
    field = make_field(n_flowers=8, gnss_sd=0.01, seed=2)
    mapper = FlowerMapper(enu_config(), field.rig)
    n = 100_000
    rng = np.random.default_rng(0)
    arrays = {"ids": np.arange(1, n + 1, dtype=np.int64),
              "xyz": np.column_stack([rng.uniform(-500, -100, n), rng.uniform(-50, 50, n), np.full(n, 0.8)]),
              "cov": np.tile(np.eye(2) * 1e-4, (n, 1, 1)), "n_obs": np.full(n, 20), "n_tracks": np.full(n, 2),
              "camera_mask": np.full(n, 1), "first_ns": np.full(n, 10 ** 18, np.int64),
              "last_ns": np.full(n, 10 ** 18, np.int64), "gnss_var": np.full(n, 1e-4), "score_sum": np.full(n, 18.0),
              "path_xy": np.zeros((0, 2))}
    from fusion_synthetic import DATUM
    mapper.restore(MapState(DATUM, "enu", field.rig.camera_names, n + 1, arrays, {}))
    tracker = MapChangeTracker(mapper)
    first = tracker.publish()
    assert len(first) == 1 and first[0].full and len(first[0].changed) == n
    consumer = Consumer()
    consumer.apply(first[0])
    sizes = []
    for _, _, payload in field.messages:
        mapper.add(payload)
        changes = tracker.publish()[0]
        consumer.apply(changes)
        sizes.append((len(changes.changed), sum(xyz.shape[0] for xyz, _ in changes.tiles.values())))
    mapper.finalize()
    consumer.apply(tracker.publish()[0])
    # The new flowers lie far from the restored ones: no publication touches the 100k restored flowers.
    assert max(s for s, _ in sizes) <= 8 and max(t for _, t in sizes) <= 8
    assert len(consumer.flowers) == mapper.count() > n
    check_against_map(consumer, mapper, changes, plots_too=False)


def test_the_offline_mapper_keeps_no_change_log() -> None:
    field = make_field(n_flowers=6, seed=1)
    mapper = FlowerMapper(enu_config(), field.rig)
    for _, _, payload in field.messages:
        mapper.add(payload)
    assert mapper.flower_map.change_log is None
