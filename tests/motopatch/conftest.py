"""Fixtures shared by the patch tests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from imageflow.motopatch import index


@pytest.fixture
def sfn() -> Iterator[Any]:
    """A Step Functions client on moto that executes state machines, with the in-process patches applied."""
    index.apply(index.IN_PROCESS)
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        yield boto3.client("stepfunctions", region_name="us-east-1")
