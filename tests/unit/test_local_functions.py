"""What the local runtime knows about the functions comes from serverless.yml and the handlers themselves."""

from __future__ import annotations

import functools
import importlib
from pathlib import Path
from typing import Any

import pytest
import yaml
from aws_lambda_powertools import Metrics

import handlers.classify
import handlers.threshold
from handlers.common import aws
from imageflow.runner.functions import (
    SERVERLESS_YML,
    ServiceDefinitionError,
    load_service,
    publishes_metrics,
    reset_handler_containers,
)


def test_the_handler_table_is_serverless_yml_s() -> None:
    declared = yaml.safe_load(SERVERLESS_YML.read_text(encoding="utf-8"))
    service = load_service()
    assert service.service == declared["service"]
    assert {key: f.handler for key, f in service.functions.items()} == {
        key: spec["handler"] for key, spec in declared["functions"].items()
    }
    classify = service.functions["classify"]
    assert (classify.module, classify.attribute) == ("handlers.classify", "handler")
    assert classify.timeout_seconds == declared["functions"]["classify"]["timeout"]
    assert service.functions["serialize"].memory_mb == declared["provider"]["memorySize"]
    assert service.function_name("threshold", "local") == f"{declared['service']}-local-threshold"


def test_a_bad_service_definition_names_the_file_and_the_setting(tmp_path: Path) -> None:
    path = tmp_path / "serverless.yml"
    path.write_text(
        "service: s\nprovider: {timeout: 30}\nfunctions:\n  f: {handler: h.handler, timeout: '${param:t}'}\n"
    )
    with pytest.raises(ServiceDefinitionError, match=r"serverless\.yml: functions\.f\.timeout must be a whole number"):
        load_service(path)
    path.write_text("service: s\nfunctions:\n  f: {description: no handler}\n")
    with pytest.raises(ServiceDefinitionError, match=r"functions\.f\.handler must be 'path/module\.function'"):
        load_service(path)


def test_metric_publishers_are_found_by_their_decorator() -> None:
    service = load_service()
    found = {
        key
        for key, function in service.functions.items()
        if publishes_metrics(getattr(importlib.import_module(function.module), function.attribute))
    }
    assert found == {"threshold"}  # the one handler decorated with @metrics.log_metrics

    metrics = Metrics(namespace="Test", service="test")

    def plain(event: Any, context: Any) -> None:
        return None

    @functools.wraps(plain)
    def other_decorator(event: Any, context: Any) -> None:
        return plain(event, context)

    assert not publishes_metrics(plain) and not publishes_metrics(other_decorator)
    assert publishes_metrics(metrics.log_metrics(plain))
    assert publishes_metrics(functools.wraps(plain)(metrics.log_metrics(plain)))  # under another decorator


def test_a_reset_container_rereads_its_settings_and_makes_new_clients(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("THRESHOLD", "0.5")
    monkeypatch.setenv("ENDPOINT_NAME", "first")
    assert handlers.threshold.settings().threshold == 0.5
    assert handlers.classify.settings().endpoint_name == "first"
    client = aws.s3_client()
    monkeypatch.setenv("THRESHOLD", "0.9")
    monkeypatch.setenv("ENDPOINT_NAME", "second")
    assert handlers.threshold.settings().threshold == 0.5  # cached, as in a warm container
    reset_handler_containers()
    assert handlers.threshold.settings().threshold == 0.9
    assert handlers.classify.settings().endpoint_name == "second"
    assert aws.s3_client() is not client


def test_the_in_process_runtime_serialises_exactly_the_metric_publishers() -> None:
    from imageflow.runner.lambda_bridge import FunctionRegistry

    registry = FunctionRegistry("us-east-1", "123456789012")
    for key, function in load_service().functions.items():
        registry.register(key, function.handler)
    assert {key for key in load_service().functions if registry.publishes_metrics(key)} == {"threshold"}
