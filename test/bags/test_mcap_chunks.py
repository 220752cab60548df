"""The chunk-by-chunk mcap reader on files written by the mcap package (lz4 chunks with CRCs, as the ROS 2 mcap
storage writes them, and uncompressed ones): a damaged chunk or a cut-off end costs only what it hit, what was
lost is reported, and no damaged byte ever comes back as a message."""
from __future__ import annotations

import random
from pathlib import Path
from typing import Dict, List, Tuple

import pytest
from mcap.reader import make_reader
from mcap.writer import CompressionType, Writer

from mars_ros.bags.bag_files import BagError, open_recorded_bag
from mars_ros.bags.mcap_salvage import McapChunkReader

TOPICS = ("/cam_left/detections", "/gnss/fix", "/imu")
Written = Dict[Tuple[str, int], bytes]   # (topic, log time) -> payload


def _write_mcap(path: Path, compression: CompressionType = CompressionType.LZ4, crcs: bool = True,
                messages: int = 600, chunk_size: int = 8 * 1024) -> Written:
    """A bag of three topics, 10 ms apart, payloads of 40-200 bytes that name their message, small chunks."""
    rng = random.Random(7)
    written: Written = {}
    with path.open("wb") as fh:
        writer = Writer(fh, chunk_size=chunk_size, compression=compression, enable_crcs=crcs)
        writer.start(profile="ros2", library="test")
        schema = writer.register_schema("std_msgs/msg/String", "ros2msg", b"string data")
        channels = [writer.register_channel(topic, "cdr", schema) for topic in TOPICS]
        for i in range(messages):
            topic_index = i % len(TOPICS)
            log_time = 1_000_000_000 + i * 10_000_000
            payload = f"{TOPICS[topic_index]}#{i}#".encode() + bytes(rng.randrange(256)
                                                                     for _ in range(rng.randrange(40, 200)))
            writer.add_message(channels[topic_index], log_time, payload, log_time, sequence=i)
            written[(TOPICS[topic_index], log_time)] = payload
        writer.finish()
    return written


def _chunks(path: Path) -> List[Tuple[int, int, int]]:
    """(offset, length, message count) of every chunk, from the intact file's index."""
    with path.open("rb") as fh:
        reader = make_reader(fh)
        summary = reader.get_summary()
        assert summary is not None
        out = []
        for ci in summary.chunk_indexes:
            count = 0
            for _ in reader.iter_messages(starting_at=ci.message_start_time, ending_at=ci.message_end_time):
                count += 1
            out.append((ci.chunk_start_offset, ci.chunk_length, count))
    return out


def _read_all(path: Path) -> Tuple[List[Tuple[str, int, bytes]], McapChunkReader]:
    reader = McapChunkReader(path)
    got = [(conn.topic, t, data) for conn, t, data in reader.messages()]
    return got, reader


def test_an_intact_file_gives_every_message_in_log_time_order_like_the_mcap_package(tmp_path):
    path = tmp_path / "bag.mcap"
    written = _write_mcap(path)
    got, reader = _read_all(path)
    with path.open("rb") as fh:
        reference = [(c.topic, m.log_time, m.data) for _, c, m in make_reader(fh).iter_messages(log_time_order=True)]
    assert got == reference and len(got) == len(written)
    assert {c.topic: c.msgcount for c in reader.connections} == {t: 200 for t in TOPICS}
    assert reader.damage_report() == [] and not reader.without_summary


