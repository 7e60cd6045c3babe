"""The local model registry, with SageMaker Model Registry's concepts.

* One **model package group** (``group.json``) holds the versions of the classifier.
* Each **model package version** is a model version directory under ``versions/<name>/`` plus ``package.json``:
  its ``ModelApprovalStatus`` (``PendingManualApproval``, ``Approved``, ``Rejected``), ``ApprovalDescription``
  (why), ``ModelMetrics`` and times. Versions trained here get numbers (1, 2, ...) like SageMaker's
  ``ModelPackageVersion``; the two built-in ones keep their names: ``zero-shot`` (the ImageNet head) and
  ``cifar100-default`` (the head trained on the bundled data, shipped in ``models/versions/``).
* The **served** version is the most recently approved one (a SageMaker deployment pipeline picks the latest
  approved package the same way). ``approve zero-shot`` therefore makes the zero-shot head served again.

Location: ``$IMAGEFLOW_REGISTRY``, else ``.local/registry/`` in the repository (created on first use, with the
built-in versions assembled from ``models/``).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from imageflow.endpoint.model import MODEL_FILE
from imageflow.paths import MODELS_DIR, REPO_ROOT

REGISTRY_ENV = "IMAGEFLOW_REGISTRY"
DEFAULT_REGISTRY = REPO_ROOT / ".local" / "registry"
BUILTIN_DIR = MODELS_DIR / "versions"
ZERO_SHOT = "zero-shot"
SHIPPED_DEFAULT = "cifar100-default"
BUILTINS = (ZERO_SHOT, SHIPPED_DEFAULT)  # registered in this order: the shipped trained head ends up served
GROUP_NAME = "image-classifier"
PENDING, APPROVED, REJECTED = "PendingManualApproval", "Approved", "Rejected"
STATUSES = (PENDING, APPROVED, REJECTED)
PACKAGE_FILE = "package.json"


class RegistryError(RuntimeError):
    """No such version, or the registry's files are damaged; the message says which."""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class ModelPackage:
    """One registered version: its directory and its package record."""

    version: str
    directory: Path
    record: dict[str, Any]

    @property
    def status(self) -> str:
        return str(self.record["ModelApprovalStatus"])

    @property
    def metadata(self) -> dict[str, Any]:
        from imageflow.training.versiondir import read_metadata

        return read_metadata(self.directory)


