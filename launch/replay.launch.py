"""Replay a recorded bag through the Jetson nodes with simulated time (and optionally rviz).

    ros2 launch mars_counting replay.launch.py bag:=/data/run1 [robot_config:=...] [rviz:=true] [rate:=1.0]

player:=ros2bag runs `ros2 bag play --clock` (a ROS install); player:=mars runs our bag_replay node (works
without the rosbag2 CLI, e.g. in the PyPI-wheel venv). Offline counting of a bag is deterministic with
`mars-count`; a live replay is not (rosbag2 itself is not deterministic).
"""
import os

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, ExecuteProcess, IncludeLaunchDescription, OpaqueFunction
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare


def _actions(context):
    share = FindPackageShare("mars_counting").perform(context)
    bag = LaunchConfiguration("bag").perform(context)
    rate = LaunchConfiguration("rate").perform(context)
    robot_config = LaunchConfiguration("robot_config").perform(context)
    if not robot_config:  # a run folder's own robot configuration (mars-sim writes DIR/rig.yaml beside DIR/bag)
        for candidate in (os.path.join(bag, "rig.yaml"), os.path.join(os.path.dirname(bag.rstrip("/")), "rig.yaml")):
            if os.path.isfile(candidate):
                robot_config = candidate
                break
    if LaunchConfiguration("player").perform(context) == "ros2bag":
        player = ExecuteProcess(cmd=["ros2", "bag", "play", bag, "--clock", "--rate", rate], output="screen")
    else:
        player = Node(package="mars_counting", executable="bag_replay_node", name="bag_replay", output="screen",
                      parameters=[{"bag_path": bag, "rate": float(rate), "publish_clock": True,
                                   # the tracker (detections) and the fusion (fixes) must both be listening
                                   "wait_for_types": ["mars_counting/msg/FlowerDetectionArray",
                                                      "sensor_msgs/msg/NavSatFix"],
                                   "wait_for_subscribers": int(LaunchConfiguration("wait_for_subscribers")
                                                               .perform(context))}])
    jetson = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(os.path.join(share, "launch", "jetson.launch.py")),
        launch_arguments=[("robot_config", robot_config), ("use_sim_time", "true"),
                          ("rviz", LaunchConfiguration("rviz").perform(context)),
                          ("export_dir", LaunchConfiguration("export_dir").perform(context)),
                          ("finalize_after_idle_s", LaunchConfiguration("finalize_after_idle_s").perform(context))])
    return [jetson, player]


def generate_launch_description():
    return LaunchDescription([
        DeclareLaunchArgument("bag", description="rosbag2 folder to replay"),
        DeclareLaunchArgument("robot_config", default_value="",
                              description="Robot configuration; empty = rig.yaml beside the bag, else the MARS rig"),
        DeclareLaunchArgument("rate", default_value="1.0", description="Playback speed"),
        DeclareLaunchArgument("player", default_value="ros2bag", choices=["ros2bag", "mars"],
                              description="ros2bag: `ros2 bag play --clock`; mars: the bag_replay node"),
        DeclareLaunchArgument("wait_for_subscribers", default_value="1",
                              description="(player:=mars) hold playback until the tracker subscribed"),
        DeclareLaunchArgument("rviz", default_value="false", choices=["true", "false"], description="Start rviz"),
        DeclareLaunchArgument("export_dir", default_value="", description="Write the map files here at the end"),
        DeclareLaunchArgument("finalize_after_idle_s", default_value="2.0",
                              description="Finalize the map when the replay has been idle this long"),
        OpaqueFunction(function=_actions),
    ])
