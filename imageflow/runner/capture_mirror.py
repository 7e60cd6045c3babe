"""Data capture of a local run: into the local bucket, mirrored to a folder that outlives the run.

The local bucket is moto's, in memory: it is gone when ``imageflow run`` exits. The mirror
keeps the same files, in SageMaker's layout, where ``imageflow report`` can read them.
"""

from __future__ import annotations

from pathlib import Path

from imageflow.endpoint.capture import CaptureDestination, DataCaptureWriter, LocalDirectoryDestination
from imageflow.endpoint.service import LocalEndpoint
from imageflow.motopatch.private import LocalS3
from imageflow.runner.workflow import ACCOUNT, LocalWorkflow


class LocalBucketDestination:
    """Capture files written straight into moto's S3 backend.

    Each file holds a few hundred base64 images; sending it through botocore and moto's
    request parsing (checksums, chunked bodies, spooled files) cost a fifth of a local run's
    Python time, for a bucket that lives in this same process.
    """

    def __init__(self, bucket: str, prefix: str) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self._backend = LocalS3(ACCOUNT)

    def put(self, key: str, body: bytes) -> None:
        self._backend.put_object(self.bucket, f"{self.prefix}/{key}", body)

    def describe(self, key: str) -> str:
        return f"s3://{self.bucket}/{self.prefix}/{key}"


class MirroredDestination:
    """Write each capture file to a primary destination and to every mirror."""

    def __init__(self, primary: CaptureDestination, *mirrors: CaptureDestination) -> None:
        self.primary = primary
        self.mirrors = mirrors

    def put(self, key: str, body: bytes) -> None:
        # The mirror (what the user keeps) first. A failure anywhere makes the writer retry
        # the batch under a new key, so a destination that succeeded may hold it twice;
        # with a local folder and moto's in-memory bucket that is a disk-full corner case.
        for mirror in self.mirrors:
            mirror.put(key, body)
        self.primary.put(key, body)

    def describe(self, key: str) -> str:
        return " and ".join(destination.describe(key) for destination in (self.primary, *self.mirrors))


def attach_local_capture(
    endpoint: LocalEndpoint, workflow: LocalWorkflow, capture_dir: Path | str, prefix: str = "data-capture"
) -> None:
    """Give ``endpoint`` a capture writer: the workflow's bucket under ``prefix``, mirrored to ``capture_dir``."""
    endpoint.capture = DataCaptureWriter(
        MirroredDestination(LocalBucketDestination(workflow.bucket, prefix), LocalDirectoryDestination(capture_dir)),
        endpoint.endpoint_name,
        endpoint.variant_name,
    )
