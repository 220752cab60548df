"""Backend (allocator / compiler) exceptions (hailo_sdk_client.sdk_backend.sdk_backend_exceptions)."""
from __future__ import annotations


class SDKBackendException(Exception):
    pass


class BackendAllocatorException(SDKBackendException):
    pass


class AllocatorScriptParserException(SDKBackendException):
    pass
