"""The Jetson side: the tracker and fusion nodes (and optionally rviz), configured by one robot file.

    ros2 launch mars_counting jetson.launch.py robot_config:=/path/robot.yaml [rviz:=true] [use_sim_time:=true]
"""
import os

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare


def _nodes(context):
    share = FindPackageShare("mars_counting").perform(context)
    robot_config = LaunchConfiguration("robot_config").perform(context) or os.path.join(share, "config",
                                                                                         "mars_rig.yaml")
    sim_time = LaunchConfiguration("use_sim_time").perform(context) == "true"
    common = {"robot_config": robot_config, "use_sim_time": sim_time}
    fusion = dict(common)
    for key in ("map_file", "export_dir"):
        value = LaunchConfiguration(key).perform(context)
        if value:
            fusion[key] = value
    idle = float(LaunchConfiguration("finalize_after_idle_s").perform(context))
    if idle > 0:
        fusion["finalize_after_idle_s"] = idle
    return [
        Node(package="mars_counting", executable="tracker_node", name="tracker", output="screen",
             parameters=[common]),
        Node(package="mars_counting", executable="fusion_node", name="fusion", output="screen",
             parameters=[fusion]),
        Node(package="rviz2", executable="rviz2", name="rviz", output="log",
             arguments=["-d", os.path.join(share, "rviz", "mars_counting.rviz")],
             parameters=[{"use_sim_time": sim_time}], condition=IfCondition(LaunchConfiguration("rviz"))),
    ]


def generate_launch_description():
    return LaunchDescription([
        DeclareLaunchArgument("robot_config", default_value="",
                              description="Robot configuration YAML (rig, tracker, fusion); empty = shipped MARS rig"),
        DeclareLaunchArgument("use_sim_time", default_value="false", choices=["true", "false"],
                              description="Use /clock (bag replay)"),
        DeclareLaunchArgument("rviz", default_value="false", choices=["true", "false"], description="Start rviz"),
        DeclareLaunchArgument("map_file", default_value="",
                              description="Map state file: saved periodically, resumed after a restart"),
        DeclareLaunchArgument("export_dir", default_value="",
                              description="Write flowers.csv/.geojson/.kml and map.png here on shutdown"),
        DeclareLaunchArgument("finalize_after_idle_s", default_value="0",
                              description="Finalize the map after this many idle seconds (replays); 0 = never"),
        OpaqueFunction(function=_nodes),
    ])
