"""The local SageMaker endpoint, independent of any transport.

``LocalEndpoint.invoke`` is what SageMaker runtime's ``InvokeEndpoint`` does for one hosted model: check the
endpoint name and the request, run the model, record data capture, return the response body. Errors are
raised as ``EndpointError`` subclasses carrying SageMaker runtime's error ``code``, ``http_status`` and
``message``, so the HTTP application (``wsgi.py``) and an in-process botocore hook can both turn them into
exactly what boto3 raises against AWS (``client.exceptions.ModelError`` / ``ValidationError``).

Stable API (used in-process by the local runner)::

    endpoint = LocalEndpoint(ImageClassifier.from_files(), endpoint_name="image-classifier-local")
    body: bytes = endpoint.invoke("image-classifier-local", png_bytes, "image/png")  # b"[0.0006, 0.9596]"
    endpoint.close()  # flushes data capture
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field

from imageflow.endpoint.capture import DEFAULT_VARIANT, DataCaptureWriter
from imageflow.endpoint.model import ImageClassifier, ImageDecodeError

logger = logging.getLogger(__name__)

LOCAL_ACCOUNT_ID = "123456789012"  # moto's default account, so ARNs and messages agree with the local cloud
DEFAULT_REGION = "us-east-1"
MAX_PAYLOAD_BYTES = 6 * 1024 * 1024  # InvokeEndpoint's documented Body limit (botocore model: max 6291456)
RESPONSE_CONTENT_TYPE = "application/json"
# What the model container accepts: any image media type Pillow can decode, plus the generic names that
# SageMaker's built-in image algorithms and many clients use for raw image bytes.
_ACCEPTED_CONTENT_TYPES = ("application/x-image", "application/octet-stream")
_ACCEPTED_RESPONSE_TYPES = ("application/json", "application/*", "*/*")
_ENDPOINT_NAME_PATTERN = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9])*$")  # from the InvokeEndpoint API model


@dataclass(eq=False)  # exceptions stay hashable (identity), as tracebacks and loggers expect
class EndpointError(Exception):
    """An InvokeEndpoint failure: ``code`` is SageMaker runtime's error code, ``http_status`` its status."""

    message: str
    code: str = "InternalFailure"
    http_status: int = 500

    def __post_init__(self) -> None:
        super().__init__(self.message)

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"

    def to_body(self) -> dict[str, object]:
        """The JSON error body as the service sends it (botocore reads ``message`` and modeled fields)."""
        return {"__type": self.code, "message": self.message}


@dataclass(eq=False)
class ValidationError(EndpointError):
    """The request itself is invalid (unknown endpoint, bad name, payload too large): HTTP 400."""

    code: str = "ValidationError"
    http_status: int = 400


@dataclass(eq=False)
class ThrottlingError(EndpointError):
    """The endpoint is at capacity (HTTP 429): retry with back-off, as SageMaker runtime's clients do."""

    code: str = "ThrottlingException"
    http_status: int = 429


@dataclass(eq=False)
class ModelError(EndpointError):
    """The model container rejected the request or failed (HTTP 424); ``original_*`` is what it answered."""

    code: str = "ModelError"
    http_status: int = 424
    original_status_code: int = 400
    original_message: str = ""
    log_stream_arn: str = field(default="")

    def to_body(self) -> dict[str, object]:
        body = super().to_body()
        body.update(
            OriginalStatusCode=self.original_status_code,
            OriginalMessage=self.original_message,
            LogStreamArn=self.log_stream_arn,
        )
        return body


