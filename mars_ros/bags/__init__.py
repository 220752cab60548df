"""Bag files without ROS: rosbags reading/writing, our message definitions registered, mcap salvage."""
