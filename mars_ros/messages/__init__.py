"""Message <-> core-type conversion per hop; duck-typed, for rclpy messages (nodes) and rosbags messages (files)."""
