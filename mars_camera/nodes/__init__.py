"""ROS 2 node adapters of mars_camera (thin: parameters -> config, messages <-> core types, timers, QoS)."""
