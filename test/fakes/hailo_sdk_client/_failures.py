"""Failure injection of the fake, driven by HAILO_FAKE_FAIL (see the package docstring)."""
from __future__ import annotations

import os
import signal


class ResourceExhaustedError(Exception):
    """Stands in for tensorflow.python.framework.errors_impl.ResourceExhaustedError (GPU OOM)."""


def _flags() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for item in os.environ.get("HAILO_FAKE_FAIL", "").split(","):
        item = item.strip()
        if item:
            key, _, value = item.partition("=")
            out[key] = value or None
    return out


def maybe_crash(stage: str) -> None:
    """Die like a segfaulting native library: no exception, no cleanup, exit status 1 (with crash_once=FILE
    only while FILE does not exist, which the crash creates: the first run dies, a rerun gets through); with
    sleep=S first take S seconds, like a long stage that a job pre-emption can interrupt."""
    flags = _flags()
    if flags.get(f"{stage}:sleep"):
        import time

        time.sleep(float(flags[f"{stage}:sleep"] or 0))
    if f"{stage}:crash" in flags:
        os._exit(1)
    marker = flags.get(f"{stage}:crash_once")
    if marker and not os.path.exists(marker):
        open(marker, "w").close()
        os._exit(1)


def maybe_oom(batch_size: int) -> None:
    flags = _flags()
    if "optimize:oom_kill" in flags:
        limit = flags["optimize:oom_kill"]
        if limit is None or batch_size > int(limit):
            os.kill(os.getpid(), signal.SIGKILL)
    if "optimize:gpu_oom" in flags:
        limit = flags["optimize:gpu_oom"]
        if limit is None or batch_size > int(limit):
            raise ResourceExhaustedError(f"OOM when allocating tensor with shape[{batch_size},64,320,320] "
                                         "and type float on /job:localhost/replica:0/task:0/device:GPU:0")


def alloc_limit() -> int | None:
    value = _flags().get("compile:alloc_above")
    return int(value) if value else None


def maybe_error(stage: str) -> None:
    """Fail like the DFC rejecting its input: an ordinary exception, the same on every run."""
    if f"{stage}:error" in _flags():
        from hailo_sdk_client.model_translator.exceptions import UnsupportedModelError

        raise UnsupportedModelError(f"fake DFC: {stage} rejects this model: layer /model.22/Mul_7 of type "
                                    "Einsum is not supported")
