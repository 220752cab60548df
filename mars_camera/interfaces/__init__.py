"""Our ROS interfaces (msg/) outside of ROS: rosbags type registration and core-type <-> message conversion."""
