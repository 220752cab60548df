"""The ROS 2 nodes: thin adapters (parameters -> config, messages <-> core types, timers, QoS) over the cores."""
