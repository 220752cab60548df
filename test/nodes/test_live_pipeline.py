"""The live pipeline over DDS (replay.launch.py: bag replay -> tracker node -> fusion node) publishes the same
count as the offline counter on the same bag: same cores, same answer."""
from __future__ import annotations

import pytest

from harness.launch_evaluation import evaluate_launch_file, fake_ament_prefix
from harness.ros_processes import REPO_ROOT, wait_until
from mars_pipeline.bag_counting import count_bag

pytestmark = pytest.mark.ros

LAUNCH = REPO_ROOT / "launch" / "replay.launch.py"


def test_replay_launch_declares_the_jetson_pipeline(quick_run, tmp_path, monkeypatch):
    monkeypatch.setenv("AMENT_PREFIX_PATH", fake_ament_prefix(tmp_path, "rviz2", "ros2bag"))
    result = evaluate_launch_file(LAUNCH, {"bag": str(quick_run / "bag"), "player": "mars", "rviz": "true"})
    names = {n.name for n in result.nodes}
    assert names == {"tracker", "fusion", "bag_replay", "rviz"}
    assert result.node("tracker").effective_parameters() == {"robot_config": str(quick_run / "rig.yaml"),
                                                            "use_sim_time": True}
    assert result.node("bag_replay").effective_parameters()["bag_path"] == str(quick_run / "bag")
    fusion = result.node("fusion").effective_parameters()
    assert fusion["use_sim_time"] is True and fusion["finalize_after_idle_s"] == 2.0
    assert result.node("bag_replay").effective_parameters()["publish_clock"] is True
    assert result.node("rviz").arguments[-1].endswith("rviz/mars_counting.rviz")
    ros2bag = evaluate_launch_file(LAUNCH, {"bag": "/data/b"})  # played once the gate saw the subscriptions
    handlers = [a.event_handler for a in ros2bag.other_actions if type(a).__name__ == "RegisterEventHandler"]
    started = [a for h in handlers if getattr(h.target_action, "name", None) == "replay_gate" for a in h.actions_on_exit(0)]
    assert [a.cmd[:3] for a in started] == [["ros2", "bag", "play"]]


@pytest.mark.slow
def test_live_pipeline_count_equals_offline_count(quick_run, probe, tmp_path):
    from mars_counting.msg import FlowerCount, GeoFlowerArray

    offline = count_bag(quick_run / "bag")
    assert offline.flowers > 0
    export = tmp_path / "export"
    result = evaluate_launch_file(LAUNCH, {"bag": str(quick_run / "bag"), "player": "mars", "rate": "2.0",
                                           "export_dir": str(export), "finalize_after_idle_s": "2.0"})
    probe.watch("/mars/flower_count", FlowerCount)
    probe.watch("/mars/flowers", GeoFlowerArray)
    # Queues deep enough for the whole bag: "same answer" needs every message, even on a loaded machine
    # (with the default depth a lagging tracker drops frames and reports them missing in its diagnostics).
    for name in ("tracker", "fusion", "bag_replay"):
        result.node(name).parameters.append({"qos_depth": 5000})
    tracker = result.node("tracker").start()
    fusion = result.node("fusion").start()
    with tracker, fusion:
        replay = result.node("bag_replay").start()
        with replay:
            assert replay.wait(180) == 0, replay.output()
        # After the replay the fusion node finalizes (idle) and publishes the final map.
        wait_until(lambda: any(m.total == offline.flowers for m in probe.messages("/mars/flower_count")), 90,
                   what=f"a published count of {offline.flowers} (offline answer); got "
                        f"{[m.total for m in probe.messages('/mars/flower_count')][-5:]}\n{fusion.output()[-3000:]}")
        final = probe.messages("/mars/flower_count")[-1]
        assert final.total == offline.flowers
        assert {c.name: c.count for c in final.per_camera} == offline.pipeline.mapper.counts_per_camera()
        flowers = probe.messages("/mars/flowers")[-1]
        assert len(flowers.flowers) == offline.flowers and flowers.header.frame_id == "map"
        assert tracker.interrupt() == 0, tracker.output()
        assert fusion.interrupt() == 0, fusion.output()
    # Shutdown wrote the exports.
    for name in ("flowers.csv", "flowers.geojson", "flowers.kml", "map.png"):
        assert (export / name).is_file(), name
