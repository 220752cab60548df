"""mars_ros: all rclpy and rosbags glue, beside the ROS-free cores.

- node_pattern/: parameters from config dataclasses, QoS, diagnostics, timers, run_node() (every node's main)
- messages/: message <-> core-type adapters, one file per hop (detections, tracks, fusion inputs, map, markers)
- bags/: rosbag2 reading/writing with rosbags, our typestore, salvage of truncated mcap files
- nodes/: the ROS 2 nodes, thin adapters over the cores (camera, tracker, fusion, bag replay, recorder)

Only node_pattern/ and nodes/ import rclpy; messages/ and bags/ work on rclpy and rosbags messages alike
and are what the offline tools use without a ROS install.
"""
