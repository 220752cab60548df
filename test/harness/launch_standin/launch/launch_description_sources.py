"""Stand-in for launch.launch_description_sources (test only)."""
from __future__ import annotations

from typing import Any


class PythonLaunchDescriptionSource:
    def __init__(self, launch_file_path: Any) -> None:
        self.launch_file_path = launch_file_path
