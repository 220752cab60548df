"""Stand-in for launch.events (test only)."""
from __future__ import annotations


class Shutdown:
    def __init__(self, *, reason: str = "") -> None:
        self.reason = reason
