"""mars_core: the ROS-free types and conventions every stage shares (nothing heavier than numpy and pyproj).

- detections.py, tracks.py, observations.py: the data that crosses each hop (detections, tracks, GNSS/heading)
- feature_codec.py: feature block encoding (float32 / uint8) and model-id safety
- rig.py, config_schema.py: the robot configuration and the config dataclass schema (descriptions, ranges)
- geometry/: camera model, rotations, the local map frame
- package_files.py, camera_colours.py, stream_statistics.py: shared files, colours and rate/latency statistics
"""
