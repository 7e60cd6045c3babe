"""Patches that make moto's Distributed Map behave as AWS's does for classifyBatch (both runtimes).

What moto 5.2.5's interpreter does with a Distributed Map, read from its source and tried in-process and on
the server (``tests/motopatch/test_distributed_map.py``):

* it runs every child inline, in the parent execution, on ``MaxConcurrency`` worker threads (honoured), each
  child's history in one event list per map run (not in the parent's history);
* its parser rejects ``ProcessorConfig.ExecutionType: EXPRESS`` and an integer ``ToleratedFailurePercentage``
  (``100``), both valid on AWS; the tolerance has no effect (a failed child is counted, the map goes on);
* ``ItemReader`` ``s3:listObjectsV2`` makes one ``ListObjectsV2`` call, so a prefix with more than 1,000
  objects is cut at 1,000 without a word, and its items are boto3's (``ETag``, a ``datetime``), not AWS's
  (``Etag``, epoch seconds);
* ``ResultWriter`` writes only ``manifest.json`` with empty ``ResultFiles``: no ``SUCCEEDED_0.json``; and
  its ``Parameters`` paths are evaluated against the children's outputs, not the state's input;
* an ``aws-sdk:s3:getObject`` task returns ``Body`` as botocore's stream, which no later state can read
  (``States.StringToJson($.Body)`` fails); AWS returns the body as text;
* there is no redrive (``RedriveExecution``) and no separate child executions.

Each patch below fixes one of these; the rest (redrive, child executions) the project does not need
locally, because a rerun skips finished images through the batch's ledger.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from imageflow.motopatch import private
from imageflow.motopatch.applied import once

RESULT_FILE_STATUSES = ("SUCCEEDED", "FAILED", "PENDING")


def normalise_definition(definition: str) -> str:
    """The definition with the map settings moto's parser rejects rewritten to what it accepts.

    ``ExecutionType: EXPRESS`` becomes ``STANDARD`` (moto runs every child inline either way) and an integer
    ``ToleratedFailurePercentage`` becomes the same number written as a decimal. Any other text is returned
    unchanged (moto then reports its own parse error).
    """
    try:
        document = json.loads(definition)
    except (TypeError, ValueError):
        return definition
    changed = False

    def walk(node: Any) -> None:
        nonlocal changed
        if isinstance(node, dict):
            config = node.get("ProcessorConfig")
            if isinstance(config, dict) and config.get("ExecutionType") == "EXPRESS":
                config["ExecutionType"] = "STANDARD"
                changed = True
            tolerated = node.get("ToleratedFailurePercentage")
            if isinstance(tolerated, int) and not isinstance(tolerated, bool):
                node["ToleratedFailurePercentage"] = float(tolerated)
                changed = True
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(document)
    return json.dumps(document) if changed else definition


@once
def definition_accepts_aws_map_settings() -> None:
    """The parser accepts Express children and an integer ToleratedFailurePercentage, as AWS does.

    Upstream: ``AmazonStateLanguageParser.parse`` accepts only ``ExecutionType: STANDARD`` and a decimal
    tolerance (``100.0``); serverless writes the definition from JavaScript, where ``100.0`` is ``100``.
    """
    original = private.SFN_PARSER.load()

    def parse(definition: str) -> Any:
        return original(normalise_definition(definition))

    private.SFN_PARSER.replace(staticmethod(parse))


def _item(content: Mapping[str, Any]) -> dict[str, Any]:
    """One listed object as AWS's ItemReader gives it to a child (``Etag``, epoch seconds)."""
    modified = content.get("LastModified")
    return {
        "Etag": content.get("ETag"),
        "Key": content["Key"],
        "LastModified": int(modified.timestamp()) if isinstance(modified, datetime) else modified,
        "Size": content.get("Size"),
        "StorageClass": content.get("StorageClass", "STANDARD"),
    }


@once
def item_reader_lists_every_object() -> None:
    """ItemReader ``s3:listObjectsV2`` pages through the whole prefix and yields AWS-shaped items.

    Upstream: one ``ListObjectsV2`` call (the first 1,000 keys only) and boto3's item shape (``ETag``).
    """
    get_client = private.SFN_ITEM_READER_S3_CLIENT.load()

    def _handle_list_objects_v2(env: Any, resource_runtime_part: Any, state_credentials: Any) -> None:
        client = get_client(resource_runtime_part=resource_runtime_part, state_credentials=state_credentials)
        parameters = env.stack.pop()
        items = []
        for page in client.get_paginator("list_objects_v2").paginate(**parameters):
            items.extend(_item(content) for content in page.get("Contents", []))
        env.stack.append(items)

    private.SFN_ITEM_READER_S3_LIST.replace(staticmethod(_handle_list_objects_v2))


