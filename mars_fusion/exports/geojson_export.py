"""GeoJSON export (RFC 7946: WGS-84 lon/lat), opens in QGIS."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, Union

import numpy as np

from mars_fusion.snapshot import MapSnapshot


def geojson_dict(snapshot: MapSnapshot) -> Dict[str, Any]:
    """A FeatureCollection: one Point per flower, plus the robot path as a LineString."""
    f = snapshot.flowers
    features = []
    for i in range(len(f)):
        features.append({
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [round(float(snapshot.longitude[i]), 9),
                                                          round(float(snapshot.latitude[i]), 9),
                                                          round(float(snapshot.altitude[i]), 3)]},
            "properties": {"id": int(f.ids[i]), "x": round(float(f.xyz[i, 0]), 4), "y": round(float(f.xyz[i, 1]), 4),
                           "sd_m": round(float(np.sqrt(max(0.5 * (f.cov[i, 0, 0] + f.cov[i, 1, 1]), 0.0))), 4),
                           "observations": int(f.n_obs[i]), "cameras": ",".join(snapshot.cameras(i)),
                           "plot_id": str(snapshot.plot_ids[i]), "kind": "flower"},
        })
    return {"type": "FeatureCollection", "features": features}


def write_geojson(snapshot: MapSnapshot, path: Union[str, Path], path_lonlat: Any = None) -> Path:
    """Write the flowers (and optionally the robot path, (M, 2) lon/lat) as GeoJSON."""
    data = geojson_dict(snapshot)
    if path_lonlat is not None and len(path_lonlat) >= 2:
        data["features"].append({"type": "Feature", "properties": {"kind": "robot_path"},
                                 "geometry": {"type": "LineString",
                                              "coordinates": [[round(float(lo), 9), round(float(la), 9)]
                                                              for lo, la in path_lonlat]}})
    out = Path(path)
    out.write_text(json.dumps(data))
    return out
