"""Stand-in for launch.actions (test only)."""
from __future__ import annotations

from typing import Any, Callable, Iterable, List, Optional, Sequence

from launch import Action, LaunchContext


class DeclareLaunchArgument(Action):
    def __init__(self, name: str, default_value: Any = None, description: str = "",
                 choices: Optional[Sequence[str]] = None, **kwargs: Any) -> None:
        super().__init__(kwargs.get("condition"))
        self.name, self.default_value, self.description, self.choices = name, default_value, description, choices


class OpaqueFunction(Action):
    def __init__(self, function: Callable[..., Optional[List[Any]]], args: Sequence[Any] = (),
                 kwargs: Optional[dict] = None, **extra: Any) -> None:
        super().__init__(extra.get("condition"))
        self.function, self.args, self.kwargs = function, list(args), dict(kwargs or {})

    def execute(self, context: LaunchContext) -> List[Any]:
        return list(self.function(context, *self.args, **self.kwargs) or [])


class GroupAction(Action):
    def __init__(self, actions: Iterable[Any], scoped: bool = True, launch_configurations: Optional[dict] = None,
                 **kwargs: Any) -> None:
        super().__init__(kwargs.get("condition"))
        self.actions, self.scoped, self.launch_configurations = list(actions), scoped, dict(launch_configurations or {})


class IncludeLaunchDescription(Action):
    def __init__(self, launch_description_source: Any, launch_arguments: Any = (), **kwargs: Any) -> None:
        super().__init__(kwargs.get("condition"))
        self.source = launch_description_source
        self.launch_arguments = list(launch_arguments)


class SetLaunchConfiguration(Action):
    def __init__(self, name: str, value: Any, **kwargs: Any) -> None:
        super().__init__(kwargs.get("condition"))
        self.name, self.value = name, value


class LogInfo(Action):
    def __init__(self, msg: Any, **kwargs: Any) -> None:
        super().__init__(kwargs.get("condition"))
        self.msg = msg


class ExecuteProcess(Action):
    def __init__(self, cmd: Sequence[Any], **kwargs: Any) -> None:
        super().__init__(kwargs.get("condition"))
        self.cmd = list(cmd)
        self.kwargs = kwargs


class RegisterEventHandler(Action):
    def __init__(self, event_handler: Any, **kwargs: Any) -> None:
        super().__init__(kwargs.get("condition"))
        self.event_handler = event_handler


class EmitEvent(Action):
    def __init__(self, *, event: Any, **kwargs: Any) -> None:
        super().__init__(kwargs.get("condition"))
        self.event = event


class TimerAction(Action):
    def __init__(self, *, period: Any, actions: Iterable[Any], **kwargs: Any) -> None:
        super().__init__(kwargs.get("condition"))
        self.period, self.actions = period, list(actions)
