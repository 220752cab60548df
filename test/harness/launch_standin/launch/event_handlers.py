"""Stand-in for launch.event_handlers (test only): handlers are recorded, not run (tests inspect them)."""
from __future__ import annotations

from typing import Any


class OnProcessExit:
    def __init__(self, *, target_action: Any = None, on_exit: Any = None, **kwargs: Any) -> None:
        self.target_action, self.on_exit = target_action, on_exit

    def actions_on_exit(self, returncode: int) -> list:
        """What the handler does when its target exits with returncode (on_exit: actions or a function)."""
        if callable(self.on_exit):
            return list(self.on_exit(ProcessExited(returncode), None) or [])
        return list(self.on_exit or [])


class ProcessExited:
    def __init__(self, returncode: int) -> None:
        self.returncode = returncode
