"""All exports at once into a result folder (flowers.csv is what mars-eval reads)."""
from __future__ import annotations

from pathlib import Path
from typing import Dict, Union

from mars_fusion.exports.csv_export import write_csv
from mars_fusion.exports.geojson_export import write_geojson
from mars_fusion.exports.kml_export import write_kml
from mars_fusion.exports.png_export import write_png
from mars_fusion.snapshot import MapSnapshot


def write_all(snapshot: MapSnapshot, out_dir: Union[str, Path], picture: bool = True) -> Dict[str, Path]:
    """flowers.csv, flowers.geojson, flowers.kml and (optionally) map.png in out_dir."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = {"csv": write_csv(snapshot, out / "flowers.csv"), "geojson": write_geojson(snapshot, out / "flowers.geojson"),
             "kml": write_kml(snapshot, out / "flowers.kml")}
    if picture:
        files["png"] = write_png(snapshot, out / "map.png")
    return files
