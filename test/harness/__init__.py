"""Test harness: real ROS nodes as subprocesses, a probe node, and a stand-in to evaluate launch files."""
