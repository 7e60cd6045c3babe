"""deleted_objects_are_released (imageflow/motopatch/memory.py): moto keeps no deleted or replaced S3 object."""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws

from imageflow.motopatch import index, private


@pytest.fixture(autouse=True)
def _patched() -> None:
    index.apply(index.IN_PROCESS)


def test_deleted_and_replaced_objects_are_released() -> None:
    fake_key = private.S3_OBJECT.load()
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="memory-test")
        for index in range(20):
            s3.put_object(Bucket="memory-test", Key=f"k/{index}", Body=b"x" * 1000)
        kept = s3.put_object(Bucket="memory-test", Key="kept", Body=b"first")
        s3.put_object(Bucket="memory-test", Key="kept", Body=b"second")  # replaces the first
        s3.delete_objects(Bucket="memory-test", Delete={"Objects": [{"Key": f"k/{index}"} for index in range(20)]})
        tracked = [key for key in fake_key.instances_tracked if key.bucket_name == "memory-test"]
        assert [key.name for key in tracked] == ["kept"]  # only the live object is still held
        assert s3.get_object(Bucket="memory-test", Key="kept")["Body"].read() == b"second"
        assert kept["ETag"] != s3.head_object(Bucket="memory-test", Key="kept")["ETag"]
