"""Stand-in for launch.conditions (test only)."""
from __future__ import annotations

from typing import Any

from launch import LaunchContext, perform


def _truthy(text: str) -> bool:
    value = str(text).strip().lower()
    if value in ("true", "1"):
        return True
    if value in ("false", "0"):
        return False
    raise ValueError(f"condition value '{text}' is not a boolean (true/false/1/0)")


class IfCondition:
    def __init__(self, predicate_expression: Any) -> None:
        self.predicate = predicate_expression

    def evaluate(self, context: LaunchContext) -> bool:
        return _truthy(perform(self.predicate, context))


class UnlessCondition(IfCondition):
    def evaluate(self, context: LaunchContext) -> bool:
        return not super().evaluate(context)
