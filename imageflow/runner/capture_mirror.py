"""Data capture written to the local bucket and mirrored to a folder that outlives the run.

The local bucket is moto's, in memory: it is gone when ``imageflow run`` exits. The mirror
keeps the same files, in SageMaker's layout, where ``imageflow report`` can read them.
"""

from __future__ import annotations

from imageflow.endpoint.capture import CaptureDestination


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
