"""Configuration is validated with messages naming the variable."""

from __future__ import annotations

import pytest

from handlers.common.config import (
    DEFAULT_LABELS,
    DEFAULT_THRESHOLD,
    ClassifySettings,
    SerializeSettings,
    ThresholdSettings,
    parse_labels,
    parse_threshold,
)
from handlers.common.errors import ConfigurationError


def test_threshold_defaults_to_73_percent() -> None:
    assert ThresholdSettings.from_env({}).threshold == DEFAULT_THRESHOLD == 0.73


@pytest.mark.parametrize("raw", ["0", "-0.1", "1.5", "nan", "inf", "high"])
def test_threshold_outside_0_1_is_a_configuration_error(raw: str) -> None:
    with pytest.raises(ConfigurationError, match="THRESHOLD"):
        parse_threshold(raw)


def test_threshold_is_parsed() -> None:
    assert parse_threshold("0.9") == 0.9


def test_labels_default_and_parse() -> None:
    assert parse_labels(None) == DEFAULT_LABELS
    assert parse_labels(" cat, dog ") == ("cat", "dog")


@pytest.mark.parametrize("raw", ["cat,,dog", "cat,cat"])
def test_bad_labels_are_rejected(raw: str) -> None:
    with pytest.raises(ConfigurationError, match="LABELS"):
        parse_labels(raw)


def test_classify_needs_an_endpoint_name() -> None:
    with pytest.raises(ConfigurationError, match="ENDPOINT_NAME is not set"):
        ClassifySettings.from_env({})
    assert ClassifySettings.from_env({"ENDPOINT_NAME": "ep"}).endpoint_name == "ep"


def test_integer_limits_are_validated() -> None:
    with pytest.raises(ConfigurationError, match="MAX_IMAGE_BYTES must be an integer"):
        SerializeSettings.from_env({"MAX_IMAGE_BYTES": "10MB"})
    with pytest.raises(ConfigurationError, match="MAX_IMAGE_PIXELS must be at least 1"):
        SerializeSettings.from_env({"MAX_IMAGE_PIXELS": "0"})
