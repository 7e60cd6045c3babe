"""The Distributed Map patches (imageflow/motopatch/distributed_map.py), each against moto in-process.

Each test states what AWS does; with its patch left out it fails on moto 5.2.5 (that is the patch index's
rule for removing it).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from imageflow.motopatch import distributed_map, index

ROLE = "arn:aws:iam::123456789012:role/map-test"
BUCKET = "map-test"


@pytest.fixture(autouse=True)
def _patched() -> None:
    index.apply(index.IN_PROCESS)


@pytest.fixture
def aws() -> Iterator[tuple[Any, Any]]:
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        yield boto3.client("stepfunctions", region_name="us-east-1"), s3


def _map_definition(*, tolerated: Any = 100, execution_type: str = "EXPRESS", fail_key: str = "") -> str:
    item_states: dict[str, Any] = {
        "Check": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.key", "StringEquals": fail_key or "-", "Next": "Boom"}],
            "Default": "Echo",
        },
        "Boom": {"Type": "Fail", "Error": "Boom", "Cause": "asked to fail"},
        "Echo": {"Type": "Pass", "Parameters": {"key.$": "$.key", "etag.$": "$.etag"}, "End": True},
    }
    return json.dumps(
        {
            "StartAt": "Each",
            "States": {
                "Each": {
                    "Type": "Map",
                    "ItemReader": {
                        "Resource": "arn:aws:states:::s3:listObjectsV2",
                        "Parameters": {"Bucket": BUCKET, "Prefix": "in/"},
                    },
                    "ItemSelector": {"key.$": "$$.Map.Item.Value.Key", "etag.$": "$$.Map.Item.Value.Etag"},
                    "MaxConcurrency": 4,
                    "ToleratedFailurePercentage": tolerated,
                    "ResultWriter": {
                        "Resource": "arn:aws:states:::s3:putObject",
                        "Parameters": {"Bucket": BUCKET, "Prefix.$": "$.out"},
                    },
                    "ItemProcessor": {
                        "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": execution_type},
                        "StartAt": "Check",
                        "States": item_states,
                    },
                    "End": True,
                }
            },
        }
    )


def _run(sfn: Any, definition: str, name: str = "run") -> dict[str, Any]:
    arn = sfn.create_state_machine(name=f"map-{name}", definition=definition, roleArn=ROLE)["stateMachineArn"]
    execution = sfn.start_execution(stateMachineArn=arn, name=name, input='{"out": "out"}')["executionArn"]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        description = sfn.describe_execution(executionArn=execution)
        if description["status"] != "RUNNING":
            return description
        time.sleep(0.05)
    raise AssertionError("execution still running")


def test_the_normaliser_rewrites_only_what_the_parser_rejects() -> None:
    text = _map_definition()
    normalised = json.loads(distributed_map.normalise_definition(text))
    each = normalised["States"]["Each"]
    assert each["ItemProcessor"]["ProcessorConfig"]["ExecutionType"] == "STANDARD"
    assert each["ToleratedFailurePercentage"] == 100.0 and isinstance(each["ToleratedFailurePercentage"], float)
    untouched = _map_definition(tolerated=50.0, execution_type="STANDARD")
    assert distributed_map.normalise_definition(untouched) == untouched
    assert distributed_map.normalise_definition("not json") == "not json"


def test_express_children_and_an_integer_tolerance_parse(aws: tuple[Any, Any]) -> None:
    sfn, s3 = aws
    s3.put_object(Bucket=BUCKET, Key="in/a.png", Body=b"a")
    description = _run(sfn, _map_definition(tolerated=100, execution_type="EXPRESS"))
    assert description["status"] == "SUCCEEDED", description


def test_item_reader_lists_past_the_first_page_with_aws_items(aws: tuple[Any, Any]) -> None:
    sfn, s3 = aws
    keys = [f"in/{index:04d} a+b%c é.png" for index in range(1003)]
    for key in keys:
        s3.put_object(Bucket=BUCKET, Key=key, Body=key.encode())
    description = _run(sfn, _map_definition())
    assert description["status"] == "SUCCEEDED", description
    manifest = json.loads(s3.get_object(Bucket=BUCKET, Key=_manifest_key(description))["Body"].read())
    succeeded = json.loads(
        s3.get_object(Bucket=BUCKET, Key=manifest["ResultFiles"]["SUCCEEDED"][0]["Key"])["Body"].read()
    )
    outputs = [json.loads(entry["Output"]) for entry in succeeded]
    assert sorted(output["key"] for output in outputs) == keys  # every key, raw, past 1,000
    assert all(output["etag"].startswith('"') for output in outputs)  # AWS's "Etag" field, quoted as S3 gives it
    item = json.loads(succeeded[0]["Input"])
    assert set(item) == {"Etag", "Key", "LastModified", "Size", "StorageClass"}
    assert isinstance(item["LastModified"], int)


def _manifest_key(description: dict[str, Any]) -> str:
    return json.loads(description["output"])["ResultWriterDetails"]["Key"]


def test_result_writer_writes_result_files_listed_in_its_manifest(aws: tuple[Any, Any]) -> None:
    sfn, s3 = aws
    for name in ("ok-1.png", "ok-2.png", "bad.png"):
        s3.put_object(Bucket=BUCKET, Key=f"in/{name}", Body=b"x")
    description = _run(sfn, _map_definition(fail_key="in/bad.png"))
    assert description["status"] == "SUCCEEDED", description  # a failed child does not fail the map run
    output = json.loads(description["output"])
    assert output["MapRunArn"].split(":")[5] == "mapRun"
    assert output["ResultWriterDetails"]["Key"].startswith("out/")  # Prefix.$ read from the state's input
    manifest = json.loads(s3.get_object(Bucket=BUCKET, Key=_manifest_key(description))["Body"].read())
    assert manifest["DestinationBucket"] == BUCKET
    files = manifest["ResultFiles"]
    assert [entry["Key"].rsplit("/", 1)[-1] for entry in files["SUCCEEDED"]] == ["SUCCEEDED_0.json"]
    assert [entry["Key"].rsplit("/", 1)[-1] for entry in files["FAILED"]] == ["FAILED_0.json"]
    succeeded = json.loads(s3.get_object(Bucket=BUCKET, Key=files["SUCCEEDED"][0]["Key"])["Body"].read())
    failed = json.loads(s3.get_object(Bucket=BUCKET, Key=files["FAILED"][0]["Key"])["Body"].read())
    assert sorted(json.loads(entry["Output"])["key"] for entry in succeeded) == ["in/ok-1.png", "in/ok-2.png"]
    assert [json.loads(entry["Input"])["Key"] for entry in failed] == ["in/bad.png"]
    assert all(entry["Status"] == "FAILED" for entry in failed)


def test_an_aws_sdk_get_object_task_reads_the_body_as_text(aws: tuple[Any, Any]) -> None:
    sfn, s3 = aws
    s3.put_object(Bucket=BUCKET, Key="ledger/é x+y.json", Body=json.dumps({"etag": '"abc"'}).encode())
    definition = {
        "StartAt": "Read",
        "States": {
            "Read": {
                "Type": "Task",
                "Resource": "arn:aws:states:::aws-sdk:s3:getObject",
                "Parameters": {"Bucket": BUCKET, "Key": "ledger/é x+y.json"},
                "ResultSelector": {"record.$": "States.StringToJson($.Body)"},
                "End": True,
            }
        },
    }
    description = _run(sfn, json.dumps(definition), "get-object")
    assert description["status"] == "SUCCEEDED", description.get("cause")
    assert json.loads(description["output"]) == {"record": {"etag": '"abc"'}}