@pytest.mark.parametrize("compression", [CompressionType.ZSTD, CompressionType.LZ4, CompressionType.NONE])
def test_a_corrupt_chunk_costs_only_its_own_messages(tmp_path, compression):
    path = tmp_path / "bag.mcap"
    written = _write_mcap(path, compression)
    chunks = _chunks(path)
    assert len(chunks) >= 5
    offset, length, lost = chunks[len(chunks) // 2]
    data = bytearray(path.read_bytes())
    middle = offset + length // 2
    data[middle:middle + 64] = random.Random(1).randbytes(64)   # inside the chunk's data: the CRC catches it
    path.write_bytes(bytes(data))
    got, reader = _read_all(path)
    assert len(got) == len(written) - lost
    assert all(written[(topic, t)] == payload for topic, t, payload in got), "a damaged byte came back"
    assert [t for _, t, _ in got] == sorted(t for _, t, _ in got)
    (loss,) = reader.losses
    assert loss.start == offset and loss.messages == lost and loss.indexed
    report = "\n".join(reader.damage_report())
    assert f"{lost} message(s) lost" in report and ("CRC mismatch" in report or "data corrupt" in report)


@pytest.mark.parametrize("summary", [True, False])
def test_of_a_chunk_without_crc_the_records_before_the_damage_are_kept(tmp_path, summary):
    path = tmp_path / "bag.mcap"
    written = _write_mcap(path, CompressionType.NONE, crcs=False)
    chunks = _chunks(path)
    offset, length, in_hit = chunks[2]
    data = bytearray(path.read_bytes())
    middle = offset + length // 2
    data[middle:middle + 64] = random.Random(1).randbytes(64)
    if not summary:
        data = data[:chunks[-1][0]]   # cut at the last chunk's start: no summary, the walk finds the damage
    path.write_bytes(bytes(data))
    got, reader = _read_all(path)
    assert all(written[(topic, t)] == payload for topic, t, payload in got), "a damaged byte came back"
    (loss,) = reader.losses if summary else reader.losses[:1]
    kept = len(got) - sum(c[2] for c in chunks[:-1 if not summary else None]) + in_hit
    assert 0 < kept < in_hit and loss.start == offset and loss.messages == in_hit - kept
    assert f"its {kept} well-formed message(s) before the damage were kept" in loss.reason


def test_without_summary_the_walk_resyncs_on_the_next_good_chunk(tmp_path):
    path = tmp_path / "bag.mcap"
    written = _write_mcap(path)
    chunks = _chunks(path)
    offset, length, lost = chunks[2]
    last_offset, _, last_count = chunks[-1]
    data = bytearray(path.read_bytes())
    data[offset:offset + 40] = random.Random(2).randbytes(40)   # the chunk header itself: its length is gone
    path.write_bytes(bytes(data[:last_offset + 100]))            # and the file cut in its last chunk
    got, reader = _read_all(path)
    assert reader.without_summary == [path]
    assert len(got) == len(written) - lost - last_count   # the lz4 chunk cut off is lost whole
    assert all(written[(topic, t)] == payload for topic, t, payload in got)
    damaged, cut = reader.losses
    assert damaged.start == offset and damaged.end == chunks[3][0] and damaged.messages is None
    assert damaged.start_ns is not None and damaged.end_ns is not None   # the gap between the good neighbours
    assert cut.start == last_offset and "ends inside a chunk" in cut.reason
    report = "\n".join(reader.damage_report())
    assert "truncated" in report and "an unknown number of messages lost" in report
    assert "recovered" in report and f"{len(got)} message(s)" in report


def test_a_chunk_length_overrunning_the_file_is_damage_when_readable_chunks_follow(tmp_path):
    path = tmp_path / "bag.mcap"
    written = _write_mcap(path)
    chunks = _chunks(path)
    offset, _, lost = chunks[1]
    data = bytearray(path.read_bytes())
    data[offset + 1:offset + 9] = (len(data) * 3).to_bytes(8, "little")   # as if the file ended inside it
    path.write_bytes(bytes(data[:chunks[-1][0]]))                          # no summary: the walk decides
    got, reader = _read_all(path)
    assert len(got) == sum(c[2] for c in chunks[:-1]) - lost
    assert all(written[(topic, t)] == payload for topic, t, payload in got)
    assert reader.losses[0].start == offset and reader.losses[0].end == chunks[2][0]


def test_an_uncompressed_chunk_without_crc_cut_off_keeps_its_complete_messages(tmp_path):
    for crcs in (False, True):
        path = tmp_path / f"bag_{crcs}.mcap"
        written = _write_mcap(path, CompressionType.NONE, crcs=crcs)
        chunks = _chunks(path)
        offset, length, in_last = chunks[-1]
        path.write_bytes(path.read_bytes()[:offset + length // 2])
        got, reader = _read_all(path)
        before = sum(c[2] for c in chunks[:-1])
        assert all(written[(topic, t)] == payload for topic, t, payload in got)
        if crcs:   # with part of the chunk gone its CRC cannot be checked: nothing of it is trusted
            assert len(got) == before and "CRC cannot be checked" in reader.losses[-1].reason
        else:
            assert before < len(got) < before + in_last
            assert "complete message(s) were kept" in reader.losses[-1].reason


@pytest.mark.parametrize("compression", [CompressionType.LZ4, CompressionType.NONE])
def test_random_damage_never_raises_and_never_returns_a_damaged_message(tmp_path, compression):
    clean = tmp_path / "clean.mcap"
    written = _write_mcap(clean, compression, messages=300, chunk_size=4 * 1024)   # chunks with CRCs
    original = clean.read_bytes()
    rng = random.Random(17)
    path = tmp_path / "bag.mcap"
    for trial in range(60):
        data = bytearray(original)
        for _ in range(rng.randrange(1, 4)):
            at = rng.randrange(len(data))
            data[at:at + rng.randrange(1, 300)] = rng.randbytes(rng.randrange(1, 300))
        if rng.random() < 0.5:
            data = data[:rng.randrange(len(data))]
        path.write_bytes(bytes(data))
        try:
            reader = open_recorded_bag(path)
        except BagError as exc:
            assert str(path) in str(exc)
            continue
        got = [(conn.topic, t, payload) for conn, t, payload in reader.messages()]
        assert all(written.get((topic, t)) == payload for topic, t, payload in got), f"trial {trial}"
        if len(got) < len(written):
            assert reader.damage_report(), f"trial {trial}: messages lost without a word"
        reader.close()


def test_files_that_are_no_mcap_are_refused_naming_the_file(tmp_path):
    for name, content in (("empty.mcap", b""), ("random.mcap", random.Random(3).randbytes(5000)),
                          ("magic_only.mcap", b"\x89MCAP0\r\n" + bytes(100))):
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises(BagError, match=str(path)):
            open_recorded_bag(path)
