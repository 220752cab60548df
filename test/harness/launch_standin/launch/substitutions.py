"""Stand-in for launch.substitutions (test only)."""
from __future__ import annotations

import os
from typing import Any, Sequence

from launch import LaunchContext, perform


class LaunchConfiguration:
    def __init__(self, variable_name: str, default: Any = None) -> None:
        self.variable_name, self.default = variable_name, default

    def perform(self, context: LaunchContext) -> str:
        if self.variable_name in context.launch_configurations:
            return context.launch_configurations[self.variable_name]
        if self.default is not None:
            return perform(self.default, context)
        raise KeyError(f"launch configuration '{self.variable_name}' is not set")


class TextSubstitution:
    def __init__(self, text: str) -> None:
        self.text = text

    def perform(self, context: LaunchContext) -> str:
        return self.text


class PathJoinSubstitution:
    def __init__(self, substitutions: Sequence[Any]) -> None:
        self.substitutions = list(substitutions)

    def perform(self, context: LaunchContext) -> str:
        return os.path.join(*[str(perform(s, context)) for s in self.substitutions])


class PythonExpression:
    def __init__(self, expression: Sequence[Any]) -> None:
        self.expression = expression

    def perform(self, context: LaunchContext) -> str:
        return str(eval(perform(self.expression, context), {}, {}))  # noqa: S307 (test stand-in)
