"""Writing a counting run's results: the map files, per-camera MOTChallenge tracks, plots and summary.json."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Dict, List, Optional, Union

import numpy as np

from mars_core.stamps import NS_PER_S
from mars_fusion.exports import write_all, write_png
from mars_fusion.snapshot import MapSnapshot
from mars_pipeline.result_bag import write_result_bag
from mars_pipeline.result_folders import result_folder
from mars_pipeline.season_merge import MAP_STATE_FILE
from mars_pipeline.bag_counting import CountReport


def bag_title(report: CountReport) -> str:
    """The bag's name as a title: its last two path parts (a rosbag2 folder is often just 'bag') and the UTC
    date and time of its first message."""
    name = "/".join(report.bag.resolve().parts[-2:])
    first = report.pipeline.first_stamp_ns
    if first is None:
        return name
    started = datetime.fromtimestamp(first / NS_PER_S, tz=timezone.utc)
    return f"{name}, {started:%Y-%m-%d %H:%M} UTC"


def count_plot_figure(report: CountReport) -> Any:
    """Flowers over time as a matplotlib Figure: the map count and each camera's confirmed tracks."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    series = report.pipeline.count_series
    fig = Figure(figsize=(8, 4.5))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    if series:
        t0 = series[0][0]
        t = np.array([(s[0] - t0) / NS_PER_S for s in series])
        ax.plot(t, [s[1] for s in series], color="black", linewidth=2, label="map (de-duplicated)")
        for camera in series[-1][2]:
            ax.plot(t, [s[2].get(camera, 0) for s in series], linewidth=1, label=f"{camera} tracks")
    ax.set_xlabel("time since start of bag (s)")
    ax.set_ylabel("flowers")
    ax.set_title(f"Flower count over time: {bag_title(report)}")
    ax.grid(alpha=0.3)
    if series:
        ax.legend(loc="upper left")
    fig.tight_layout()
    return fig


def write_count_plot(report: CountReport, path: Path) -> Path:
    """Flowers over time (count_plot_figure) saved as PNG."""
    count_plot_figure(report).savefig(path, dpi=110)
    return path


def summary(report: CountReport, snapshot: Optional[MapSnapshot] = None) -> Dict[str, Any]:
    """The summary.json content (snapshot: the map's, when the caller already has it)."""
    p = report.pipeline
    frames = {name: log.frames for name, log in p.logs.items()}
    first_ns, last_ns = p.first_stamp_ns, p.last_stamp_ns  # set together by the first message
    duration = ((last_ns - first_ns) / NS_PER_S) if first_ns is not None and last_ns is not None else 0.0
    snapshot = snapshot if snapshot is not None else p.mapper.snapshot()
    diag = p.mapper.diagnostics()
    return {
        "bag": str(report.bag),
        "flowers": p.mapper.count(),
        "per_camera": p.camera_counts(),
        "per_camera_in_map": p.mapper.counts_per_camera(),
        "per_plot": snapshot.counts_per_plot(),
        "duplicates_merged": int(sum(v for k, v in diag.items() if k.startswith("map_") and "merge" in k)),
        "frames": frames,
        "frames_total": int(sum(frames.values())),
        "detections": {name: log.detections for name, log in p.logs.items()},
        "seconds": round(report.seconds, 3),
        "bag_duration_s": round(duration, 3),
        "realtime_factor": round(duration / report.seconds, 1) if report.seconds > 0 else None,
        "gnss": {"fixes": p.fixes, "fix_status": {str(k): v for k, v in sorted(p.fix_status.items())},
                 "headings": p.headings, "datum": list(snapshot.datum) if p.mapper.map_frame else None,
                 **p.mapper.gnss_report(),
                 **{k: v for k, v in diag.items() if k.startswith("fix_") or k.startswith("pose_")}},
        "rig": report.rig_source,
        "from_images": report.image_cameras,
        "detector": report.detector,
        "messages_read": report.messages_read,
        "truncated": report.truncated,
        "partly_unreadable": report.partly_unreadable,
        "problems": report.problems,
        "tracker_warnings": {name: len(log.warnings) for name, log in p.logs.items()},
        "association": {name: tracker.association for name, tracker in p.trackers.items()},
    }


def write_outputs(report: CountReport, out_dir: Union[str, Path]) -> Dict[str, Any]:
    """Write every result file into out_dir, replacing an earlier result there as a whole and in one step
    (nothing of an older run survives; a kill leaves the old or the new result); returns the summary (as
    written to summary.json, with the files written)."""
    with result_folder(Path(out_dir)) as folder:
        return write_result_files(report, folder)


def write_result_files(report: CountReport, out: Path) -> Dict[str, Any]:
    """Write every result file into the empty folder out; returns the summary, its `files` what was written."""
    files: List[str] = []
    (out / "tracks").mkdir(parents=True, exist_ok=True)
    p = report.pipeline
    snapshot = p.mapper.snapshot()
    for camera, log in p.logs.items():
        rows = log.mot_array()
        path = out / "tracks" / f"{camera}.txt"
        with path.open("w") as fh:
            for r in rows:
                fh.write(f"{int(r[0])},{int(r[1])},{r[2]:.2f},{r[3]:.2f},{r[4]:.2f},{r[5]:.2f},{r[6]:.4f},-1,-1,-1\n")
    if p.mapper.map_frame is not None:
        p.mapper.save(out / MAP_STATE_FILE)  # for merging several bags' maps and resuming the map
        files += [path.name for path in write_all(snapshot, out, picture=False).values()]
        files.append(write_png(snapshot, out / "map.png", title=f"{len(snapshot)} flowers: {bag_title(report)}").name)
        write_result_bag(snapshot, out / "map_bag")
        files += [MAP_STATE_FILE, "map_bag/"]
    else:  # keep the column layout so downstream readers see an empty map, not a missing file
        (out / "flowers.csv").write_text("id,x,y,z,lat,lon\n")
        files.append("flowers.csv")
    write_count_plot(report, out / "count_over_time.png")
    files += ["count_over_time.png", "tracks/", "summary.json"]
    content = summary(report, snapshot)
    content["files"] = files
    (out / "summary.json").write_text(json.dumps(content, indent=2))
    return content
