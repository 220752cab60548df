"""Stand-in for ROS 2 `launch` (test only): a description is a list of actions evaluated in a context."""
from __future__ import annotations

from typing import Any, Dict, Iterable, List


class LaunchContext:
    """Launch configurations (arguments) in force while evaluating."""

    def __init__(self, arguments: Dict[str, str]) -> None:
        self.launch_configurations: Dict[str, str] = dict(arguments)


class Action:
    """Base of every action; `condition` decides whether it runs."""

    def __init__(self, condition: Any = None) -> None:
        self.condition = condition

    def enabled(self, context: LaunchContext) -> bool:
        return self.condition is None or self.condition.evaluate(context)


class LaunchDescription(Action):
    """An ordered list of actions."""

    def __init__(self, initial_entities: Iterable[Any] = ()) -> None:
        super().__init__()
        self.entities: List[Any] = list(initial_entities)

    def add_action(self, action: Any) -> None:
        self.entities.append(action)


def perform(value: Any, context: LaunchContext) -> Any:
    """Resolve substitutions (or lists of them, concatenated) into text."""
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, str):
        return value
    if hasattr(value, "perform"):
        return value.perform(context)
    if isinstance(value, (list, tuple)):
        return "".join(str(perform(v, context)) for v in value)
    raise TypeError(f"cannot resolve launch value {value!r}")
