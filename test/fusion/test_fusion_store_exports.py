"""Map store (atomic save, resume, corrupt files) and exports (CSV, GeoJSON, KML, PNG), plots."""
from __future__ import annotations

import csv
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from fusion_synthetic import DATUM, enu_config, feed, make_field
from mars_core.rig import ConfigError
from mars_fusion import FlowerMapper
from mars_fusion.exports import CSV_COLUMNS, write_csv, write_geojson, write_kml, write_png
from mars_fusion.map_store import MapStoreError, load_map
from mars_fusion.plots import PlotIndex, row_segment_ids, straight_runs
from mars_core.geometry.map_frame import MapFrame


@pytest.fixture(scope="module")
def mapped() -> FlowerMapper:
    field = make_field(n_flowers=12, gnss_sd=0.005, seed=11)
    mapper = FlowerMapper(enu_config(), field.rig)
    feed(mapper, field.messages)
    mapper.finalize()
    assert mapper.count() > 5
    return mapper


def test_save_and_resume_keeps_flowers_ids_and_datum(mapped: FlowerMapper, tmp_path: Path) -> None:
    path = tmp_path / "map.npz"
    mapped.save(path)
    resumed = FlowerMapper.resume(enu_config(datum_latitude=None, datum_longitude=None, datum_altitude=None),
                                  mapped.rig, path)
    a, b = mapped.flowers(), resumed.flowers()
    assert resumed.count() == mapped.count()
    np.testing.assert_array_equal(a.ids, b.ids)
    np.testing.assert_allclose(a.xyz, b.xyz)
    np.testing.assert_allclose(a.cov, b.cov, rtol=1e-9, atol=1e-15)
    assert resumed.map_frame == mapped.map_frame
    assert resumed.flower_map.next_id == mapped.flower_map.next_id
    np.testing.assert_allclose(resumed.flower_map.store_columns()["score_sum"],
                               mapped.flower_map.store_columns()["score_sum"])
    # the same drive again after the restart: flowers are found again, none added
    field = make_field(n_flowers=12, gnss_sd=0.005, seed=11, start_ns=1_700_000_500_000_000_000)
    feed(resumed, field.messages)
    resumed.finalize()
    assert resumed.count() == mapped.count()


def test_missing_file_resumes_empty(tmp_path: Path) -> None:
    assert load_map(tmp_path / "none.npz") is None


def test_corrupt_file_is_a_clear_error_and_left_untouched(mapped: FlowerMapper, tmp_path: Path) -> None:
    path = tmp_path / "map.npz"
    mapped.save(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])         # a torn write of some other tool
    before = path.read_bytes()
    with pytest.raises(MapStoreError, match=str(path)):
        FlowerMapper.resume(enu_config(), mapped.rig, path)
    assert path.read_bytes() == before
    path.write_text("not a map")
    with pytest.raises(MapStoreError, match="corrupt"):
        load_map(path)


def test_crash_during_save_keeps_the_previous_map(mapped: FlowerMapper, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "map.npz"
    mapped.save(path)
    good = path.read_bytes()

    def crash(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")
    monkeypatch.setattr(np, "savez", crash)
    with pytest.raises(OSError, match="disk full"):
        mapped.save(path)
    assert path.read_bytes() == good
    assert [p.name for p in tmp_path.iterdir()] == ["map.npz"]       # no temp files left behind


def test_csv_geojson_kml_png(mapped: FlowerMapper, tmp_path: Path) -> None:
    snap = mapped.snapshot()
    n = len(snap)
    with open(write_csv(snap, tmp_path / "flowers.csv")) as fh:
        rows = list(csv.DictReader(fh))
    assert tuple(rows[0].keys()) == CSV_COLUMNS and len(rows) == n
    frame = MapFrame(*DATUM)
    x, y, _ = frame.map_from_geodetic(np.array([float(r["lat"]) for r in rows]),
                                      np.array([float(r["lon"]) for r in rows]), np.zeros(n))
    np.testing.assert_allclose(x, [float(r["x"]) for r in rows], atol=1e-3)
    np.testing.assert_allclose(y, [float(r["y"]) for r in rows], atol=1e-3)
    gj = json.loads(write_geojson(snap, tmp_path / "flowers.geojson").read_text())
    pts = [f for f in gj["features"] if f["geometry"]["type"] == "Point"]
    assert len(pts) == n
    lon, lat = pts[0]["geometry"]["coordinates"][:2]                # RFC 7946: lon first
    assert lon == pytest.approx(float(rows[0]["lon"]), abs=1e-8) and lat == pytest.approx(float(rows[0]["lat"]), abs=1e-8)
    root = ET.parse(write_kml(snap, tmp_path / "flowers.kml")).getroot()
    ns = {"k": "http://www.opengis.net/kml/2.2"}
    assert len(root.findall(".//k:Placemark", ns)) == n
    png = write_png(snap, tmp_path / "map.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000


def test_write_all_makes_a_result_folder(mapped: FlowerMapper, tmp_path: Path) -> None:
    from mars_fusion.exports import write_all
    files = write_all(mapped.snapshot(), tmp_path / "result")
    assert sorted(p.name for p in (tmp_path / "result").iterdir()) == ["flowers.csv", "flowers.geojson",
                                                                     "flowers.kml", "map.png"]
    assert set(files) == {"csv", "geojson", "kml", "png"}


def test_plots_from_geojson_count_flowers(mapped: FlowerMapper) -> None:
    frame = mapped.map_frame
    assert frame is not None

    def square(x0: float, x1: float) -> list:
        xs, ys = np.array([x0, x1, x1, x0, x0]), np.array([-2.0, -2.0, 2.0, 2.0, -2.0])
        lat, lon, _ = frame.geodetic_from_map(xs, ys, np.zeros(5))
        return [[float(a), float(b)] for a, b in zip(lon, lat)]
    plots = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"plot_id": "P1"}, "geometry": {"type": "Polygon", "coordinates": [square(0, 4)]}},
        {"type": "Feature", "properties": {"plot_id": "P2"}, "geometry": {"type": "Polygon", "coordinates": [square(4, 8)]}},
    ]}
    mapped.set_plots(plots)
    snap = mapped.snapshot()
    x = snap.flowers.xyz[:, 0]
    assert snap.counts_per_plot() == {k: v for k, v in {"P1": int((x < 4).sum()), "P2": int((x >= 4).sum())}.items() if v}
    mapped.plots = None
    with pytest.raises(ConfigError, match="plot_id"):
        PlotIndex.from_geojson({"type": "FeatureCollection", "features": [
            {"type": "Feature", "properties": {"name": "x"}, "geometry": {"type": "Polygon",
                                                                         "coordinates": [square(0, 1)]}}]}, frame)


def test_row_segments_without_plots() -> None:
    path = np.array([[0.0, 0.0], [10.0, 0.0], [11.0, 0.5], [11.0, 1.0], [10.0, 1.0], [0.0, 1.0]])
    runs = straight_runs(path)
    assert len(runs) == 2
    ids = row_segment_ids(np.array([[2.0, 0.1], [7.0, -0.1], [3.0, 0.9]]), path, segment_length_m=5.0)
    assert ids.tolist() == ["pass00_seg000", "pass00_seg001", "pass01_seg001"]
