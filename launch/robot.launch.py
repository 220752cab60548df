"""The whole robot: a camera node per camera of the robot configuration (namespaced), the rig's static
transforms from the same file, and the Jetson nodes (tracker, fusion, optional rviz).

    ros2 launch mars_counting robot.launch.py robot_config:=/path/robot.yaml [rviz:=true] [cameras:=false]

With cameras:=false only the Jetson side and the transforms start (camera modules launch camera.launch.py on
each Pi instead).
"""
import os

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription, OpaqueFunction
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare


def _nodes(context):
    from mars_core.rig import load_rig, rig_static_transforms

    share = FindPackageShare("mars_counting").perform(context)
    robot_config = LaunchConfiguration("robot_config").perform(context) or os.path.join(share, "config",
                                                                                         "mars_rig.yaml")
    rig = load_rig(robot_config)  # validated at start-up: a bad key is named here
    sim_time = LaunchConfiguration("use_sim_time").perform(context)
    actions = []
    for t in rig_static_transforms(rig):
        actions.append(Node(
            package="tf2_ros", executable="static_transform_publisher", name=f"tf_{t.child}", output="log",
            arguments=["--x", str(t.xyz[0]), "--y", str(t.xyz[1]), "--z", str(t.xyz[2]),
                       "--roll", str(t.rpy[0]), "--pitch", str(t.rpy[1]), "--yaw", str(t.rpy[2]),
                       "--frame-id", t.parent, "--child-frame-id", t.child]))
    if LaunchConfiguration("cameras").perform(context) == "true":
        for cam in rig.cameras:
            actions.append(IncludeLaunchDescription(
                PythonLaunchDescriptionSource(os.path.join(share, "launch", "camera.launch.py")),
                launch_arguments=[("camera", cam.name), ("robot_config", robot_config),
                                  ("use_sim_time", sim_time)]))
    actions.append(IncludeLaunchDescription(
        PythonLaunchDescriptionSource(os.path.join(share, "launch", "jetson.launch.py")),
        launch_arguments=[("robot_config", robot_config), ("use_sim_time", sim_time),
                          ("rviz", LaunchConfiguration("rviz").perform(context)),
                          ("map_file", LaunchConfiguration("map_file").perform(context))]))
    return actions


def generate_launch_description():
    return LaunchDescription([
        DeclareLaunchArgument("robot_config", default_value="", description="Robot configuration YAML"),
        DeclareLaunchArgument("cameras", default_value="true", choices=["true", "false"],
                              description="Start a camera node per camera (false: cameras run on their Pis)"),
        DeclareLaunchArgument("use_sim_time", default_value="false", choices=["true", "false"],
                              description="Use /clock"),
        DeclareLaunchArgument("rviz", default_value="false", choices=["true", "false"], description="Start rviz"),
        DeclareLaunchArgument("map_file", default_value="", description="Map state file (resumed after restart)"),
        OpaqueFunction(function=_nodes),
    ])
