"""The pattern every MARS node follows (the only place rclpy glue is shared).

- parameters.py: declare a node's parameters from its config dataclass (descriptions, read-only) and load
  them into the frozen, validated config; a bad value names the parameter and the node exits non-zero.
- qos.py: named, explicit QoS profiles (configurable per topic and logged).
- diagnostics.py: diagnostic_msgs/DiagnosticArray publishing from plain key/value status.
- node_main.py: `run_node()`, the main() of every node (init, spin, clean SIGINT/shutdown handling).
"""
