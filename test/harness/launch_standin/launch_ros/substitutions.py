"""Stand-in for launch_ros.substitutions (test only): our package's share folder is the repository root."""
from __future__ import annotations

from pathlib import Path

from launch import LaunchContext

SHARE_ROOTS = {"mars_counting": str(Path(__file__).resolve().parents[4])}


class FindPackageShare:
    def __init__(self, package: str) -> None:
        self.package = package

    def perform(self, context: LaunchContext) -> str:
        if self.package not in SHARE_ROOTS:
            raise LookupError(f"package '{self.package}' is unknown to the test launch stand-in")
        return SHARE_ROOTS[self.package]
