"""mars_camera: per-camera flower detection (frame sources, YOLO detectors, features) and the root types.

It is the root of the package dependency chain (camera <- tracker <- fusion): it also owns the types
and conventions every later stage shares (detections, camera geometry, rig configuration, message
definitions for rosbags, the ROS node pattern).
"""
