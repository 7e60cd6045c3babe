"""Data capture of a local run: written to a folder that outlives the run, in SageMaker's layout.

On AWS the endpoint's capture goes to S3, where Model Monitor and ``imageflow report`` read it. A local
run's bucket is moto's, in memory and gone when ``imageflow run`` exits, so a copy there would serve no
reader; it would only hold every image of the run in memory (base64, about 4 KB per CIFAR-sized image, far
more for photos) and make peak memory grow with the run's length. The folder is what the user keeps.
"""

from __future__ import annotations

from pathlib import Path

from imageflow.endpoint.capture import DataCaptureWriter, LocalDirectoryDestination
from imageflow.endpoint.service import LocalEndpoint


def attach_local_capture(endpoint: LocalEndpoint, capture_dir: Path | str) -> None:
    """Give ``endpoint`` a capture writer that writes SageMaker-layout files under ``capture_dir``."""
    endpoint.capture = DataCaptureWriter(
        LocalDirectoryDestination(capture_dir), endpoint.endpoint_name, endpoint.variant_name
    )
