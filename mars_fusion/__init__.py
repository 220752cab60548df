"""mars_fusion: tracks + GNSS + heading -> a de-duplicated, geo-located flower map (ROS-free core)."""
from mars_fusion.config import FusionConfig, fusion_config_from_dict, load_fusion_config
from mars_fusion.mapper import FlowerMapper
from mars_core.observations import GnssFix, HeadingSample, TrackFrame

__all__ = ["FlowerMapper", "FusionConfig", "GnssFix", "HeadingSample", "TrackFrame", "fusion_config_from_dict",
           "load_fusion_config"]
