"""Replay a recorded bag through the Jetson nodes with simulated time (and optionally rviz); the launch ends
by itself when the replay has been played and the map finalized.

    ros2 launch mars_counting replay.launch.py bag:=/data/run1 [robot_config:=...] [rviz:=true] [rate:=1.0]

player:=ros2bag runs `ros2 bag play --clock` (a ROS install) once the tracker and the fusion subscribed (a
subscriber_gate node waits for them); player:=mars runs our bag_replay node (works without the rosbag2 CLI,
e.g. in the PyPI-wheel venv; it waits for the subscribers itself). Offline counting of a bag is deterministic with
`mars-count`; a live replay is not (rosbag2 itself is not deterministic). Every argument and the parameter it
sets: ARGUMENTS below (`--show-args` prints them).
"""
import os

from launch import LaunchDescription
from launch.actions import (DeclareLaunchArgument, EmitEvent, ExecuteProcess, IncludeLaunchDescription,
                            OpaqueFunction, RegisterEventHandler, TimerAction)
from launch.event_handlers import OnProcessExit
from launch.events import Shutdown
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

from mars_ros.node_pattern.launch_arguments import (LAUNCH, PARAMS_FILE, STARTS, LaunchArgument, argument_values,
                                                     declared_arguments, join_namespace, node_parameters,
                                                     require_ros_package)

PLAYER, JETSON = ("bag_replay",), ("tracker", "fusion")
ARGUMENTS = (
    LaunchArgument("bag", "rosbag2 folder to replay", default=None, nodes=PLAYER, parameter="bag_path"),
    LaunchArgument("robot_config", "Robot configuration; empty = rig.yaml beside the bag, else the MARS rig",
                   nodes=JETSON, parameter="robot_config"),
    LaunchArgument("rate", "Playback speed", default="1.0", nodes=PLAYER, parameter="rate", kind="float"),
    LaunchArgument("player", "ros2bag: `ros2 bag play --clock`; mars: the bag_replay node", default="ros2bag",
                   nodes=PLAYER, target=STARTS, choices=("ros2bag", "mars")),
    LaunchArgument("wait_for_subscribers", "Hold playback until the tracker and the fusion subscribed (this many "
                   "subscriptions per detections and GNSS topic)", default="1", nodes=PLAYER,
                   parameter="wait_for_subscribers", kind="int"),
    LaunchArgument("rviz", "Start rviz (needs rviz2 installed)", default="false", nodes=("rviz",), target=STARTS,
                   kind="bool"),
    LaunchArgument("params_file", "ROS parameters file for the tracker and the fusion", nodes=JETSON,
                   target=PARAMS_FILE),
    LaunchArgument("export_dir", "Write the map files here at the end", nodes=("fusion",), parameter="export_dir"),
    LaunchArgument("finalize_after_idle_s", "Finalize the map when the replay has been idle this long",
                   default="2.0", nodes=("fusion",), parameter="finalize_after_idle_s", kind="float"),
    LaunchArgument("fix_topic", "The bag's sensor_msgs/NavSatFix topic", default="gnss/fix", nodes=("fusion",),
                   parameter="fix_topic"),
    LaunchArgument("imu_topic", "The bag's sensor_msgs/Imu heading topic (none = course over ground)",
                   default="imu/data", nodes=("fusion",), parameter="imu_topic", kind="optional", empty_is_unset=False),
    LaunchArgument("shutdown_when_done", "End the launch when the player has finished (after the map is final)",
                   default="true", nodes=PLAYER, target=LAUNCH, kind="bool"),
)


def _text(value):
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def _robot_config(bag, given):
    """The given robot configuration, else a run folder's own (mars-sim writes DIR/rig.yaml beside DIR/bag)."""
    if given:
        return given
    for candidate in (os.path.join(bag, "rig.yaml"), os.path.join(os.path.dirname(bag.rstrip("/")), "rig.yaml")):
        if os.path.isfile(candidate):
            return candidate
    return ""


def _actions(context):
    from mars_core.rig import load_rig

    values = argument_values(ARGUMENTS, lambda name: LaunchConfiguration(name).perform(context))
    share = FindPackageShare("mars_counting").perform(context)
    bag = values["bag"]
    robot_config = _robot_config(bag, values["robot_config"])
    rig = load_rig(robot_config or os.path.join(share, "config", "mars_rig.yaml"))
    # The tracker and the fusion must both be listening: every camera's detections, and the GNSS fixes.
    listened = [f"/{cam}/detections" for cam in rig.camera_names] + [join_namespace(values["fix_topic"])]
    actions = [IncludeLaunchDescription(
        PythonLaunchDescriptionSource(os.path.join(share, "launch", "jetson.launch.py")),
        launch_arguments=[("robot_config", robot_config), ("use_sim_time", "true")]
        + [(name, _text(values[name])) for name in ("rviz", "params_file", "export_dir", "finalize_after_idle_s",
                                                     "fix_topic")] + [("imu_topic", values["imu_topic"] or "none")])]
    if values["player"] == "ros2bag":
        require_ros_package("ros2bag", "player:=ros2bag (use player:=mars without a ROS install)")
        player = ExecuteProcess(cmd=["ros2", "bag", "play", bag, "--clock", "--rate", _text(values["rate"])],
                                output="screen", name="bag_replay")
        gate = Node(package="mars_counting", executable="subscriber_gate_node", name="replay_gate", output="screen",
                    parameters=[{"topics": listened, "subscribers": values["wait_for_subscribers"],
                                 "timeout_s": 120.0}])

        def after_gate(event, _context):
            if event.returncode == 0:
                return [player]
            return [EmitEvent(event=Shutdown(reason="the tracker and the fusion never subscribed: not replaying"))]
        actions += [gate, RegisterEventHandler(OnProcessExit(target_action=gate, on_exit=after_gate))]
    else:
        player = Node(package="mars_counting", executable="bag_replay_node", name="bag_replay", output="screen",
                      parameters=[{**node_parameters(ARGUMENTS, values, "bag_replay"), "publish_clock": True,
                                   "wait_for_types": ["mars_counting/msg/FlowerDetectionArray",
                                                      "sensor_msgs/msg/NavSatFix"]}])
        actions.append(player)
    if values["shutdown_when_done"]:
        # The map is finalized after finalize_after_idle_s without tracks; give the last messages time to arrive.
        grace = values["finalize_after_idle_s"] + 2.0
        actions.append(RegisterEventHandler(OnProcessExit(target_action=player, on_exit=[TimerAction(
            period=grace, actions=[EmitEvent(event=Shutdown(reason="the replay has finished"))])])))
    return actions


def generate_launch_description():
    return LaunchDescription([*declared_arguments(ARGUMENTS, DeclareLaunchArgument),
                              OpaqueFunction(function=_actions)])
