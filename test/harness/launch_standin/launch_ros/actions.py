"""Stand-in for launch_ros.actions (test only)."""
from __future__ import annotations

from typing import Any, Iterable, Optional, Sequence, Tuple

from launch import Action


class Node(Action):
    def __init__(self, *, executable: Any, package: Any = None, name: Any = None, namespace: Any = None,
                 parameters: Optional[Sequence[Any]] = None, remappings: Optional[Iterable[Tuple[Any, Any]]] = None,
                 arguments: Optional[Sequence[Any]] = None, output: str = "log", condition: Any = None,
                 **kwargs: Any) -> None:
        super().__init__(condition)
        self.package, self.executable, self.name, self.namespace = package, executable, name, namespace
        self.parameters = list(parameters or [])
        self.remappings = list(remappings or [])
        self.arguments = list(arguments or [])
        self.output = output
        self.extra = kwargs


class PushRosNamespace(Action):
    def __init__(self, namespace: Any, **kwargs: Any) -> None:
        super().__init__(kwargs.get("condition"))
        self.namespace = namespace


class SetParameter(Action):
    def __init__(self, name: str, value: Any, **kwargs: Any) -> None:
        super().__init__(kwargs.get("condition"))
        self.name, self.value = name, value
