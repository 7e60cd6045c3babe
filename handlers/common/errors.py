"""Project-defined errors.

The Lambda Python runtime reports an uncaught exception's *class name* as the error
(``errorType``), and the state machine's Retry/Catch match on it. So every class name here
is part of the contract: it says what went wrong, and ``TRANSIENT_ERRORS`` lists the ones
the state machine retries.
"""

from __future__ import annotations


class WorkflowError(Exception):
    """Base class: a failure with a message a person can act on."""


# -- configuration ---------------------------------------------------------------------------
class ConfigurationError(WorkflowError):
    """An environment variable the function needs is missing or invalid."""


# -- the event -------------------------------------------------------------------------------
class InvalidEventError(WorkflowError):
    """The event misses a key or a value has the wrong type or is empty."""


# -- the image in S3 -------------------------------------------------------------------------
class BucketNotFoundError(WorkflowError):
    """The named bucket does not exist."""


class ImageNotFoundError(WorkflowError):
    """The bucket exists but holds no object under the key (or it changed since serialize)."""


class ImageAccessDeniedError(WorkflowError):
    """The function's role may not read the object."""


class EmptyImageError(WorkflowError):
    """The object has zero bytes."""


class NotAnImageError(WorkflowError):
    """The bytes are not an image format the workflow accepts."""


class CorruptImageError(WorkflowError):
    """The image header is readable but the pixel data is truncated or damaged."""


class ImageTooLargeError(WorkflowError):
    """The object is larger than the configured byte limit."""


class DecompressionBombError(WorkflowError):
    """The image declares more pixels than the configured limit (a decompression bomb)."""


class InvalidImageDataError(WorkflowError):
    """``image_data`` is not valid base64, or neither inline data nor a reference is given."""


# -- the model endpoint ----------------------------------------------------------------------
class EndpointNotFoundError(WorkflowError):
    """The SageMaker endpoint does not exist (check ENDPOINT_NAME and the region)."""


class EndpointModelError(WorkflowError):
    """The model container failed on this input (SageMaker ``ModelError``)."""


class EndpointRequestError(WorkflowError):
    """SageMaker rejected the request for another reason (``ValidationError`` and the like)."""


class EndpointThrottledError(WorkflowError):
    """SageMaker throttled the call. Transient: the state machine retries it."""


class EndpointUnavailableError(WorkflowError):
    """The endpoint is not ready, overloaded or unreachable. Transient: retried."""


class InvalidEndpointResponseError(WorkflowError):
    """The endpoint answered something other than a list of finite probabilities in [0, 1]."""


# -- inferences ------------------------------------------------------------------------------
class InvalidInferencesError(WorkflowError):
    """``inferences`` is missing, empty, not a list of numbers, or does not match the labels."""


class ProbabilityOutOfRangeError(WorkflowError):
    """A probability is not a finite number in [0, 1]."""


class ThresholdConfidenceNotMetError(WorkflowError):
    """No class reaches the confidence threshold.

    The message starts with ``THRESHOLD_CONFIDENCE_NOT_MET`` (the original project's error
    name), so a direct invocation shows it too; the state machine turns this error into an
    execution failure named ``THRESHOLD_CONFIDENCE_NOT_MET``.
    """

    code = "THRESHOLD_CONFIDENCE_NOT_MET"

    def __init__(self, detail: str) -> None:
        super().__init__(f"{self.code}: {detail}")


TRANSIENT_ERRORS: tuple[type[WorkflowError], ...] = (EndpointThrottledError, EndpointUnavailableError)


def error_names() -> list[str]:
    """Every project error class name, i.e. every error name a handler can raise."""
    names: list[str] = []
    pending: list[type[WorkflowError]] = [WorkflowError]
    while pending:
        cls = pending.pop()
        names.append(cls.__name__)
        pending.extend(cls.__subclasses__())
    return sorted(names)


# Limit messages name the configured limit and its setting, so a user knows what to change.
def too_many_bytes_message(name: str, size: int, max_bytes: int) -> str:
    """The ImageTooLargeError message: the configured limit, named by its setting."""
    return f"{name} is {size:,} bytes, above the limit of {max_bytes:,} bytes set by MAX_IMAGE_BYTES"


def too_many_pixels_message(name: str, pixels: int | None, max_pixels: int, dimensions: str = "") -> str:
    """The DecompressionBombError message: the configured limit, named by its setting."""
    declared = f"{dimensions} = {pixels:,}" if dimensions and pixels else f"{pixels:,}" if pixels else "too many"
    return (
        f"{name} declares {declared} pixels, above the limit of {max_pixels:,} set by MAX_IMAGE_PIXELS"
        " (a decompression bomb or an unreasonably large image)"
    )
