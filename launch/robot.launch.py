"""The whole robot: a camera node per camera of the robot configuration (namespaced), the rig's static
transforms from the same file, and the Jetson nodes (tracker, fusion, optional rviz).

    ros2 launch mars_counting robot.launch.py robot_config:=/path/robot.yaml [rviz:=true] [cameras:=false]

With cameras:=false only the Jetson side and the transforms start (camera modules launch camera.launch.py on
each Pi instead). Every argument and the parameter it sets: ARGUMENTS below (`--show-args` prints them).
"""
import os

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription, OpaqueFunction
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

from mars_ros.node_pattern.launch_arguments import (NAMESPACE, PARAMS_FILE, STARTS, LaunchArgument,
                                                     argument_values, declared_arguments, node_parameters)

CAMERAS, JETSON, TRANSFORMS = ("camera",), ("tracker", "fusion"), ("tf_*",)
ARGUMENTS = (
    LaunchArgument("robot_config", "Robot configuration YAML (empty = the shipped MARS rig)",
                   nodes=CAMERAS + JETSON, parameter="robot_config"),
    LaunchArgument("namespace", "Namespace of every node (cameras in <namespace>/<camera>)",
                   nodes=CAMERAS + JETSON, target=NAMESPACE),
    LaunchArgument("cameras", "Start a camera node per camera (false: cameras run on their Pis)",
                   default="true", nodes=CAMERAS, target=STARTS, kind="bool"),
    LaunchArgument("use_sim_time", "Use /clock (any case: true/false)", default="false",
                   nodes=CAMERAS + JETSON + TRANSFORMS + ("rviz",), parameter="use_sim_time", kind="bool"),
    LaunchArgument("rviz", "Start rviz (needs rviz2 installed)", default="false", nodes=("rviz",), target=STARTS,
                   kind="bool"),
    LaunchArgument("params_file", "ROS parameters file for every node (sections per node, or /**)",
                   nodes=CAMERAS + JETSON, target=PARAMS_FILE),
    LaunchArgument("map_file", "Map state file (resumed after restart)", nodes=("fusion",), parameter="map_file"),
    LaunchArgument("export_dir", "Write the map files here on shutdown", nodes=("fusion",), parameter="export_dir"),
    LaunchArgument("fix_topic", "sensor_msgs/NavSatFix topic (GNSS)", default="gnss/fix", nodes=("fusion",),
                   parameter="fix_topic"),
    LaunchArgument("imu_topic", "sensor_msgs/Imu heading topic (none = course over ground)", default="imu/data",
                   nodes=("fusion",), parameter="imu_topic", kind="optional", empty_is_unset=False),
)


def _text(value):
    """A typed argument value as launch-argument text for an included file."""
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def _nodes(context):
    from mars_core.rig import load_rig, rig_static_transforms

    values = argument_values(ARGUMENTS, lambda name: LaunchConfiguration(name).perform(context))
    share = FindPackageShare("mars_counting").perform(context)
    robot_config = values["robot_config"] or os.path.join(share, "config", "mars_rig.yaml")
    rig = load_rig(robot_config)  # validated at start-up: a bad key is named here
    forwarded = [("robot_config", robot_config), ("namespace", values["namespace"]),
                 ("use_sim_time", _text(values["use_sim_time"])), ("params_file", values["params_file"])]
    actions = []
    for t in rig_static_transforms(rig):
        actions.append(Node(
            package="tf2_ros", executable="static_transform_publisher", name=f"tf_{t.child}", output="log",
            arguments=["--x", str(t.xyz[0]), "--y", str(t.xyz[1]), "--z", str(t.xyz[2]),
                       "--roll", str(t.rpy[0]), "--pitch", str(t.rpy[1]), "--yaw", str(t.rpy[2]),
                       "--frame-id", t.parent, "--child-frame-id", t.child],
            parameters=[node_parameters(ARGUMENTS, values, f"tf_{t.child}")]))
    if values["cameras"]:
        for cam in rig.cameras:
            actions.append(IncludeLaunchDescription(
                PythonLaunchDescriptionSource(os.path.join(share, "launch", "camera.launch.py")),
                launch_arguments=[("camera", cam.name)] + forwarded))
    actions.append(IncludeLaunchDescription(
        PythonLaunchDescriptionSource(os.path.join(share, "launch", "jetson.launch.py")),
        launch_arguments=forwarded + [(name, _text(values[name])) for name in
                                      ("rviz", "map_file", "export_dir", "fix_topic")]
        + [("imu_topic", values["imu_topic"] or "none")]))
    return actions


def generate_launch_description():
    return LaunchDescription([*declared_arguments(ARGUMENTS, DeclareLaunchArgument), OpaqueFunction(function=_nodes)])
