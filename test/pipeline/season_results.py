"""Comparing two season results of mars-count (the local process pool against a Dask cluster)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Dict

# What differs between two runs of the same count: how long it took.
TIMING_KEYS = ("seconds", "realtime_factor")


def result_contents(out: Path) -> Dict[str, str]:
    """A season result as {relative path: content} over the files that carry the counts and maps (flowers,
    tracks, summaries without their timing, the merge summary with --out as OUT), to compare two runs."""
    contents: Dict[str, str] = {}
    for path in sorted(out.rglob("*")):
        rel = str(path.relative_to(out))
        if path.name in ("flowers.csv", "flowers.geojson") or path.parent.name == "tracks":
            contents[rel] = path.read_text()
        elif path.name == "summary.json":
            summary = json.loads(path.read_text())
            contents[rel] = json.dumps({k: v for k, v in summary.items() if k not in TIMING_KEYS}, sort_keys=True)
        elif path.name == "merge_summary.json":
            contents[rel] = path.read_text().replace(str(out), "OUT")
    return contents
