"""Track observations -> geolocated track estimates (rays in map, robust triangulation with a height prior)."""
from mars_fusion.geolocation.track_accumulator import FinishedTrack, TrackAccumulator
from mars_fusion.geolocation.track_position import TrackEstimate, TrackGeolocator, triangulate_rays

__all__ = ["FinishedTrack", "TrackAccumulator", "TrackEstimate", "TrackGeolocator", "triangulate_rays"]
