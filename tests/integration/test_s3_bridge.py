"""The local runtime's in-process GetObject answers exactly as moto's S3 does."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from imageflow.runner.s3_bridge import S3Bridge

ACCOUNT = "123456789012"


@pytest.fixture
def clients() -> Iterator[tuple[Any, Any]]:
    """(plain moto client, client whose GetObject goes through the bridge) over one bucket."""
    with mock_aws():
        plain = boto3.client("s3", region_name="us-east-1")
        bridged = boto3.client("s3", region_name="us-east-1")
        bridged.meta.events.register("before-call.s3.GetObject", S3Bridge(ACCOUNT).before_call)
        plain.create_bucket(Bucket="images")
        plain.put_object(Bucket="images", Key="a/cat 1.png", Body=b"\x89PNG-bytes", ContentType="image/png")
        yield plain, bridged


def _get(client: Any, **kwargs: Any) -> dict[str, Any]:
    try:
        response = client.get_object(**kwargs)
    except ClientError as exc:
        return {"error": exc.response["Error"]["Code"], "status": exc.response["ResponseMetadata"]["HTTPStatusCode"]}
    return {
        "body": response["Body"].read(),
        "length": response["ContentLength"],
        "etag": response["ETag"],
        "type": response["ContentType"],
    }


@pytest.mark.parametrize(
    "request_",
    [
        {"Bucket": "images", "Key": "a/cat 1.png"},
        {"Bucket": "images", "Key": "missing.png"},
        {"Bucket": "no-such-bucket", "Key": "a/cat 1.png"},
        {"Bucket": "images", "Key": "a/cat 1.png", "IfMatch": '"not-the-etag"'},
        {"Bucket": "images", "Key": "a/cat 1.png", "Range": "bytes=0-3"},
    ],
)
def test_bridge_and_moto_agree(clients: tuple[Any, Any], request_: dict[str, str]) -> None:
    plain, bridged = clients
    assert _get(bridged, **request_) == _get(plain, **request_)


def test_a_matching_etag_reads_the_object(clients: tuple[Any, Any]) -> None:
    plain, bridged = clients
    etag = plain.head_object(Bucket="images", Key="a/cat 1.png")["ETag"]
    assert _get(bridged, Bucket="images", Key="a/cat 1.png", IfMatch=etag)["body"] == b"\x89PNG-bytes"
