"""`sls deploy --stage local`, `sls invoke stepf` on the deployed state machine, then `sls remove`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from localcloud_helpers import client, run_sls

from imageflow.localcloud import settings

# One local cloud serves these tests: keep them on one pytest-xdist worker.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("localcloud")]

STACK = "image-classification-local"


@pytest.fixture(scope="module")
def deployed(cloud_env: dict[str, str], service_dir: Path) -> Iterator[dict[str, str]]:
    done = run_sls(["deploy", "--stage", "local"], cloud_env, service_dir)
    assert done.returncode == 0, done.stdout + done.stderr
    yield cloud_env
    removed = run_sls(["remove", "--stage", "local"], cloud_env, service_dir)
    assert removed.returncode == 0, removed.stdout + removed.stderr
    stacks = client("cloudformation", cloud_env).list_stacks()["StackSummaries"]
    assert all(s["StackStatus"] == "DELETE_COMPLETE" for s in stacks if s["StackName"] == STACK)
    assert client("stepfunctions", cloud_env).list_state_machines()["stateMachines"] == []


def _stepf(event: str, env: dict[str, str], cwd: Path) -> tuple[int, dict]:
    done = run_sls(["invoke", "stepf", "--name", "classifyImage", "--stage", "local", "--path", event], env, cwd)
    # On success the execution is printed to stdout, on failure (merged with the failure details) to stderr.
    text = done.stdout if done.returncode == 0 else done.stderr
    start = text.index('{\n  "executionArn"')
    document, _ = json.JSONDecoder().raw_decode(text[start:])
    return done.returncode, document


def test_deploy_creates_the_stack(deployed: dict[str, str]) -> None:
    functions = client("lambda", deployed).list_functions()["Functions"]
    names = {f["FunctionName"] for f in functions}
    assert {f"{STACK}-serialize", f"{STACK}-classify", f"{STACK}-threshold"} <= names
    for function in functions:
        if function["FunctionName"].startswith(STACK):
            assert function["Layers"], f"{function['FunctionName']} has no layer"
            assert function["Runtime"] == "python3.12"
    classify = next(f for f in functions if f["FunctionName"] == f"{STACK}-classify")
    assert classify["Environment"]["Variables"]["ENDPOINT_NAME"] == settings.ENDPOINT_NAME


def test_stepf_confident_image_succeeds(deployed: dict[str, str], service_dir: Path) -> None:
    code, execution = _stepf("events/serialize.json", deployed, service_dir)
    assert code == 0, execution
    assert execution["status"] == "SUCCEEDED"
    body = json.loads(execution["output"])["body"]
    assert (body["s3_key"], body["label"]) == ("motorcycle_left.png", "motorcycle")
    assert body["confidence"] > 0.73
    assert "image_data" not in body


def _failure_story(env: dict[str, str], execution: dict) -> str:
    """The execution's failure events, so that an unexpected error says where it came from."""
    events = client("stepfunctions", env).get_execution_history(executionArn=execution["executionArn"])["events"]
    lines = [f"{execution.get('error')}: {execution.get('cause')}"]
    for event in events:
        details = {k: v for k, v in event.items() if k.endswith("EventDetails") and ("error" in v or "cause" in v)}
        if details:
            lines.append(f"  #{event['id']} {event['type']}: {json.dumps(details)[:2000]}")
    return "\n".join(lines)


def test_stepf_low_confidence_image_fails(deployed: dict[str, str], service_dir: Path) -> None:
    code, execution = _stepf("events/serialize-low-confidence.json", deployed, service_dir)
    assert code == 1
    assert execution["status"] == "FAILED"
    assert execution["error"] == "THRESHOLD_CONFIDENCE_NOT_MET", _failure_story(deployed, execution)
    assert "grace_hopper.jpg" in execution["cause"] and "review record missing" not in execution["cause"]
    # the review-record states ran on the local cloud too: the image waits for a label under review/
    s3 = client("s3", deployed)
    record_key = f"review/records/{execution['name']}/grace_hopper.jpg.json"
    record = json.loads(s3.get_object(Bucket=settings.IMAGES_BUCKET, Key=record_key)["Body"].read())
    assert record["source"]["s3_key"] == "grace_hopper.jpg" and record["execution_arn"] == execution["executionArn"]


