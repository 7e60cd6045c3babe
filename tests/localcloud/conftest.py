"""Fixtures that start the real local services (on free ports, in a temporary state directory)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from imageflow.localcloud import settings
from imageflow.localcloud.services import LocalCloud, free_port
from imageflow.paths import REPO_ROOT
from imageflow.tools.package_offline import copy_service


# Not part of the Serverless service (or shared rather than copied); everything else at the top level is
# copied, so files serverless.yml pulls in with ${file(...)} are there whatever their folder.
@pytest.fixture(scope="session")
def local_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalCloud, dict[str, str]]]:
    """Both services running (sample images seeded), stopped at the end of the session."""
    cloud = LocalCloud(tmp_path_factory.mktemp("localcloud-state"))
    # its own model registry: retrainModel approves versions there, which no other test may see
    saved = os.environ.get("IMAGEFLOW_REGISTRY")
    os.environ["IMAGEFLOW_REGISTRY"] = str(tmp_path_factory.mktemp("localcloud-registry") / "registry")
    try:
        env = cloud.start(settings.Ports(free_port(), free_port()))
    finally:
        if saved is None:
            os.environ.pop("IMAGEFLOW_REGISTRY", None)
        else:
            os.environ["IMAGEFLOW_REGISTRY"] = saved
    try:
        yield cloud, env
    finally:
        cloud.stop()


@pytest.fixture(scope="session")
def cloud_env(local_cloud: tuple[LocalCloud, dict[str, str]]) -> dict[str, str]:
    """A full process environment using the local services, with osls and the venv first on PATH."""
    _, env = local_cloud
    path = os.pathsep.join(
        [str(Path(sys.executable).parent), str(REPO_ROOT / "node_modules" / ".bin"), os.environ["PATH"]]
    )
    full = {**os.environ, **env, "PATH": path}
    for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_S3"):
        full.pop(key, None)  # nothing may lead the tests to a real account
    return full


@pytest.fixture(scope="session")
def service_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private copy of the Serverless service: `sls` writes .serverless/ there, not in the shared checkout."""
    return copy_service(tmp_path_factory.mktemp("service"))
