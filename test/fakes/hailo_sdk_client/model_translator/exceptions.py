"""Parser exceptions (hailo_sdk_client.model_translator.exceptions)."""
from __future__ import annotations


class ModelTranslatorException(Exception):
    pass


class UnsupportedModelError(ModelTranslatorException):
    pass


class MisspellNodeError(ModelTranslatorException):
    pass


class ParsingWithRecommendationException(ModelTranslatorException):
    def __init__(self, message: str, recommended_start_node_names: list[str] | None = None,
                 recommended_end_node_names: list[str] | None = None) -> None:
        super().__init__(message)
        self.recommended_start_node_names = recommended_start_node_names or []
        self.recommended_end_node_names = recommended_end_node_names or []
