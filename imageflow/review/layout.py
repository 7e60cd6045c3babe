"""The review queue's S3 layout and record format: the one contract the state machines and the CLI share.

In the images bucket, under ``review/`` (the only prefix the per-image state machine's role may write,
``iam/review-queue.yml``)::

    review/images/<execution name>/<original key>   a copy of the image, taken at the ETag that was classified
    review/records/<execution name>/<original key>.json   the record (below); the key is part of the name
                                                    because a batch's children may share one execution name

A record (written by ``BuildReviewRecord``/``WriteReviewRecord`` in ``stepfunctions/classify_image.asl.yml``)::

    {"record_version": 1,
     "source": {"s3_bucket", "s3_key", "etag"},        the original location and ETag
     "review_copy": {"s3_bucket", "s3_key"},           the copy under review/images/
     "prediction": {..., "inferences", "label", "confidence", "model_version"?},   classify's body
     "execution_arn", "recorded_at", "cause"}

Offline the same keys are mirrored to a folder (``$IMAGEFLOW_REVIEW``, else ``.local/review/``) with the
``review/`` prefix dropped: ``records/<execution>/<key>.json`` and ``images/<execution>/<key>``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

PREFIX = "review/"
IMAGES_PREFIX = PREFIX + "images/"
RECORDS_PREFIX = PREFIX + "records/"
RECORD_VERSION = 1


class RecordError(ValueError):
    """A review record does not have the documented shape; the message names the field."""


def record_key(execution_name: str, source_key: str) -> str:
    return f"{RECORDS_PREFIX}{execution_name}/{source_key}.json"


def image_key(execution_name: str, source_key: str) -> str:
    return f"{IMAGES_PREFIX}{execution_name}/{source_key}"


@dataclass(frozen=True)
class ReviewRecord:
    """One image waiting for (or given) a label."""

    source_bucket: str
    source_key: str
    etag: str
    copy_bucket: str
    copy_key: str
    inferences: tuple[float, ...]
    label: str | None
    confidence: float | None
    model_version: str | None
    execution_arn: str
    recorded_at: str

    @property
    def source_ref(self) -> str:
        """What a Ground Truth manifest names: the review copy (the original may be gone)."""
        return f"s3://{self.copy_bucket}/{self.copy_key}"

    @property
    def source_uri(self) -> str:
        return f"s3://{self.source_bucket}/{self.source_key}"

    @property
    def content_id(self) -> str:
        """Same bytes, same id: S3's ETag of a single-part object is its MD5."""
        return self.etag.strip('"')


def parse_record(data: Any, where: str) -> ReviewRecord:
    """Check and read one record; ``where`` names it in errors."""
    try:
        if not isinstance(data, Mapping) or data.get("record_version") != RECORD_VERSION:
            raise RecordError("not a review record (record_version 1)")
        source, copy, prediction = data["source"], data["review_copy"], data["prediction"]
        return ReviewRecord(
            source_bucket=str(source["s3_bucket"]),
            source_key=str(source["s3_key"]),
            etag=str(source["etag"]),
            copy_bucket=str(copy["s3_bucket"]),
            copy_key=str(copy["s3_key"]),
            inferences=tuple(float(v) for v in prediction.get("inferences") or ()),
            label=prediction.get("label"),
            confidence=prediction.get("confidence"),
            model_version=prediction.get("model_version"),
            execution_arn=str(data["execution_arn"]),
            recorded_at=str(data["recorded_at"]),
        )
    except RecordError as exc:
        raise RecordError(f"{where}: {exc}") from None
    except (KeyError, TypeError, ValueError) as exc:
        raise RecordError(f"{where}: missing or malformed field {exc}") from None
