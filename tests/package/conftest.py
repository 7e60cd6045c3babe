"""Packaging is slow: each variant of the service (``security_scan.VARIANTS``) is packaged once per session.

The package tests share one pytest-xdist group, so they run on one worker and share these packages.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from imageflow.tools.package_offline import VariantPackager
from imageflow.tools.security_scan import VARIANTS

STAGE = "packagetest"


@pytest.fixture(scope="session")
def packager(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VariantPackager]:
    packager = VariantPackager(tmp_path_factory.mktemp("variants"), VARIANTS, STAGE)
    packager.start(*VARIANTS)  # the package tests read them all: package them while the first tests run
    yield packager
    packager.close()


@pytest.fixture(scope="session")
def variant_template(packager: VariantPackager) -> Callable[[str], dict[str, Any]]:
    """The packaged CloudFormation template of a variant, by name (parsed once)."""

    @functools.cache
    def load(name: str) -> dict[str, Any]:
        return json.loads(packager.template(name).read_text())

    return load
