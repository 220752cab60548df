"""One camera module (Raspberry Pi 5 + Hailo): the camera node in the camera's namespace.

    ros2 launch mars_counting camera.launch.py camera:=cam_left backend:=hailo model:=/models/flower.hef
"""
import os

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare


def camera_node(camera, robot_config, overrides, params_file="", use_sim_time=False):
    """The camera node of one camera, in the camera's namespace."""
    parameters = []
    if params_file:
        parameters.append(params_file)
    parameters.append({"camera_name": camera, "robot_config": robot_config, "use_sim_time": use_sim_time,
                       **overrides})
    return Node(package="mars_counting", executable="camera_node", name="camera", namespace=camera,
                output="screen", parameters=parameters)


def _nodes(context):
    share = FindPackageShare("mars_counting").perform(context)
    robot_config = LaunchConfiguration("robot_config").perform(context) or os.path.join(share, "config",
                                                                                         "mars_rig.yaml")
    overrides = {}
    for key in ("backend", "model_path", "source"):
        value = LaunchConfiguration(key).perform(context)
        if value:
            overrides[key] = value
    return [camera_node(LaunchConfiguration("camera").perform(context), robot_config, overrides,
                        LaunchConfiguration("params_file").perform(context),
                        LaunchConfiguration("use_sim_time").perform(context) == "true")]


def generate_launch_description():
    return LaunchDescription([
        DeclareLaunchArgument("camera", description="Camera name from the robot configuration (its namespace)"),
        DeclareLaunchArgument("robot_config", default_value="", description="Robot configuration YAML"),
        DeclareLaunchArgument("backend", default_value="", choices=["", "hailo", "onnx", "auto"],
                              description="Detector backend (empty = the node's default)"),
        DeclareLaunchArgument("model_path", default_value="", description="Model (.hef or .onnx); empty = default"),
        DeclareLaunchArgument("source", default_value="", description="Frame source (empty = the node's default)"),
        DeclareLaunchArgument("params_file", default_value="", description="Extra ROS parameters file"),
        DeclareLaunchArgument("use_sim_time", default_value="false", choices=["true", "false"],
                              description="Use /clock"),
        OpaqueFunction(function=_nodes),
    ])
