"""A served model that follows the registry: a running endpoint picks up a newly approved version, no restart.

``imageflow serve`` (and so the local cloud's endpoint) serves the registry's approved version. When the
retrainModel state machine approves and deploys a new one, each serving process notices on its next
invocation (at most every ``interval`` seconds it compares the approved version with the one it serves), loads
the new version and swaps it in between two requests. A version that does not load is not served: the process
keeps the one it has and logs why, as SageMaker keeps the old configuration after a failed endpoint update.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from imageflow.endpoint.model import ImageClassifier, load_model_dir

logger = logging.getLogger(__name__)


class ApprovedVersionClassifier:
    """An ``ImageClassifier`` stand-in serving the registry's approved version, following its changes."""

    def __init__(self, *, threads: int | None = None, interval: float = 2.0) -> None:
        from imageflow.registry.store import Registry

        self._threads = threads
        self.interval = interval
        self._lock = threading.Lock()
        registry = Registry.open()
        package = registry.approved()
        directory = registry.served_directory()  # raises RegistryError when nothing is approved
        self.version = package.version if package else directory.name
        self._classifier = load_model_dir(directory, threads=threads)
        self._checked = time.monotonic()
        self._refused: str | None = None

    @property
    def current(self) -> ImageClassifier:
        return self._classifier

    def __getattr__(self, name: str) -> Any:  # labels, model_path...: the served version's
        return getattr(self._classifier, name)

    def classify(self, data: bytes) -> list[float]:
        self.follow()
        return self._classifier.classify(data)

    def follow(self, *, force: bool = False) -> bool:
        """Swap in the approved version if it changed; True when a new version is now served."""
        now = time.monotonic()
        if not force and now - self._checked < self.interval:
            return False
        with self._lock:
            self._checked = now
            from imageflow.registry.store import Registry

            registry = Registry.open()
            package = registry.approved()
            if package is None or package.version in (self.version, self._refused):
                return False
            try:
                classifier = load_model_dir(registry.served_directory(), threads=self._threads)
            except Exception as exc:
                self._refused = package.version
                logger.error("approved version %s not served (keeping %s): %s", package.version, self.version, exc)
                return False
            self._classifier, self.version, self._refused = classifier, package.version, None
            logger.warning("now serving approved version %s", package.version)
            return True
