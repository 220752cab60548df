"""Encoding of appearance-feature blocks for transport (float32, or uint8 with scale/zero-point)."""
from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Optional

import numpy as np


class FeatureEncoding(IntEnum):
    """Matches the ENCODING_* constants of msg/FeatureBlock.msg."""

    NONE = 0
    FLOAT32 = 1
    UINT8 = 2


# L2-normalised features lie in [-1, 1]: a fixed symmetric uint8 grid keeps every message comparable.
UINT8_SCALE = 1.0 / 127.0
UINT8_ZERO_POINT = 128.0


@dataclass(frozen=True)
class EncodedFeatures:
    """The wire form of a feature block (fields of FeatureBlock.msg)."""

    model_id: str
    dim: int
    encoding: FeatureEncoding
    scale: float
    zero_point: float
    data: bytes


class FeatureMismatchError(ValueError):
    """Features from another model or of another dimension were about to be compared."""


def encode_features(features: Optional[np.ndarray], model_id: str,
                    encoding: FeatureEncoding = FeatureEncoding.FLOAT32) -> EncodedFeatures:
    """Encode an (N, D) float array (or None) for a FeatureBlock."""
    if features is None or encoding == FeatureEncoding.NONE:
        return EncodedFeatures(model_id if features is not None else "", 0, FeatureEncoding.NONE, 0.0, 0.0, b"")
    features = np.asarray(features, dtype=np.float32)
    if features.ndim != 2:
        raise ValueError(f"features must be (N, D), got shape {features.shape}")
    dim = int(features.shape[1])
    if encoding == FeatureEncoding.FLOAT32:
        return EncodedFeatures(model_id, dim, encoding, 1.0, 0.0, features.astype("<f4", copy=False).tobytes())
    if encoding == FeatureEncoding.UINT8:
        q = np.clip(np.rint(features / UINT8_SCALE + UINT8_ZERO_POINT), 0, 255).astype(np.uint8)
        return EncodedFeatures(model_id, dim, encoding, UINT8_SCALE, UINT8_ZERO_POINT, q.tobytes())
    raise ValueError(f"unknown feature encoding {encoding!r}")


def decode_features(block: EncodedFeatures, rows: int) -> Optional[np.ndarray]:
    """Decode a FeatureBlock into (rows, D) float32, or None when it carries no features."""
    encoding = FeatureEncoding(int(block.encoding))
    if encoding == FeatureEncoding.NONE or block.dim == 0:
        return None
    data = bytes(block.data) if not isinstance(block.data, (bytes, bytearray, memoryview, np.ndarray)) else block.data
    if encoding == FeatureEncoding.FLOAT32:
        values = np.frombuffer(data, dtype="<f4")
    else:
        values = (np.frombuffer(data, dtype=np.uint8).astype(np.float32) - np.float32(block.zero_point)) \
            * np.float32(block.scale)
    if values.size != rows * block.dim:
        raise ValueError(f"feature block of model '{block.model_id}' holds {values.size} values, "
                         f"expected {rows} rows x {block.dim}")
    return values.reshape(rows, block.dim).astype(np.float32, copy=False)


def check_compatible(expected_model_id: str, expected_dim: int, model_id: str, dim: int) -> None:
    """Raise FeatureMismatchError when features of (model_id, dim) may not be compared with the expected."""
    if model_id != expected_model_id or dim != expected_dim:
        raise FeatureMismatchError(
            f"features from model '{model_id}' (dim {dim}) cannot be compared with features from model "
            f"'{expected_model_id}' (dim {expected_dim})")