class LocalEndpoint:
    """One SageMaker endpoint (single production variant) serving an ``ImageClassifier``. Thread-safe."""

    def __init__(
        self,
        classifier: ImageClassifier,
        endpoint_name: str = "image-classifier-local",
        *,
        variant_name: str = DEFAULT_VARIANT,
        capture: DataCaptureWriter | None = None,
        account_id: str = LOCAL_ACCOUNT_ID,
        region: str = DEFAULT_REGION,
    ) -> None:
        if not _ENDPOINT_NAME_PATTERN.match(endpoint_name) or len(endpoint_name) > 63:
            raise ValueError(f"invalid SageMaker endpoint name {endpoint_name!r} (letters, digits, hyphens; <= 63)")
        self.classifier = classifier
        self.endpoint_name = endpoint_name
        self.variant_name = variant_name
        self.capture = capture
        self.account_id = account_id
        self.region = region

    @property
    def log_stream_arn(self) -> str:
        """Where SageMaker would point for the container's logs (here: the server's own log)."""
        return f"arn:aws:logs:{self.region}:{self.account_id}:log-group:/aws/sagemaker/Endpoints/{self.endpoint_name}"

    def invoke(
        self,
        endpoint_name: str,
        body: bytes,
        content_type: str,
        accept: str | None = None,
        inference_id: str | None = None,
    ) -> bytes:
        """Classify one image; return the JSON list of label probabilities (label order) as bytes.

        Raises ``ValidationError`` (unknown endpoint, body over 6 MB) or ``ModelError`` (unsupported
        content type or accept, empty or undecodable image, model failure), like SageMaker runtime.
        A successful call is recorded in data capture when a capture writer is configured.
        """
        if endpoint_name != self.endpoint_name:
            raise ValidationError(f"Endpoint {endpoint_name} of account {self.account_id} not found.")
        if len(body) > MAX_PAYLOAD_BYTES:
            raise ValidationError(
                f"Request payload of {len(body)} bytes exceeds the InvokeEndpoint limit of {MAX_PAYLOAD_BYTES} bytes."
            )
        # SageMaker hands content type and accept to the container; ours answers 415/406 like a well-behaved
        # container, which SageMaker reports as ModelError carrying the original status
        if not _is_image_content_type(content_type):
            raise self._model_error(
                415,
                f"Unsupported content type {content_type or '(none)'!r}: send the raw image bytes with an "
                "image/* content type (e.g. image/png, image/jpeg) or application/x-image.",
            )
        if accept and not _accepts_json(accept):
            raise self._model_error(406, f"Unsupported accept {accept!r}: this model only returns application/json.")
        try:
            probabilities = self.classifier.classify(body)
        except ImageDecodeError as exc:
            raise self._model_error(400, str(exc)) from None
        except Exception as exc:  # anything else inside the model is the container's 500
            logger.exception("model failure on endpoint %s", self.endpoint_name)
            raise self._model_error(500, f"model inference failed: {type(exc).__name__}: {exc}") from None
        response = json.dumps(probabilities).encode("utf-8")
        if self.capture is not None:
            try:
                self.capture.capture(
                    input_data=body,
                    input_content_type=content_type,
                    output_data=response,
                    output_content_type=RESPONSE_CONTENT_TYPE,
                    inference_id=inference_id,
                )
            except Exception:  # capture is best-effort in SageMaker too: never fail the inference for it
                logger.exception("data capture failed for endpoint %s", self.endpoint_name)
        return response

    def close(self) -> None:
        """Flush data capture. The classifier stays usable."""
        if self.capture is not None:
            self.capture.close()

    def _model_error(self, original_status: int, original_message: str) -> ModelError:
        # the same wording SageMaker uses for a container's error response
        kind = "client" if original_status < 500 else "server"
        message = (
            f'Received {kind} error ({original_status}) from primary with message "{original_message}". '
            f"See /aws/sagemaker/Endpoints/{self.endpoint_name} in account {self.account_id} for more information."
        )
        return ModelError(
            message,
            original_status_code=original_status,
            original_message=original_message,
            log_stream_arn=self.log_stream_arn,
        )


def _media_type(value: str) -> str:
    return value.split(";", 1)[0].strip().lower()


def _is_image_content_type(content_type: str | None) -> bool:
    media = _media_type(content_type or "")
    return media.startswith("image/") or media in _ACCEPTED_CONTENT_TYPES


def _accepts_json(accept: str) -> bool:
    return any(_media_type(part) in _ACCEPTED_RESPONSE_TYPES for part in accept.split(","))
