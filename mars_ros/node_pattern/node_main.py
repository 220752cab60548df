"""main() of every MARS node: init, build the node, spin, and shut down cleanly on SIGINT or shutdown."""
from __future__ import annotations

import signal
import sys
import threading
from typing import Callable, List, Optional

import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node

from mars_core.config_schema import ConfigError


def run_node(make_node: Callable[[], Node], args: Optional[List[str]] = None) -> int:
    """Run the node made by make_node until shutdown; returns the process exit code.

    0 after SIGINT (Ctrl-C, launch shutdown) or an external shutdown; 2 when the configuration is invalid
    (the error names the bad parameter); 1 on any other start-up failure.
    """
    rclpy.init(args=args if args is not None else sys.argv)
    node: Optional[Node] = None
    try:
        try:
            node = make_node()
        except ConfigError as exc:
            rclpy.logging.get_logger("mars").fatal(f"invalid configuration: {exc}")
            return 2
        except Exception as exc:  # a missing device, an unreadable file: say what, exit non-zero
            rclpy.logging.get_logger("mars").fatal(f"cannot start: {type(exc).__name__}: {exc}")
            return 1
        finished = getattr(node, "finished", None)  # a node that ends by itself exposes a Future
        if finished is not None:
            rclpy.spin_until_future_complete(node, finished)
        else:
            rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        # A Ctrl-C in a terminal reaches every process of the group and `ros2 launch` sends its own SIGINT too:
        # the second one must not interrupt the final save or the shutdown (launch escalates to SIGTERM and
        # SIGKILL if this hangs).
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, signal.SIG_IGN)
        if node is not None:
            close = getattr(node, "close", None)
            if callable(close):
                close()  # release devices / flush files before the context goes away
            node.destroy_node()
        rclpy.try_shutdown()
    return 0
