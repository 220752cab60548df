"""The fusion configuration: one frozen, validated dataclass whose field metadata describes each parameter.

The ROS node declares its parameters from ``FusionConfig`` (name, default, ``description``); defaults live
only here. ``fusion_config_from_dict`` validates plain data (a YAML ``fusion`` section or ROS parameters)
and every error names the offending field.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Dict, Mapping, Optional

from mars_core.config_schema import ConfigError, check_config, config_field, config_from_dict

HEADING_SOURCES = ("auto", "imu", "course_over_ground")
HEADING_CONVENTIONS = ("enu", "compass")
HEADING_REFERENCES = ("true_north", "map")
MAP_PROJECTIONS = ("enu", "utm")


@dataclass(frozen=True)
class FusionConfig:
    """All fusion parameters (units in the names: _m metres, _s seconds, _rad radians, _px pixels)."""

    # --- map frame
    datum_latitude: Optional[float] = config_field(None, "WGS-84 latitude (deg) of the map origin; null = first good fix",
                                                   minimum=-90.0, maximum=90.0)
    datum_longitude: Optional[float] = config_field(None, "WGS-84 longitude (deg) of the map origin; null = first good fix",
                                                    minimum=-180.0, maximum=180.0)
    datum_altitude: Optional[float] = config_field(None, "ellipsoidal height (m) of the map origin; null = first good fix")
    map_projection: str = config_field("enu", "map frame: 'enu' (topocentric at the datum) or 'utm' (UTM grid shifted to "
                                        "the datum)", choices=MAP_PROJECTIONS)
    # --- GNSS
    min_fix_status: int = config_field(0, "lowest NavSatFix status accepted (-1 no fix, 0 fix, 1 SBAS, 2 GBAS/RTK)",
                                       choices=(-1, 0, 1, 2))
    default_fix_sd_m: float = config_field(3.0, "horizontal sd (m) assumed when a fix reports no covariance",
                                           greater_than=0.0)
    max_fix_sd_m: float = config_field(20.0, "fixes reporting a larger horizontal sd (m) are rejected",
                                       greater_than=0.0)
    outlier_gate_sigma: float = config_field(5.0, "a fix further than this many sd from the predicted track is suspect",
                                             greater_than=0.0)
    outlier_min_gate_m: float = config_field(0.15, "suspect-fix gate never below this distance (m)", greater_than=0.0)
    jump_confirm_fixes: int = config_field(3, "consecutive mutually consistent suspect fixes that confirm a GNSS jump",
                                           minimum=1)
    max_speed_mps: float = config_field(3.0, "robot speed limit used to bound fix-to-fix motion (m/s)",
                                        greater_than=0.0)
    smoothing_window_s: float = config_field(1.0, "width (s) of the local linear fit that smooths positions",
                                             greater_than=0.0)
    smoothing_degree: int = config_field(1, "degree of the local position fit: 1 (line) or 2 (parabola: follows turns, "
                                      "noisier)", choices=(1, 2))
    max_fix_gap_s: float = config_field(6.0, "no pose is interpolated across a longer gap between good fixes (s)",
                                        greater_than=0.0)
    max_extrapolation_s: float = config_field(0.3, "poses are extrapolated at most this far beyond the fixes (s)",
                                              minimum=0.0)
    coarse_fix_sd_m: float = config_field(0.5, "fixes reporting a median horizontal sd above this (m) are plain GNSS "
                                          "(metres of error, bias wandering by decimetres within seconds)",
                                          greater_than=0.0)
    rtk_fixed_max_sd_m: float = config_field(0.05, "fixes reporting a horizontal sd above this (m) are not RTK fixed: "
                                             "most such fixes make the session RTK float (or plain GNSS above "
                                             "coarse_fix_sd_m), whose receiver bias wanders by centimetres within "
                                             "the seconds a flower is in view", greater_than=0.0)
    float_smoothing_window_s: float = config_field(4.0, "with RTK float the position smoothing window is at least this "
                                                   "long (s): the fixes' white noise, not the robot, moves the rays "
                                                   "of one flower apart", greater_than=0.0)
    float_relative_pose_fraction: float = config_field(0.12, "with RTK float the sd of the pose relative to itself "
                                                       "over a track is at least this fraction of the fixes' median "
                                                       "reported sd (the bias wander over a track's seconds)",
                                                       minimum=0.0)
    coarse_smoothing_window_s: float = config_field(20.0, "with plain GNSS (coarse_fix_sd_m) the position smoothing and "
                                                    "course-over-ground windows are at least this long (s): a long "
                                                    "straight-line fit gives the motion between the views of a flower "
                                                    "that de-duplication compares (turns are followed less closely)",
                                                    greater_than=0.0)
    # --- dead reckoning through GNSS dropouts (mars_fusion.pose.dead_reckoning)
    dead_reckoning_max_gap_s: float = config_field(30.0, "a gap between good fixes up to this long (s) is bridged by "
                                                   "dead reckoning (heading integrated at the speed of the fixes "
                                                   "around it, ending on the fix after it); longer gaps lose the "
                                                   "flowers seen in them", greater_than=0.0)
    dead_reckoning_max_extrapolation_s: float = config_field(4.0, "with no fix after a gap yet (live, or the end of a "
                                                             "bag) poses are dead-reckoned this far (s) beyond the "
                                                             "last fix (0 = off)", minimum=0.0)
    dead_reckoning_sd_mps: float = config_field(0.01, "the sd (m) of a dead-reckoned position grows by this much per "
                                                "s from the nearest fix, on top of the fix sd; rays seen in a "
                                                "dropout get the larger sd", minimum=0.0)
    # --- heading
    heading_source: str = config_field("auto", "'imu' (heading topic), 'course_over_ground', or 'auto' (heading topic "
                                         "when recent, else course over ground)", choices=HEADING_SOURCES)
    heading_convention: str = config_field("enu", "heading input: 'enu' (REP-103 yaw, 0 = east, CCW) or 'compass' "
                                            "(0 = north, clockwise)", choices=HEADING_CONVENTIONS)
    heading_reference: str = config_field("true_north", "north of the heading input: 'true_north' (REP-103 IMUs, compasses: turned "
                                          "into a map heading with the grid convergence at the latest fix, about "
                                          "1-3 deg with map_projection utm) or 'map' (already from the map's grid "
                                          "east, used as it is)", choices=HEADING_REFERENCES)
    heading_offset_rad: float = config_field(0.0, "added to the heading input (sensor mounting yaw)")
    heading_max_age_s: float = config_field(0.5, "a heading sample older than this (s) counts as absent",
                                            greater_than=0.0)
    heading_smoothing_s: float = config_field(0.5, "moving-average window (s) over heading samples (0 = none)",
                                              minimum=0.0)
    cog_window_s: float = config_field(6.0, "window (s) of the fit that gives course over ground", greater_than=0.0)
    cog_min_speed_mps: float = config_field(0.1, "course over ground is used only above this speed (m/s)", minimum=0.0)
    # --- time
    reorder_delay_s: float = config_field(0.5, "messages are processed in stamp order once this much later data arrived (s)",
                                          minimum=0.0)
    time_jump_back_s: float = config_field(1.0, "a stream going back in time by more (s) starts a new session (bag loop)",
                                           greater_than=0.0)
    track_timeout_s: float = config_field(3.0, "an open track not updated for this long (s) is ended", greater_than=0.0)
    # --- geometry
    canopy_height_m: float = config_field(0.75, "height (m) above ground of the canopy plane rays are intersected with")
    canopy_height_sd_m: float = config_field(0.25, "sd (m) of flower heights around canopy_height_m (height prior)",
                                             greater_than=0.0)
    min_flower_height_m: float = config_field(0.1, "lowest plausible flower height (m) above ground", minimum=0.0)
    max_flower_height_m: float = config_field(1.5, "highest plausible flower height (m) above ground")
    pixel_sd_px: float = config_field(3.0, "sd (px) of a box centre", greater_than=0.0)
    relative_pose_sd_m: float = config_field(0.01, "sd (m) of the smoothed pose relative to itself over a track",
                                             greater_than=0.0)
    relative_heading_sd_rad: float = config_field(0.002, "sd (rad) of the heading noise between the views of one flower",
                                                  greater_than=0.0)
    heading_sd_rad: float = config_field(0.01, "sd (rad) of the heading used in the position covariance",
                                         greater_than=0.0)
    swath_half_width_m: Optional[float] = config_field(None, "map only flowers within this lateral distance (m) of the "
                                                       "robot centre line (e.g. half the row spacing); null = map all, "
                                                       "and beyond RTK fixed leave flowers seen only from a "
                                                       "neighbouring row (swath derived from the tracks) to that "
                                                       "row's pass", greater_than=0.0)
    # --- tracks and map
    min_track_mean_score: float = config_field(0.5, "tracks whose detections score lower on average are not mapped",
                                               minimum=0.0)
    min_flower_mean_score: float = config_field(0.6, "flowers whose detections (all tracks) score lower on average are "
                                               "kept in the map but not reported or counted (look-alike objects)",
                                                minimum=0.0)
    min_track_observations: int = config_field(2, "confirmed tracks with fewer matched observations are not mapped",
                                               minimum=1)
    dedup_max_dt_s: float = config_field(0.02, "observations of two cameras within this time (s) are simultaneous",
                                         greater_than=0.0)
    dedup_ray_gate_m: float = config_field(0.05, "simultaneous rays of two cameras closer than this (m) see one flower "
                                           "(upper bound of the dedup_ray_gate_sigma gate)", greater_than=0.0)
    dedup_ray_gate_sigma: float = config_field(3.0, "simultaneous rays of two cameras see one flower only when their median "
                                               "closest distance is below this many sd of their pixel noise at the "
                                               "viewing distance (GNSS-free: rules out neighbours at cm distance)",
                                               greater_than=0.0)
    dedup_joint_residual_sigma: float = config_field(1.5, "two tracks are one flower only if all their rays fit one point "
                                                    "with a median residual below this many ray sd", greater_than=0.0)
    coarse_joint_residual_sigma: float = config_field(3.0, "with plain GNSS (fix sd above coarse_fix_sd_m) the same test "
                                                      "for tracks with simultaneous views: the relative pose between "
                                                      "views seconds apart is off by centimetres (bias wander, course "
                                                      "over ground), while their simultaneous rays stay GNSS-free",
                                                      greater_than=0.0)
    fragment_joint_residual_sigma: float = config_field(2.5, "the same test for tracks of one pass without simultaneous "
                                                       "views (broken tracks, views seconds apart)", greater_than=0.0)
    split_merge_distance_m: float = config_field(0.05, "when a pass leaves a flower, it joins a flower of the same pass "
                                                 "this close (m) that no camera saw at the same time (0 = off)",
                                                 minimum=0.0)
    dedup_min_pairs: int = config_field(2, "simultaneous observation pairs needed to compare two tracks by rays",
                                        minimum=1)
    merge_gate_sigma: float = config_field(3.0, "Mahalanobis gate for merging a track into a flower (sd)",
                                           greater_than=0.0)
    multi_pass_max_gnss_sd_m: float = config_field(0.5, "flowers of different passes are merged only when the combined "
                                                   "GNSS sd (m) of both passes is below this", greater_than=0.0)
    merge_max_distance_m: float = config_field(0.5, "a track never merges with a flower further than this (m)",
                                               greater_than=0.0)
    pass_offset_window_s: float = config_field(4.0, "with RTK float, the offset between the current pass and an "
                                               "earlier pass's flowers is voted by the tracks (and flowers) of this "
                                               "many seconds around each one (the bias barely changes within them)",
                                               greater_than=0.0)
    pass_offset_bandwidth_m: float = config_field(0.05, "votes for a pass offset that agree within this (m) support "
                                                  "one offset", greater_than=0.0)
    pass_offset_min_support: int = config_field(5, "distinct earlier flowers that must support a pass offset (and at "
                                                "least half of the voters) before it is used", minimum=2)
    pass_offset_max_m: float = config_field(1.0, "largest pass-to-pass offset searched (m); beyond it passes are "
                                            "compared by their GNSS uncertainty alone", greater_than=0.0)
    association_delay_s: float = config_field(3.0, "with plain GNSS (coarse_fix_sd_m) geolocated tracks wait this long "
                                              "(s of stamps) and then join the map most observations first, so that "
                                              "a flower's long tracks are placed before short fragments of its "
                                              "neighbours (0 = at once; other tracks always join at once)", minimum=0.0)
    same_pass_gap_s: float = config_field(20.0, "a flower last seen less than this long ago (s) is in the current pass",
                                          greater_than=0.0)
    appearance_max_distance: Optional[float] = config_field(None, "cosine distance above which two tracks' embeddings "
                                                            "veto a merge; null = appearance unused",
                                                            greater_than=0.0, maximum=2.0)
    grid_cell_m: float = config_field(1.0, "cell size (m) of the map's spatial hash grid", greater_than=0.0)
    # --- summaries and output
    row_segment_length_m: float = config_field(10.0, "length (m) of a row segment when no plots are given",
                                               greater_than=0.0)
    plot_id_property: str = config_field("plot_id", "GeoJSON feature property holding the plot id")
    path_decimation_m: float = config_field(0.5, "robot path points kept for the map picture at this spacing (m)",
                                            greater_than=0.0)

    def __post_init__(self) -> None:
        check_config(self, "fusion")  # each field's type, finiteness, range and choices (its config_field)
        if (self.datum_latitude is None) != (self.datum_longitude is None):
            raise ConfigError("fusion.datum_latitude and fusion.datum_longitude must be given together")
        if not self.min_flower_height_m < self.canopy_height_m < self.max_flower_height_m:
            raise ConfigError("fusion.canopy_height_m must lie between min_flower_height_m and max_flower_height_m, "
                              f"got {self.min_flower_height_m} < {self.canopy_height_m} < {self.max_flower_height_m}")
        if not self.plot_id_property:
            raise ConfigError("fusion.plot_id_property must not be empty")

    def to_dict(self) -> Dict[str, Any]:
        """Plain data accepted by fusion_config_from_dict."""
        return asdict(self)

    @staticmethod
    def descriptions() -> Dict[str, str]:
        """Field name -> description (for ROS parameter descriptors)."""
        return {f.name: str(f.metadata.get("description", "")) for f in fields(FusionConfig)}


def fusion_config_from_dict(data: Optional[Mapping[str, Any]]) -> FusionConfig:
    """Validate plain data (e.g. the ``fusion`` section of config/mars_rig.yaml) into a FusionConfig."""
    return config_from_dict(FusionConfig, data, "fusion")


def load_fusion_config(path: Any, section: str = "fusion") -> FusionConfig:
    """The ``fusion`` section of a robot configuration file (config/mars_rig.yaml); defaults when absent."""
    from mars_core.rig import load_robot_config
    data = load_robot_config(path)
    value = data.get(section)
    try:
        return fusion_config_from_dict(value)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