def result_entries(map_run_arn: str, items: list[Any] | None, outputs: list[Any]) -> dict[str, list[dict[str, Any]]]:
    """The child executions of a map run, grouped as AWS's result files are, in AWS's entry format.

    ``outputs[i]`` is child ``i``'s output, ``None`` for a child that failed (moto keeps no error for it).
    """
    grouped: dict[str, list[dict[str, Any]]] = {status: [] for status in RESULT_FILE_STATUSES}
    execution_prefix = map_run_arn.replace(":mapRun:", ":execution:")
    for index, output in enumerate(outputs):
        item = items[index] if items is not None and index < len(items) else None
        name = str(uuid.uuid4())
        entry: dict[str, Any] = {
            "ExecutionArn": f"{execution_prefix.rsplit(':', 1)[0]}:{name}",
            "Name": name,
            "Input": json.dumps(item, default=str),
            "InputDetails": {"Included": True},
        }
        if output is None:
            entry.update(Status="FAILED", Error=None, Cause=None)
            grouped["FAILED"].append(entry)
        else:
            entry.update(Status="SUCCEEDED", Output=json.dumps(output, default=str), OutputDetails={"Included": True})
            grouped["SUCCEEDED"].append(entry)
    return grouped


_ITEMS_ATTRIBUTE = "_imageflow_items"  # the listed items, kept on the map run record for the result files


@once
def result_writer_writes_result_files() -> None:
    """ResultWriter writes ``SUCCEEDED_0.json`` / ``FAILED_0.json`` and lists them in ``manifest.json``.

    Upstream: only ``manifest.json``, with empty ``ResultFiles`` (a TODO in moto), so nothing downstream can
    read the children's results; and its ``Parameters`` JSONPath (``Bucket.$``, ``Prefix.$``) reads the list of
    child outputs instead of the Map state's input. The items are remembered when the map run starts
    (``_map_run``), so each entry carries its child's input as on AWS.
    """
    original_map_run = private.SFN_DISTRIBUTED_MAP_RUN.load()
    get_client = private.SFN_RESULT_WRITER_S3_CLIENT.load()

    def _map_run(self: Any, env: Any, eval_input: Any) -> None:
        items = env.stack[-1] if env.stack and isinstance(env.stack[-1], list) else None
        setattr(eval_input.map_run_record, _ITEMS_ATTRIBUTE, items)
        original_map_run(self, env, eval_input)

    def _handle_put_object(env: Any, resource_runtime_part: Any, state_credentials: Any) -> None:
        parameters = env.stack.pop()
        outputs = env.stack.pop()
        client = get_client(resource_runtime_part=resource_runtime_part, state_credentials=state_credentials)
        record = env.map_run_record_pool_manager.get_all().pop()
        prefix = parameters.get("Prefix", "")
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        run_prefix = f"{prefix}{record.map_run_arn.split(':')[-1]}/"
        grouped = result_entries(record.map_run_arn, getattr(record, _ITEMS_ATTRIBUTE, None), list(outputs or []))
        files: dict[str, list[dict[str, Any]]] = {status: [] for status in RESULT_FILE_STATUSES}
        for status, entries in grouped.items():
            if not entries:
                continue
            body = json.dumps(entries).encode("utf-8")
            key = f"{run_prefix}{status}_0.json"
            client.put_object(Bucket=parameters["Bucket"], Key=key, Body=body)
            files[status].append({"Key": key, "Size": len(body)})
        manifest = {"DestinationBucket": parameters["Bucket"], "MapRunArn": record.map_run_arn, "ResultFiles": files}
        key = f"{run_prefix}manifest.json"
        client.put_object(Bucket=parameters["Bucket"], Key=key, Body=json.dumps(manifest, indent=2).encode("utf-8"))
        env.stack.append(
            {"MapRunArn": record.map_run_arn, "ResultWriterDetails": {"Bucket": parameters["Bucket"], "Key": key}}
        )

    def _eval_body(self: Any, env: Any) -> None:
        # the Parameters' JSONPath reads the Map state's input (upstream: the list of child outputs)
        env.stack.append(env.states.get_input())
        self.parargs.eval(env=env)
        parameters = env.stack.pop()
        env.stack.pop()
        env.stack.append(parameters)
        self.resource_eval.eval_resource(env=env)

    private.SFN_DISTRIBUTED_MAP_RUN.replace(_map_run)
    private.SFN_RESULT_WRITER_EVAL.replace(_eval_body)
    private.SFN_RESULT_WRITER_S3_PUT.replace(staticmethod(_handle_put_object))


@once
def aws_sdk_get_object_body_is_text() -> None:
    """An ``aws-sdk:s3:getObject`` task's ``Body`` is the object's text, as on AWS.

    Upstream: the task's result keeps botocore's ``StreamingBody``, so ``States.StringToJson($.Body)`` (how
    classifyBatch reads its ledger) fails and the state's output cannot be serialised.
    """
    original = private.SFN_AWS_SDK_TASK.load()

    def _eval_service_task(
        self: Any, env: Any, resource_runtime_part: Any, normalised_parameters: Any, state_credentials: Any
    ) -> Any:
        result = original(self, env, resource_runtime_part, normalised_parameters, state_credentials)
        response = env.stack[-1] if env.stack else None
        body = response.get("Body") if isinstance(response, dict) else None
        if body is not None and hasattr(body, "read"):
            response["Body"] = body.read().decode("utf-8", errors="replace")
        return result

    private.SFN_AWS_SDK_TASK.replace(_eval_service_task)