def test_stepf_retrain_model_with_an_empty_input_trains_registers_and_serves(
    deployed: dict[str, str], service_dir: Path
) -> None:
    """`sls invoke stepf --name retrainModel --stage local --data '{}'`: the stage's defaults (the bundled data)."""
    done = run_sls(
        ["invoke", "stepf", "--name", "retrainModel", "--stage", "local", "--data", "{}"], deployed, service_dir
    )
    text = done.stdout if done.returncode == 0 else done.stderr
    execution, _ = json.JSONDecoder().raw_decode(text[text.index('{\n  "executionArn"') :])
    assert done.returncode == 0 and execution["status"] == "SUCCEEDED", _failure_story(deployed, execution)
    output = json.loads(execution["output"])
    assert output["retrained"] is True and output["promoted"] is True, output
    assert "/image-classifier/" in output["model_package_arn"]
    s3 = client("s3", deployed)
    run = s3.head_object(Bucket=settings.IMAGES_BUCKET, Key="review/retrain/last-run.json")["Metadata"]
    assert run["dataset"] == "base" and run["promote"] == "true"


def test_stepf_classify_batch_with_empty_input_reconciles_the_seeded_images(
    deployed: dict[str, str], service_dir: Path
) -> None:
    """`sls invoke stepf --name classifyBatch --data '{}'`: the Distributed Map over the stage's seeded images."""
    done = run_sls(
        ["invoke", "stepf", "--name", "classifyBatch", "--stage", "local", "--data", "{}"], deployed, service_dir
    )
    assert done.returncode == 0, done.stdout + done.stderr
    start = done.stdout.index('{\n  "executionArn"')
    execution, _ = json.JSONDecoder().raw_decode(done.stdout[start:])
    assert execution["status"] == "SUCCEEDED", _failure_story(deployed, execution)
    summary = json.loads(execution["output"])["summary"]
    s3 = client("s3", deployed)
    # every page: the bucket also holds the retraining's base dataset (1,000 images under review/)
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=settings.IMAGES_BUCKET)
    seeded = {item["Key"] for page in pages for item in page.get("Contents", [])}
    images = {key for key in seeded if not key.startswith(("batch/", "review/"))}
    bucket, _, key = json.loads(execution["output"])["manifest"].removeprefix("s3://").partition("/")
    lines = [json.loads(line) for line in s3.get_object(Bucket=bucket, Key=key)["Body"].read().splitlines()]
    assert sorted(line["key"] for line in lines) == sorted(images)  # one line per seeded image, none twice
    assert summary["reconciled"] is True
    assert summary["passed"] + summary["low_confidence"] + summary["error"] == len(images)
    outcomes = {line["key"]: line for line in lines}
    assert (outcomes["motorcycle_left.png"]["outcome"], outcomes["motorcycle_left.png"]["label"]) == (
        "passed",
        "motorcycle",
    )
    assert outcomes["grace_hopper.jpg"]["outcome"] == "low_confidence"


def test_imageflow_run_aws_on_the_local_cloud_runs_the_deployed_batch(deployed: dict[str, str], tmp_path: Path) -> None:
    """`imageflow run --aws --stage local s3://bucket/`: the deployed classifyBatch, the usual table and file."""
    import subprocess
    import sys

    results = tmp_path / "results.jsonl"
    done = subprocess.run(
        [str(Path(sys.executable).with_name("imageflow")), "run", "--aws", "--stage", "local", "-q",
         f"s3://{settings.IMAGES_BUCKET}/", "--results", str(results)],
        env=deployed, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "classify-batch" in done.stderr
    outcomes = {json.loads(line)["source"]: json.loads(line) for line in results.read_text().splitlines()}
    seeded = {f"s3://{settings.IMAGES_BUCKET}/{path.name}" for path in settings.sample_images()}
    assert seeded <= set(outcomes)  # (other tests may have added objects to the shared bucket)
    assert outcomes[f"s3://{settings.IMAGES_BUCKET}/motorcycle_left.png"]["outcome"] == "passed"
