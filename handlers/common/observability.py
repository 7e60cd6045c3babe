"""Structured logs and CloudWatch metrics shared by the handlers (AWS Lambda Powertools).

The service name and metrics namespace come from POWERTOOLS_SERVICE_NAME and
POWERTOOLS_METRICS_NAMESPACE, set in serverless.yml.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME", "image-classification")
NAMESPACE = os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "ImageClassification")

logger = Logger(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)


def execution_id(event: object) -> str | None:
    """The Step Functions execution ARN the state machine adds as ``correlation.execution_id``."""
    if isinstance(event, Mapping):
        correlation = event.get("correlation")
        if isinstance(correlation, Mapping) and isinstance(correlation.get("execution_id"), str):
            return correlation["execution_id"]
    return None


def bind_invocation(event: object, context: Any, **keys: Any) -> None:
    """Tag every log line of this invocation with the execution, the request and ``keys``.

    The correlation id is the execution ARN when the state machine runs the function, so one
    search finds the three functions' lines for an image; otherwise the Lambda request id.
    The keys are thread-local: Lambda runs one event per container, but the local runtime
    runs several invocations of a function at once in one process.
    """
    request_id = getattr(context, "aws_request_id", None)
    logger.thread_safe_clear_keys()
    logger.thread_safe_append_keys(correlation_id=execution_id(event) or request_id, request_id=request_id, **keys)


def record_confidence(confidence: float, met: bool, label: str) -> None:
    """Publish the best confidence and whether it met the threshold (embedded metric format)."""
    metrics.add_metric(name="BestConfidence", unit=MetricUnit.NoUnit, value=confidence)
    metrics.add_metric(name="ThresholdMet", unit=MetricUnit.Count, value=1 if met else 0)
    metrics.add_metric(name="LowConfidence", unit=MetricUnit.Count, value=0 if met else 1)
    metrics.add_metadata(key="label", value=label)
