"""ROS 2 node adapters of mars_camera."""
