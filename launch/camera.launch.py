"""One camera module (Raspberry Pi 5 + Hailo): the camera node (a managed node) in the camera's namespace.

    ros2 launch mars_counting camera.launch.py camera:=cam_left backend:=hailo hef_path:=/models/flower.hef
    ros2 launch mars_counting camera.launch.py camera:=cam_left backend:=onnx model_path:=/models/flower.onnx \\
        source:=opencv source_uri:=/dev/video0

Every argument and the parameter it sets: ARGUMENTS below (`ros2 launch ... --show-args` prints them).
"""
import dataclasses
import os

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

from mars_camera.detector_config import CameraDetectorConfig
from mars_camera.frame_sources import FrameSourceConfig
from mars_ros.node_pattern.launch_arguments import (NAMESPACE, PARAMS_FILE, LaunchArgument, argument_values,
                                                     declared_arguments, join_namespace, node_parameters,
                                                     params_files)


def _choices(cls, name):
    """The field's own choices (the config schema's list), and "" for the node's default."""
    return ("",) + tuple(next(f for f in dataclasses.fields(cls) if f.name == name).metadata["choices"])


CAMERA = ("camera",)
ARGUMENTS = (
    LaunchArgument("camera", "Camera name from the robot configuration (the node's namespace)", default=None,
                   nodes=CAMERA, parameter="camera_name"),
    LaunchArgument("namespace", "Namespace above the camera's (the node runs in <namespace>/<camera>)",
                   nodes=CAMERA, target=NAMESPACE),
    LaunchArgument("robot_config", "Robot configuration YAML (empty = the shipped MARS rig)", nodes=CAMERA,
                   parameter="robot_config"),
    LaunchArgument("backend", "Detector backend (empty = the robot configuration's camera.backend)", nodes=CAMERA,
                   parameter="detector.backend", choices=_choices(CameraDetectorConfig, "backend")),
    LaunchArgument("model_path", "ONNX model file (empty = the robot configuration's, else the embedded one)",
                   nodes=CAMERA, parameter="detector.model_path"),
    LaunchArgument("hef_path", "Hailo HEF file (backend hailo/auto; empty = the robot configuration's)",
                   nodes=CAMERA, parameter="detector.hef_path"),
    LaunchArgument("source", "Frame source kind (empty = the node's default, picamera2)", nodes=CAMERA,
                   parameter="source.kind", choices=_choices(FrameSourceConfig, "kind")),
    LaunchArgument("source_uri", "opencv: device/file/URL; folder: directory; bag: bag path", nodes=CAMERA,
                   parameter="source.uri"),
    LaunchArgument("source_topic", "bag: the image topic in the bag", nodes=CAMERA, parameter="source.topic"),
    LaunchArgument("image_topic", "Input image topic when source is 'topic' (relative: in the namespace)",
                   nodes=CAMERA, parameter="image_topic"),
    LaunchArgument("detections_topic", "Detections output topic (relative: in the camera's namespace)",
                   nodes=CAMERA, parameter="detections_topic"),
    LaunchArgument("autostart", "Configure and activate at start-up (false: a lifecycle manager does)",
                   default="true", nodes=CAMERA, parameter="autostart", kind="bool"),
    LaunchArgument("params_file", "Extra ROS parameters file (section `<namespace>/<camera>/camera` or /**)",
                   nodes=CAMERA, target=PARAMS_FILE),
    LaunchArgument("use_sim_time", "Use /clock (any case: true/false)", default="false", nodes=CAMERA,
                   parameter="use_sim_time", kind="bool"),
)


def camera_node(values, robot_config):
    """The camera node of one camera, in <namespace>/<camera>, with the parameters the arguments set."""
    if values["model_path"].endswith(".hef"):
        raise ValueError(f"model_path:={values['model_path']} is a Hailo HEF: give it as hef_path:= (model_path "
                         f"is the ONNX model)")
    parameters = params_files(ARGUMENTS, values, "camera")
    parameters.append({**node_parameters(ARGUMENTS, values, "camera"), "robot_config": robot_config})
    return Node(package="mars_counting", executable="camera_node", name="camera",
                namespace=join_namespace(values["namespace"], values["camera"]), output="screen",
                parameters=parameters)


def _nodes(context):
    values = argument_values(ARGUMENTS, lambda name: LaunchConfiguration(name).perform(context))
    share = FindPackageShare("mars_counting").perform(context)
    robot_config = values["robot_config"] or os.path.join(share, "config", "mars_rig.yaml")
    return [camera_node(values, robot_config)]


def generate_launch_description():
    return LaunchDescription([*declared_arguments(ARGUMENTS, DeclareLaunchArgument), OpaqueFunction(function=_nodes)])
