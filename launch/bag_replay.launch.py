"""Replay a recorded bag (stand-in for the robot: cameras, GNSS, IMU) and optionally record the detections.

    ros2 launch mars_counting bag_replay.launch.py bag:=/data/run1 rate:=1.0 record_to:=/data/copy

Every argument and the parameter it sets: ARGUMENTS below (`--show-args` prints them).
"""
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from mars_ros.node_pattern.launch_arguments import (STARTS, LaunchArgument, argument_values, declared_arguments,
                                                     node_parameters)

REPLAY, RECORDER = ("bag_replay",), ("detection_recorder",)
ARGUMENTS = (
    LaunchArgument("bag", "rosbag2 folder with recorded FlowerDetectionArray messages", default=None,
                   nodes=REPLAY, parameter="bag_path"),
    LaunchArgument("rate", "Playback speed", default="1.0", nodes=REPLAY, parameter="rate", kind="float"),
    LaunchArgument("loop", "Loop the bag (any case: true/false)", default="false", nodes=REPLAY, parameter="loop",
                   kind="bool"),
    LaunchArgument("wait_for_subscribers", "Hold playback until each topic has this many subscribers",
                   default="0", nodes=REPLAY, parameter="wait_for_subscribers", kind="int"),
    LaunchArgument("publish_clock", "Publish /clock from the bag's times (for use_sim_time nodes)",
                   default="false", nodes=REPLAY, parameter="publish_clock", kind="bool"),
    LaunchArgument("use_sim_time", "The nodes' own clock is /clock (any case: true/false)", default="false",
                   nodes=REPLAY + RECORDER, parameter="use_sim_time", kind="bool"),
    LaunchArgument("record_to", "If set, also record the detection topics into this new bag", nodes=RECORDER,
                   parameter="output_path", target=STARTS),
    LaunchArgument("topics", "Comma-separated topics to record",
                   default="/cam_left/detections,/cam_center/detections,/cam_right/detections", nodes=RECORDER,
                   parameter="topics", kind="list"),
    LaunchArgument("storage", "Storage of the recorded bag", default="mcap", nodes=RECORDER, parameter="storage",
                   choices=("mcap", "sqlite3")),
)


def _nodes(context):
    values = argument_values(ARGUMENTS, lambda name: LaunchConfiguration(name).perform(context))
    nodes = [Node(package="mars_counting", executable="bag_replay_node", name="bag_replay", output="screen",
                  parameters=[node_parameters(ARGUMENTS, values, "bag_replay")])]
    if values["record_to"]:
        nodes.append(Node(package="mars_counting", executable="detection_recorder_node", name="detection_recorder",
                          output="screen", parameters=[node_parameters(ARGUMENTS, values, "detection_recorder")]))
    return nodes


def generate_launch_description():
    return LaunchDescription([*declared_arguments(ARGUMENTS, DeclareLaunchArgument), OpaqueFunction(function=_nodes)])
