"""Structured logging shared by the handlers (AWS Lambda Powertools)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

# The service name comes from POWERTOOLS_SERVICE_NAME (set in serverless.yml).
logger = Logger()


def bind_invocation(context: Any, **keys: Any) -> None:
    """Attach the request id and the image's identity to every log line of this invocation."""
    logger.clear_state()
    request_id = getattr(context, "aws_request_id", None)
    if request_id:
        logger.set_correlation_id(request_id)
    logger.append_keys(**keys)
