"""Replay a recorded bag (stand-in for the robot: cameras, GNSS, IMU) and optionally record the detections.

    ros2 launch mars_counting bag_replay.launch.py bag:=/data/run1 rate:=1.0 record_to:=/data/copy
"""
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node


def _nodes(context):
    bag = LaunchConfiguration("bag").perform(context)
    record_to = LaunchConfiguration("record_to").perform(context)
    topics = [t for t in LaunchConfiguration("topics").perform(context).split(",") if t]
    nodes = [Node(package="mars_counting", executable="bag_replay_node", name="bag_replay",
                  output="screen",
                  parameters=[{"bag_path": bag, "rate": float(LaunchConfiguration("rate").perform(context)),
                               "loop": LaunchConfiguration("loop").perform(context) == "true",
                               "wait_for_subscribers": int(LaunchConfiguration("wait_for_subscribers")
                                                           .perform(context))}])]
    if record_to:
        nodes.append(Node(package="mars_counting", executable="detection_recorder_node",
                          name="detection_recorder", output="screen",
                          parameters=[{"output_path": record_to, "topics": topics,
                                       "storage": LaunchConfiguration("storage").perform(context)}]))
    return nodes


def generate_launch_description():
    return LaunchDescription([
        DeclareLaunchArgument("bag", description="rosbag2 folder with recorded FlowerDetectionArray messages"),
        DeclareLaunchArgument("rate", default_value="1.0", description="Playback speed"),
        DeclareLaunchArgument("loop", default_value="false", choices=["true", "false"],
                              description="Loop the bag"),
        DeclareLaunchArgument("wait_for_subscribers", default_value="0",
                              description="Hold playback until each topic has this many subscribers"),
        DeclareLaunchArgument("record_to", default_value="",
                              description="If set, also record the detection topics into this new bag"),
        DeclareLaunchArgument("topics", default_value="/cam_left/detections,/cam_center/detections,"
                              "/cam_right/detections", description="Comma-separated topics to record"),
        DeclareLaunchArgument("storage", default_value="mcap", choices=["mcap", "sqlite3"],
                              description="Storage of the recorded bag"),
        OpaqueFunction(function=_nodes),
    ])
