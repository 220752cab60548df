"""FAKE hailo_platform (HailoRT Python) for tests: same public names, signatures, shapes, dtypes and errors as
HailoRT 4.x's InferModel API, with numbers computed by ONNX Runtime from the ONNX model the fake HEF names.

Only on sys.path in tests (test/camera/conftest.py). Fault injection and fake-HEF writing live in
hailo_platform._fake_control (not part of the real package).
"""
from hailo_platform.pyhailort.pyhailort import (  # noqa: F401
    HEF,
    AsyncInferCompletionInfo,
    AsyncInferJob,
    ConfiguredInferModel,
    FormatOrder,
    FormatType,
    HailoCommunicationClosedException,
    HailoRTException,
    HailoRTStreamAbortedByUser,
    HailoSchedulingAlgorithm,
    InferModel,
    VDevice,
)

__version__ = "4.23.0"
__all__ = ["HEF", "FormatType", "FormatOrder", "VDevice", "HailoRTException", "HailoSchedulingAlgorithm",
           "HailoRTStreamAbortedByUser", "AsyncInferJob", "HailoCommunicationClosedException"]
