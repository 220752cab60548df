"""Fake of Hailo's Dataflow Compiler Python API (hailo_sdk_client) for tests; the real one is not on PyPI.

Same import paths, class and method names, signatures and artifacts (.har tar archive holding the HN json,
.hef bytes with HailoRT's HEF header, whose payload the fake hailo_platform loads and runs) as DFC 3.2x, and its
failure modes, driven from tests by the environment variable HAILO_FAKE_FAIL (comma-separated, read at call
time so a stage subprocess sees it):
  parse:crash | optimize:crash | compile:crash       the process dies mid-stage (os._exit(1), no artifact)
  STAGE:crash_once=FILE                              the same, only while FILE does not exist (then made)
  STAGE:sleep=S                                      the stage first takes S seconds (a long stage)
  parse:error | optimize:error | compile:error       the stage raises UnsupportedModelError (a lasting failure)
  optimize:oom_kill[=B]                              kernel OOM killer: SIGKILL (only if batch_size > B, if given)
  optimize:gpu_oom[=B]                               TensorFlow ResourceExhaustedError (GPU memory)
  compile:alloc_above=N                              BackendAllocatorException when input height*width > N*N
Assumed (not verified against the real package): exception module paths of MisspellNodeError and
ResourceExhaustedError; the rest follows Hailo's tutorials and public code.
"""
from __future__ import annotations

from hailo_sdk_client.runner.client_runner import ClientRunner, InvalidArgumentsException

__version__ = "3.31.0+fake"
__all__ = ["ClientRunner", "InvalidArgumentsException"]