class Registry:
    """A model package group on disk. Not for concurrent writers (one person's machine)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @classmethod
    def location(cls) -> Path:
        return Path(os.environ.get(REGISTRY_ENV) or DEFAULT_REGISTRY)

    @classmethod
    def open(cls, root: Path | None = None) -> Registry:
        """Open the registry, creating it with the built-in versions on first use."""
        registry = cls(root or cls.location())
        if not (registry.root / "group.json").is_file():
            registry._initialise()
        return registry

    # -- reading ----------------------------------------------------------------------------------

    def versions(self) -> list[ModelPackage]:
        """All versions, in registration order."""
        folder = self.root / "versions"
        packages = [self._read(p.name) for p in folder.iterdir() if (p / PACKAGE_FILE).is_file()]
        return sorted(packages, key=lambda p: p.record["CreationTime"])

    def get(self, version: str) -> ModelPackage:
        if not (self.root / "versions" / version / PACKAGE_FILE).is_file():
            known = ", ".join(p.version for p in self.versions())
            raise RegistryError(f"no version {version!r} in the registry at {self.root} (versions: {known})")
        return self._read(version)

    def approved(self) -> ModelPackage | None:
        """The served version: the most recently approved one."""
        approved = [p for p in self.versions() if p.status == APPROVED]
        return max(approved, key=lambda p: p.record["ApprovedTime"]) if approved else None

    def served_directory(self) -> Path:
        """The approved version's directory, with its model.onnx assembled if needed."""
        package = self.approved()
        if package is None:
            raise RegistryError(
                f"no approved version in the registry at {self.root}: approve one (imageflow models approve NAME) "
                "or pass --model DIR"
            )
        self._materialise(package.directory)
        return package.directory

    # -- writing -----------------------------------------------------------------------------------

    def register(
        self,
        source: Path,
        *,
        status: str,
        reason: str,
        metrics: dict[str, Any] | None = None,
        version: str | None = None,
    ) -> ModelPackage:
        """Copy a version directory in as a new model package version."""
        if status not in STATUSES:
            raise RegistryError(f"unknown approval status {status!r} (one of {', '.join(STATUSES)})")
        name = version or str(self._next_number())
        target = self.root / "versions" / name
        if target.exists():
            raise RegistryError(f"version {name!r} already exists in the registry at {self.root}")
        shutil.copytree(source, target, ignore=shutil.ignore_patterns(PACKAGE_FILE, "*.partial"))
        self._materialise(target)
        now = _now()
        record = {
            "ModelPackageGroupName": GROUP_NAME,
            "ModelPackageVersion": name,
            "ModelApprovalStatus": status,
            "ApprovalDescription": reason,
            "CreationTime": now,
            "LastModifiedTime": now,
            "ApprovedTime": now if status == APPROVED else None,
            "ModelMetrics": metrics or {},
            "Source": str(source),
        }
        self._write(name, record)
        return self._read(name)

    def set_status(self, version: str, status: str, reason: str) -> ModelPackage:
        """Approve or reject (``update_model_package``); approving makes the version the served one."""
        package = self.get(version)
        record = dict(package.record)
        now = _now()
        record.update(ModelApprovalStatus=status, ApprovalDescription=reason, LastModifiedTime=now)
        if status == APPROVED:
            record["ApprovedTime"] = now
        self._write(version, record)
        return self._read(version)

    # -- internals ---------------------------------------------------------------------------------

    def _initialise(self) -> None:
        """Build the registry in a staging folder beside it, then rename it into place in one step.

        Two processes opening a new registry at once (two test workers, `imageflow serve` and `imageflow run`)
        each build one; the first rename wins and the other is discarded, so nobody sees a half-made registry.
        """
        if self.root.exists() and any(self.root.iterdir()):
            raise RegistryError(
                f"{self.root} is not a model registry (no group.json): remove it, or point {REGISTRY_ENV} elsewhere"
            )
        self.root.parent.mkdir(parents=True, exist_ok=True)
        staging = Registry(Path(tempfile.mkdtemp(prefix=f".{self.root.name}-", dir=self.root.parent)))
        try:
            (staging.root / "versions").mkdir()
            for name in BUILTINS:
                source = BUILTIN_DIR / name
                staging.register(
                    source,
                    status=APPROVED,
                    reason=f"built-in version shipped in models/versions/{name}",
                    metrics=_recorded_metrics(source),
                    version=name,
                )
            group = {
                "ModelPackageGroupName": GROUP_NAME,
                "ModelPackageGroupDescription": "bicycle/motorcycle classifier versions (local registry)",
                "CreationTime": _now(),
            }
            (staging.root / "group.json").write_text(json.dumps(group, indent=2) + "\n", encoding="utf-8")
            try:
                staging.root.rename(self.root)  # atomic; replaces only a missing or empty folder
            except OSError:
                if not (self.root / "group.json").is_file():
                    raise
        finally:
            if staging.root.exists():
                shutil.rmtree(staging.root)

    def _materialise(self, directory: Path) -> None:
        if not (directory / MODEL_FILE).is_file():
            from imageflow.training.versiondir import materialise

            materialise(directory)

    def _next_number(self) -> int:
        numbers = [int(p.version) for p in self.versions() if p.version.isdigit()]
        return max(numbers, default=0) + 1

    def _read(self, version: str) -> ModelPackage:
        file = self.root / "versions" / version / PACKAGE_FILE
        try:
            record = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise RegistryError(f"{file} cannot be read: {exc}") from None
        return ModelPackage(version, file.parent, record)

    def _write(self, version: str, record: dict[str, Any]) -> None:
        file = self.root / "versions" / version / PACKAGE_FILE
        partial = file.with_suffix(".json.partial")
        partial.write_text(json.dumps(record, indent=2, allow_nan=False, default=str) + "\n", encoding="utf-8")
        partial.replace(file)


def _recorded_metrics(directory: Path) -> dict[str, Any]:
    from imageflow.training.versiondir import read_metadata

    return read_metadata(directory).get("metrics") or {}
