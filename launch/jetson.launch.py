"""The Jetson side: the tracker and fusion nodes (and optionally rviz), configured by one robot file.

    ros2 launch mars_counting jetson.launch.py robot_config:=/path/robot.yaml [rviz:=true] [use_sim_time:=true] \\
        [namespace:=robot2] [fix_topic:=/ublox/fix] [imu_topic:=/vectornav/imu] [params_file:=/path/params.yaml]

Every argument and the parameter it sets: ARGUMENTS below (`ros2 launch ... --show-args` prints them). Topic
names without a leading / resolve in the namespace. rviz:=true needs rviz2 installed (checked before anything
starts).
"""
import os

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

from mars_ros.node_pattern.launch_arguments import (NAMESPACE, PARAMS_FILE, STARTS, LaunchArgument,
                                                     argument_values, declared_arguments, join_namespace,
                                                     node_parameters, params_files, require_ros_package)

BOTH = ("tracker", "fusion")
ARGUMENTS = (
    LaunchArgument("robot_config", "Robot configuration YAML (rig, tracker, fusion); empty = shipped MARS rig",
                   nodes=BOTH, parameter="robot_config"),
    LaunchArgument("namespace", "Namespace of the nodes and of their relative topics (e.g. a second robot)",
                   nodes=BOTH, target=NAMESPACE),
    LaunchArgument("params_file", "ROS parameters file (sections `tracker:`/`fusion:` or with the namespace)",
                   nodes=BOTH, target=PARAMS_FILE),
    LaunchArgument("use_sim_time", "Use /clock (bag replay; any case: true/false)", default="false",
                   nodes=BOTH + ("rviz",), parameter="use_sim_time", kind="bool"),
    LaunchArgument("rviz", "Start rviz (needs rviz2 installed)", default="false", nodes=("rviz",), target=STARTS,
                   kind="bool"),
    LaunchArgument("map_file", "Map state file: saved periodically, resumed after a restart", nodes=("fusion",),
                   parameter="map_file"),
    LaunchArgument("export_dir", "Write flowers.csv/.geojson/.kml and map.png here on shutdown", nodes=("fusion",),
                   parameter="export_dir"),
    LaunchArgument("finalize_after_idle_s", "Finalize the map after this many idle seconds (replays); 0 = never",
                   default="0.0", nodes=("fusion",), parameter="finalize_after_idle_s", kind="float"),
    LaunchArgument("fix_topic", "sensor_msgs/NavSatFix topic (GNSS)", default="gnss/fix", nodes=("fusion",),
                   parameter="fix_topic"),
    LaunchArgument("imu_topic", "sensor_msgs/Imu heading topic (none = course over ground)", default="imu/data",
                   nodes=("fusion",), parameter="imu_topic", kind="optional", empty_is_unset=False),
    LaunchArgument("odometry_topic", "nav_msgs/Odometry ego-motion prior of the tracker (empty = from the images)",
                   nodes=("tracker",), parameter="odometry_topic"),
)


def jetson_nodes(values, share):
    """The tracker, fusion and (rviz:=true) rviz nodes for the arguments' values."""
    robot_config = values["robot_config"] or os.path.join(share, "config", "mars_rig.yaml")
    if values["rviz"]:
        require_ros_package("rviz2", "rviz:=true")
    namespace = join_namespace(values["namespace"])
    nodes = []
    for name in BOTH:
        parameters = params_files(ARGUMENTS, values, name)
        parameters.append({**node_parameters(ARGUMENTS, values, name), "robot_config": robot_config})
        # The fusion's close() finalizes, saves and exports the map (map.png takes seconds): more than launch's
        # default 5 s before it escalates SIGINT to SIGTERM.
        nodes.append(Node(package="mars_counting", executable=f"{name}_node", name=name, namespace=namespace,
                          output="screen", parameters=parameters, sigterm_timeout="30" if name == "fusion" else "5"))
    if values["rviz"]:
        nodes.append(Node(package="rviz2", executable="rviz2", name="rviz", output="log",  # shows the root namespace
                          arguments=["-d", os.path.join(share, "rviz", "mars_counting.rviz")],
                          parameters=[node_parameters(ARGUMENTS, values, "rviz")]))
    return nodes


def _nodes(context):
    values = argument_values(ARGUMENTS, lambda name: LaunchConfiguration(name).perform(context))
    return jetson_nodes(values, FindPackageShare("mars_counting").perform(context))


def generate_launch_description():
    return LaunchDescription([*declared_arguments(ARGUMENTS, DeclareLaunchArgument), OpaqueFunction(function=_nodes)])
