"""Threshold: let a result through only if some class reaches the confidence threshold."""

from __future__ import annotations

import functools
from typing import Any

from handlers.common.config import ThresholdSettings
from handlers.common.errors import InvalidInferencesError, ThresholdConfidenceNotMetError
from handlers.common.events import body_location, parse_body, response
from handlers.common.inferences import (
    best_prediction,
    low_confidence_detail,
    meets_threshold,
    validate_probabilities,
)
from handlers.common.observability import bind_invocation, logger, metrics, record_confidence


@functools.cache
def settings() -> ThresholdSettings:
    return ThresholdSettings.from_env()


@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    config = settings()
    body = parse_body(event)
    image = body_location(body).uri
    bind_invocation(event, context, s3_uri=image)
    if "inferences" not in body:
        raise InvalidInferencesError(f"The body for {image} has no 'inferences': pass classify's output")
    probabilities = validate_probabilities(body["inferences"], config.labels)
    best = best_prediction(probabilities, config.labels)
    met = meets_threshold(probabilities, config.threshold)
    record_confidence(best.confidence, met, best.label)

    if not met:
        logger.info("Confidence below threshold", extra={"label": best.label, "confidence": best.confidence})
        raise ThresholdConfidenceNotMetError(low_confidence_detail(best, probabilities, config.threshold, image))
    body.update(inferences=probabilities, label=best.label, confidence=best.confidence)
    logger.info("Confidence meets threshold", extra={"label": best.label, "confidence": best.confidence})
    return response(body)
