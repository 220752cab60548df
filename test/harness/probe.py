"""A probe node in the test process: subscribes to topics and waits for messages with timeouts."""
from __future__ import annotations

import threading
import time
from typing import Any, Dict, List, Optional

import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import QoSProfile


class Probe:
    """Collects messages of the topics it is asked to watch, spinning in a background thread."""

    def __init__(self, name: str = "test_probe") -> None:
        if not rclpy.ok():
            rclpy.init()
        self.node = Node(name)
        self._executor = SingleThreadedExecutor()
        self._executor.add_node(self.node)
        self._lock = threading.Lock()
        self._messages: Dict[str, List[Any]] = {}
        self._subscriptions: Dict[str, Any] = {}
        self._stop = False
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        while not self._stop and rclpy.ok():
            self._executor.spin_once(timeout_sec=0.05)

    def watch(self, topic: str, msg_type: Any, qos: Optional[QoSProfile] = None) -> None:
        """Start collecting messages of topic."""
        with self._lock:
            self._messages.setdefault(topic, [])

        def store(msg: Any, t: str = topic) -> None:
            with self._lock:
                self._messages[t].append(msg)

        self._subscriptions[topic] = self.node.create_subscription(msg_type, topic, store, qos or QoSProfile(depth=1000))

    def messages(self, topic: str) -> List[Any]:
        """A copy of what arrived on topic so far."""
        with self._lock:
            return list(self._messages.get(topic, []))

    def wait_for(self, topic: str, count: int = 1, timeout: float = 10.0) -> List[Any]:
        """Wait until at least count messages arrived on topic; fail with what did arrive otherwise."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            msgs = self.messages(topic)
            if len(msgs) >= count:
                return msgs
            time.sleep(0.02)
        raise AssertionError(f"expected {count} messages on {topic} within {timeout} s, got "
                             f"{len(self.messages(topic))}; topics seen: {self.node.get_topic_names_and_types()}")

    def wait_for_publishers(self, topic: str, count: int = 1, timeout: float = 10.0) -> None:
        """Wait until topic has at least count publishers (discovery done)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.node.count_publishers(topic) >= count:
                return
            time.sleep(0.02)
        raise AssertionError(f"no publisher on {topic} within {timeout} s")

    def call(self, srv_type: Any, name: str, request: Any, timeout: float = 30.0) -> Any:
        """Call a service (waiting for it to appear) and return its response; fail after timeout seconds."""
        client = self.node.create_client(srv_type, name)
        try:
            if not client.wait_for_service(timeout_sec=timeout):
                raise AssertionError(f"service {name} did not appear within {timeout} s")
            future = client.call_async(request)
            deadline = time.monotonic() + timeout
            while not future.done():
                if time.monotonic() > deadline:
                    raise AssertionError(f"service {name} did not answer within {timeout} s")
                time.sleep(0.01)
            return future.result()
        finally:
            self.node.destroy_client(client)

    def get_parameters(self, node: str, names: List[str]) -> Dict[str, Any]:
        """The values of a node's parameters, read through its get_parameters service."""
        from rcl_interfaces.srv import GetParameters
        from rclpy.parameter import parameter_value_to_python

        response = self.call(GetParameters, f"{node}/get_parameters", GetParameters.Request(names=names))
        return {n: parameter_value_to_python(v) for n, v in zip(names, response.values)}

    def set_parameter(self, node: str, name: str, value: Any) -> Any:
        """Set one parameter through the node's set_parameters service; returns its SetParametersResult."""
        from rcl_interfaces.srv import SetParameters
        from rclpy.parameter import Parameter

        request = SetParameters.Request(parameters=[Parameter(name, value=value).to_parameter_msg()])
        return self.call(SetParameters, f"{node}/set_parameters", request).results[0]

    def diagnostics(self, component: str) -> List[Dict[str, str]]:
        """Key/values of every /diagnostics status whose name ends with ': component' (watch /diagnostics first)."""
        return [{kv.key: kv.value for kv in s.values} | {"_message": s.message, "_level": s.level}
                for d in self.messages("/diagnostics") for s in d.status if s.name.endswith(f": {component}")]

    def close(self) -> None:
        """Stop spinning and destroy the node."""
        self._stop = True
        self._thread.join(2)
        self._executor.remove_node(self.node)
        self.node.destroy_node()
