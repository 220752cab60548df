"""The local ``map`` frame at a geodetic datum and its conversion to and from WGS-84 (pyproj, UTM).

``map`` is the UTM grid of the zone containing the datum, shifted so that the datum is (0, 0, 0):
x = easting - easting(datum) (east), y = northing - northing(datum) (north), z = ellipsoidal height -
height(datum) (up). Over a field (hundreds of metres) this is ENU up to the UTM grid convergence
(about 1 degree in south Georgia) and scale (0.9996..1.0004); the simulator, its truth files and any
consumer using MapDatum agree exactly.
"""
from __future__ import annotations

from typing import Tuple, Union

import numpy as np

from mars_core.geometry.map_frame import MapFrame, utm_epsg

__all__ = ["MapDatum", "utm_epsg"]


class MapDatum(MapFrame):
    """The simulator's map frame: the fusion's MapFrame with the 'utm' projection (one implementation)."""

    def __init__(self, latitude: float, longitude: float, altitude: float = 0.0) -> None:
        super().__init__(float(latitude), float(longitude), float(altitude), "utm")

    @property
    def utm_epsg(self) -> int:
        """EPSG code of the UTM zone used for the map frame."""
        return utm_epsg(self.latitude, self.longitude)

    def geodetic_from_map(self, x: np.ndarray, y: np.ndarray, z: Union[np.ndarray, float] = 0.0
                          ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Latitude, longitude (degrees) and altitude (m) of map points."""
        return super().geodetic_from_map(x, y, z)

    def map_from_geodetic(self, latitude: np.ndarray, longitude: np.ndarray,
                          altitude: Union[np.ndarray, float] = 0.0) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Map x, y, z (m) of geodetic points."""
        return super().map_from_geodetic(latitude, longitude, altitude)
