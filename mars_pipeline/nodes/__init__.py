"""ROS 2 tool nodes on top of the cores: bag replay and detection recording."""
