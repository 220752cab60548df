"""mars-count on damaged bags (issue 17, defects 4 and 5): a truncated mcap is counted even when the rig comes
from the bag itself, a corrupt chunk costs only its own messages, the problems say what was lost and what was
recovered, and the exit code says that part of the input was unreadable; broken sqlite3 bags fail clearly."""
from __future__ import annotations

import json
import random
import re
import shutil
from pathlib import Path

import pytest
from mcap.reader import make_reader
from mcap.records import Chunk, Message
from mcap.stream_reader import StreamReader, breakup_chunk

from bag_surgery import rewrite_bag
from mars_pipeline.bag_counting import count_bag
from mars_pipeline.count_cli import EXIT_BAD_INPUT, EXIT_PARTIAL
from mars_pipeline.count_cli import main as mars_count

pytestmark = pytest.mark.slow

DETECTIONS = "mars_counting/msg/FlowerDetectionArray"


def _bag_alone(run: Path, target: Path) -> Path:
    """A copy of a run's bag with no rig.yaml beside it (the rig must come from camera_info and /tf_static)."""
    bag = target / "bag"
    shutil.copytree(run / "bag", bag)
    return bag


def _summary(out: Path) -> dict:
    return json.loads((out / "summary.json").read_text())


def test_a_truncated_mcap_without_rig_file_is_counted_with_the_rig_of_its_own_messages(small_run_mcap, tmp_path,
                                                                                        capsys):
    bag = _bag_alone(small_run_mcap, tmp_path / "alone")
    data = (bag / "bag.mcap").read_bytes()
    (bag / "bag.mcap").write_bytes(data[: len(data) * 60 // 100])   # the recorder was killed
    out = tmp_path / "out"
    assert mars_count([str(bag), "--out", str(out), "--no-progress"]) == EXIT_PARTIAL
    printed = capsys.readouterr()
    summary = _summary(out)
    assert summary["flowers"] > 0 and "camera_info + /tf_static" in summary["rig"]
    assert summary["truncated"] and summary["partly_unreadable"]
    problems = "\n".join(summary["problems"])
    assert "truncated" in problems and "complete message(s) were kept" in problems and "recovered" in problems
    assert "truncated" in printed.out and "Traceback" not in printed.err + printed.out
    with_config = count_bag(bag, small_run_mcap / "rig.yaml")   # the same bytes, the rig from the run's file
    assert with_config.flowers == summary["flowers"]
    assert with_config.pipeline.camera_counts() == summary["per_camera"]
    assert with_config.messages_read == summary["messages_read"]


def test_a_corrupt_chunk_in_the_middle_costs_only_its_own_messages(quick_run_mcap, tmp_path, capsys):
    clean = quick_run_mcap / "bag" / "bag.mcap"
    with clean.open("rb") as fh:
        index = make_reader(fh).get_summary()
    assert index is not None and index.statistics is not None and len(index.chunk_indexes) >= 3
    detection_ids = {cid for cid, ch in index.channels.items() if index.schemas[ch.schema_id].name == DETECTIONS}
    clean_frames = sum(index.statistics.channel_message_counts[cid] for cid in detection_ids)
    data = bytearray(clean.read_bytes())
    middle = len(data) // 2
    hit = next(i for i, ci in enumerate(index.chunk_indexes)
               if ci.chunk_start_offset <= middle < ci.chunk_start_offset + ci.chunk_length)
    assert 0 < hit < len(index.chunk_indexes) - 1, "the damage must leave readable chunks on both sides"
    with clean.open("rb") as fh:
        chunk = [r for r in StreamReader(fh, emit_chunks=True).records if isinstance(r, Chunk)][hit]
    in_hit = [r for r in breakup_chunk(chunk) if isinstance(r, Message)]
    lost_frames = sum(1 for m in in_hit if m.channel_id in detection_ids)
    data[middle:middle + 2048] = random.Random(5).randbytes(2048)
    bag = tmp_path / "run" / "bag"
    shutil.copytree(quick_run_mcap / "bag", bag)
    shutil.copy(quick_run_mcap / "rig.yaml", tmp_path / "run" / "rig.yaml")
    (bag / "bag.mcap").write_bytes(bytes(data))
    out = tmp_path / "out"
    assert mars_count([str(bag), "--out", str(out), "--no-progress"]) == EXIT_PARTIAL
    printed = capsys.readouterr()
    summary = _summary(out)
    assert clean_frames - lost_frames <= summary["frames_total"] < clean_frames
    assert summary["flowers"] > 0 and summary["partly_unreadable"]
    problems = "\n".join(summary["problems"])
    assert "s into the bag" in problems
    kept_and_lost = re.search(r"its (\d+) well-formed message\(s\) before the damage were kept\): (\d+) message",
                              problems)
    assert kept_and_lost, problems   # rosbags writes chunks without CRC: the records before the damage stay
    assert int(kept_and_lost[1]) + int(kept_and_lost[2]) == len(in_hit)
    assert "lost 1 part" not in problems and "OverflowError" not in problems + printed.out
    last_kept = max(m.log_time for m in in_hit[:int(kept_and_lost[1])])   # the first records, in file order
    span = f"({(index.chunk_indexes[hit].message_end_time - last_kept) / 1e9:.2f} s)"
    assert span in problems, "the time span lost: from the last message kept to the chunk's end"


def test_broken_sqlite3_bags_fail_naming_the_file(small_run_mcap, tmp_path, capsys):
    source = rewrite_bag(small_run_mcap / "bag", tmp_path / "sqlite", storage="sqlite3")
    db3 = next(source.glob("*.db3")).read_bytes()
    variants = {"truncated": db3[: len(db3) * 60 // 100],
                "corrupt": db3[: len(db3) // 2] + random.Random(4).randbytes(2048) + db3[len(db3) // 2 + 2048:],
                "random": random.Random(6).randbytes(20_000), "empty": b""}
    for name, content in variants.items():
        bag = tmp_path / name / "bag"
        shutil.copytree(source, bag)
        shutil.copy(small_run_mcap / "rig.yaml", tmp_path / name / "rig.yaml")
        next(bag.glob("*.db3")).write_bytes(content)
        code = mars_count([str(bag), "--out", str(tmp_path / f"out_{name}"), "--no-progress"])
        printed = capsys.readouterr()
        assert "Traceback" not in printed.err + printed.out, name
        if code == EXIT_BAD_INPUT:
            assert f"cannot open bag {bag}" in printed.err and ".db3" in printed.err, name
        else:   # damage sqlite finds only while reading (a page or a message): the rest counted, the problem said
            assert code == EXIT_PARTIAL and _summary(tmp_path / f"out_{name}")["problems"], name
