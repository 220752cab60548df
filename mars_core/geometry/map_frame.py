"""The local ``map`` frame at a datum: WGS-84 <-> metres, with pyproj.

'enu' is the topocentric East-North-Up frame at the datum (REP-105 ``map``); 'utm' is the UTM grid of the
datum's zone shifted so that the datum is the origin (what mars_sim's truth files use).

A heading from true north/east (a REP-103 IMU, a compass) is not a map heading: the map's y axis is grid
north (utm) or true north at the datum (enu), which differ from true north at the robot by the grid
convergence, ``MapFrame.grid_convergence_rad``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Tuple, Union

import numpy as np
from pyproj import CRS, Proj, Transformer


def utm_epsg(latitude: float, longitude: float) -> int:
    """EPSG code of the WGS-84 UTM zone containing the point (326xx north, 327xx south)."""
    if not (-80.0 <= latitude <= 84.0) or not (-180.0 <= longitude <= 180.0):
        raise ValueError(f"datum latitude/longitude outside UTM coverage: {latitude}, {longitude}")
    zone = int((longitude + 180.0) // 6.0) % 60 + 1
    return (32600 if latitude >= 0 else 32700) + zone


@dataclass(frozen=True)
class MapFrame:
    """Converts between geodetic coordinates and map metres for one datum and projection."""

    latitude: float
    longitude: float
    altitude: float = 0.0
    projection: str = "enu"
    _forward: Any = field(default=None, init=False, repr=False, compare=False)
    _origin: Tuple[float, float] = field(default=(0.0, 0.0), init=False, repr=False, compare=False)
    _utm_proj: Any = field(default=None, init=False, repr=False, compare=False)   # made on first use

    def __post_init__(self) -> None:
        if not (np.isfinite(self.latitude) and np.isfinite(self.longitude) and np.isfinite(self.altitude)):
            raise ValueError(f"map datum must be finite, got {self.latitude}, {self.longitude}, {self.altitude}")
        if not -90.0 <= self.latitude <= 90.0 or not -180.0 <= self.longitude <= 180.0:
            raise ValueError(f"map datum outside WGS-84 range: lat {self.latitude}, lon {self.longitude}")
        if self.projection == "enu":
            forward = Transformer.from_pipeline(
                f"+proj=pipeline +step +proj=cart +ellps=WGS84 +step +proj=topocentric +ellps=WGS84 "
                f"+lat_0={self.latitude!r} +lon_0={self.longitude!r} +h_0={self.altitude!r}")
            origin = (0.0, 0.0)
        elif self.projection == "utm":
            forward = Transformer.from_crs(CRS.from_epsg(4326), CRS.from_epsg(utm_epsg(self.latitude, self.longitude)),
                                           always_xy=True)
            e0, n0 = forward.transform(self.longitude, self.latitude)
            origin = (float(e0), float(n0))
        else:
            raise ValueError(f"map projection must be 'enu' or 'utm', got {self.projection!r}")
        object.__setattr__(self, "_forward", forward)
        object.__setattr__(self, "_origin", origin)

    def map_from_geodetic(self, latitude: np.ndarray, longitude: np.ndarray, altitude: Union[np.ndarray, float]
                          ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Map x (east), y (north), z (up) in metres of WGS-84 points."""
        lat = np.asarray(latitude, dtype=np.float64)
        lon = np.asarray(longitude, dtype=np.float64)
        alt = np.broadcast_to(np.asarray(altitude, dtype=np.float64), lat.shape)
        if self.projection == "enu":
            x, y, z = self._forward.transform(lon, lat, alt)
            return np.asarray(x, float), np.asarray(y, float), np.asarray(z, float)
        e, n = self._forward.transform(lon, lat)
        return np.asarray(e, float) - self._origin[0], np.asarray(n, float) - self._origin[1], alt - self.altitude

    def geodetic_from_map(self, x: np.ndarray, y: np.ndarray, z: Union[np.ndarray, float]
                          ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Latitude, longitude (deg) and ellipsoidal altitude (m) of map points."""
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        z = np.broadcast_to(np.asarray(z, dtype=np.float64), x.shape)
        if self.projection == "enu":
            lon, lat, alt = self._forward.transform(x, y, z, direction="INVERSE")
            return np.asarray(lat, float), np.asarray(lon, float), np.asarray(alt, float)
        lon, lat = self._forward.transform(x + self._origin[0], y + self._origin[1], direction="INVERSE")
        return np.asarray(lat, float), np.asarray(lon, float), z + self.altitude

    def grid_convergence_rad(self, latitude: Union[np.ndarray, float], longitude: Union[np.ndarray, float]
                             ) -> np.ndarray:
        """Map yaw minus true yaw (rad) of one direction at WGS-84 points: add it to a true heading."""
        # = the angle from true north clockwise to the map's north (the surveyors' grid convergence).
        lat = np.asarray(latitude, dtype=np.float64)
        lon = np.asarray(longitude, dtype=np.float64)
        if self.projection == "utm":
            if self._utm_proj is None:
                object.__setattr__(self, "_utm_proj", Proj(CRS.from_epsg(utm_epsg(self.latitude, self.longitude))))
            # pyproj's meridian convergence (deg) is the grid yaw minus the true yaw (checked in the tests by
            # projecting two points along true north); about (lon - central meridian) * sin(lat).
            factors = self._utm_proj.get_factors(lon, lat)
            return np.radians(np.asarray(factors.meridian_convergence, dtype=np.float64))
        # enu is a rotation of ECEF: the point's true north (the ellipsoid's meridian tangent) rotates rigidly into
        # the map, and its map yaw minus pi/2 is the convergence; 0 at the datum, about (lon - lon0) * sin(lat)
        # away from it (1e-4 rad 1 km east of the datum at 30 deg).
        phi, lam = np.radians(lat), np.radians(lon)
        phi0, lam0 = np.radians(self.latitude), np.radians(self.longitude)
        north = np.stack([-np.sin(phi) * np.cos(lam), -np.sin(phi) * np.sin(lam), np.cos(phi)])
        east0 = np.array([-np.sin(lam0), np.cos(lam0), 0.0])
        north0 = np.array([-np.sin(phi0) * np.cos(lam0), -np.sin(phi0) * np.sin(lam0), np.cos(phi0)])
        along_east = np.tensordot(east0, north, axes=1)
        along_north = np.tensordot(north0, north, axes=1)
        return np.arctan2(-along_east, along_north)
