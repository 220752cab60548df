"""The local ``map`` frame at a geodetic datum and its conversion to and from WGS-84 (pyproj, UTM).

``map`` is the UTM grid of the zone containing the datum, shifted so that the datum is (0, 0, 0):
x = easting - easting(datum) (east), y = northing - northing(datum) (north), z = ellipsoidal height -
height(datum) (up). Over a field (hundreds of metres) this is ENU up to the UTM grid convergence
(about 1 degree in south Georgia) and scale (0.9996..1.0004); the simulator, its truth files and any
consumer using MapDatum agree exactly.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Tuple

import numpy as np
from pyproj import CRS, Transformer


def utm_epsg(latitude: float, longitude: float) -> int:
    """EPSG code of the WGS-84 UTM zone containing the point (326xx north, 327xx south)."""
    if not (-80.0 <= latitude <= 84.0) or not (-180.0 <= longitude <= 180.0):
        raise ValueError(f"datum latitude/longitude outside UTM coverage: {latitude}, {longitude}")
    zone = int((longitude + 180.0) // 6.0) % 60 + 1
    return (32600 if latitude >= 0 else 32700) + zone


@dataclass(frozen=True)
class MapDatum:
    """Converts map-frame metres to latitude/longitude/altitude and back."""

    latitude: float
    longitude: float
    altitude: float = 0.0

    def __post_init__(self) -> None:
        epsg = utm_epsg(self.latitude, self.longitude)
        to_utm = Transformer.from_crs(CRS.from_epsg(4326), CRS.from_epsg(epsg), always_xy=True)
        e0, n0 = to_utm.transform(self.longitude, self.latitude)
        object.__setattr__(self, "_epsg", epsg)
        object.__setattr__(self, "_to_utm", to_utm)
        object.__setattr__(self, "_to_geo", Transformer.from_crs(CRS.from_epsg(epsg), CRS.from_epsg(4326),
                                                                 always_xy=True))
        object.__setattr__(self, "_origin", (float(e0), float(n0)))

    @property
    def utm_epsg(self) -> int:
        """EPSG code of the UTM zone used for the map frame."""
        return int(getattr(self, "_epsg"))

    def geodetic_from_map(self, x: np.ndarray, y: np.ndarray, z: np.ndarray | float = 0.0
                          ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Latitude, longitude (degrees) and altitude (m) of map points."""
        e0, n0 = getattr(self, "_origin")
        lon, lat = getattr(self, "_to_geo").transform(np.asarray(x, dtype=float) + e0,
                                                      np.asarray(y, dtype=float) + n0)
        alt = np.asarray(z, dtype=float) + self.altitude
        return np.asarray(lat, dtype=float), np.asarray(lon, dtype=float), np.broadcast_to(alt, np.shape(lat)).copy()

    def map_from_geodetic(self, latitude: np.ndarray, longitude: np.ndarray, altitude: np.ndarray | float = 0.0
                          ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Map x, y, z (m) of geodetic points."""
        e0, n0 = getattr(self, "_origin")
        e, n = getattr(self, "_to_utm").transform(np.asarray(longitude, dtype=float), np.asarray(latitude, dtype=float))
        z = np.asarray(altitude, dtype=float) - self.altitude
        x = np.asarray(e, dtype=float) - e0
        return x, np.asarray(n, dtype=float) - n0, np.broadcast_to(z, np.shape(x)).copy()
