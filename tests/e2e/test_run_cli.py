"""``imageflow run`` end to end: the real CLI, state machine, handlers and model."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from imageflow.cli import main
from imageflow.paths import REPO_ROOT, SAMPLES_DIR
from imageflow.runner.results import read_results

pytestmark = pytest.mark.slow
MOTORCYCLES = ("motorcycle_left.png", "motorcycle_right.png")
NON_VEHICLES = ("astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg")


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample images plus a text file and an empty file."""
    folder = tmp_path_factory.mktemp("inputs")
    for sample in SAMPLES_DIR.iterdir():
        if sample.suffix.lower() in (".png", ".jpg", ".jpeg"):
            shutil.copy(sample, folder / sample.name)
    (folder / "notes").mkdir()
    (folder / "notes" / "readme.txt").write_text("not an image\n")
    (folder / "empty.png").write_bytes(b"")
    return folder


def _by_name(results_path: Path) -> dict[str, object]:
    return {Path(outcome.source).name: outcome for outcome in read_results(results_path)}


def _check_outcomes(folder: Path, results_path: Path) -> None:
    files = sorted(p.name for p in folder.rglob("*") if p.is_file())
    outcomes = _by_name(results_path)
    assert len(read_results(results_path)) == len(files)  # exactly one outcome per input
    assert sorted(outcomes) == files
    for name in MOTORCYCLES:
        assert outcomes[name].outcome == "passed"
        assert outcomes[name].label == "motorcycle" and outcomes[name].confidence >= 0.73
    for name in NON_VEHICLES:
        assert outcomes[name].outcome == "low_confidence"
        assert outcomes[name].error == "THRESHOLD_CONFIDENCE_NOT_MET"
        assert len(outcomes[name].inferences) == 2
    assert (outcomes["readme.txt"].outcome, outcomes["readme.txt"].error) == ("error", "NotAnImageError")
    assert (outcomes["empty.png"].outcome, outcomes["empty.png"].error) == ("error", "EmptyImageError")
    names = [outcome.execution_name for outcome in outcomes.values()]
    assert len(set(names)) == len(names)


def test_run_samples_in_process(inputs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    results = tmp_path / "results.jsonl"
    assert main(["run", str(inputs), "--results", str(results), "--out", str(tmp_path), "-q"]) == 0
    _check_outcomes(inputs, results)
    assert "passed" in capsys.readouterr().out

    capture_files = list((tmp_path / "data-capture").rglob("*.jsonl"))
    assert capture_files, "no data capture written"
    records = [json.loads(line) for path in capture_files for line in path.read_text().splitlines()]
    # one capture record per successful model call: every real image (not the text or empty file)
    assert len(records) == len([p for p in inputs.iterdir() if p.is_file() and p.stat().st_size])
    for record in records:
        assert record["captureData"]["endpointInput"]["encoding"] == "BASE64"
        assert len(json.loads(record["captureData"]["endpointOutput"]["data"])) == 2
        assert record["eventMetadata"]["inferenceTime"].endswith("Z")
    relative = capture_files[0].relative_to(tmp_path / "data-capture").parts
    assert relative[:2] == ("image-classifier-local", "AllTraffic") and len(relative) == 7  # .../yyyy/mm/dd/hh/f


def test_run_console_script(inputs: Path, tmp_path: Path) -> None:
    script = Path(sys.executable).with_name("imageflow")
    results = tmp_path / "results.jsonl"
    completed = subprocess.run(
        [str(script), "run", str(inputs), "--results", str(results), "--out", str(tmp_path)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    _check_outcomes(inputs, results)
    assert "_aws" not in completed.stdout  # handler metrics go to the function log, not the terminal


def test_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", str(tmp_path / "missing")]) == 2
    assert "no such file or folder" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["run", str(tmp_path / "empty")]) == 2
    assert "nothing to classify" in capsys.readouterr().err


def test_run_aws_against_moto(inputs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """--aws with the state machine and bucket given: upload, execute, poll, collect.

    moto's Lambda needs Docker, so the "deployed" state machine is a Pass state: this checks
    the --aws plumbing (upload, start, poll, collect, stack lookup), not the handlers.
    """
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    # moto only runs executions with its interpreter on; otherwise they stay RUNNING forever
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket="images-dev")
        s3.put_object(Bucket="images-dev", Key="incoming/a.png", Body=b"\x89PNG")
        arn = boto3.client("stepfunctions").create_state_machine(
            name="image-classification-dev-classify-image",
            definition=json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}}),
            roleArn="arn:aws:iam::123456789012:role/sfn",
        )["stateMachineArn"]
        results = tmp_path / "results.jsonl"
        code = main(
            [
                "run",
                str(inputs / "chelsea.png"),
                "s3://images-dev/incoming/",
                "--aws",
                "--state-machine-arn",
                arn,
                "--bucket",
                "images-dev",
                "--results",
                str(results),
                "-q",
            ]
        )
        assert code == 0
        outcomes = read_results(results)
        assert sorted(o.outcome for o in outcomes) == ["passed", "passed"]
        uris = {o.s3_uri for o in outcomes}
        assert "s3://images-dev/incoming/a.png" in uris  # s3:// inputs used in place
        uploaded = next(u for u in uris if u != "s3://images-dev/incoming/a.png")
        key = uploaded.removeprefix("s3://images-dev/")
        assert s3.head_object(Bucket="images-dev", Key=key)["ContentLength"] > 0
        # the stack outputs path: no stack -> a one-line failure, exit 1
        assert main(["run", str(inputs / "chelsea.png"), "--aws", "--stage", "nope", "-q"]) == 1


def test_run_aws_over_a_prefix_starts_the_batch_machine_and_reports_its_manifest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """--aws with only s3:// prefixes: classifyBatch from the stack outputs, one line per object from its manifest.

    moto's Lambda needs Docker, so the "deployed" batch machine is a Pass state answering with a manifest this
    test wrote: this checks the --aws batch plumbing (stack lookup, start, poll, manifest, table), not the map.
    """
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket="images-dev")
        keys = ["incoming/a b+c.png", "incoming/ünï.png", "incoming/notes.txt"]
        for key in keys:
            s3.put_object(Bucket="images-dev", Key=key, Body=b"x")
        lines = [
            {"key": keys[0], "outcome": "passed", "label": "motorcycle", "confidence": 0.9, "inferences": [0.1, 0.9]},
            {"key": keys[1], "outcome": "low_confidence", "error": "THRESHOLD_CONFIDENCE_NOT_MET",
             "cause": "THRESHOLD_CONFIDENCE_NOT_MET: best confidence 0.4000 (bicycle) is below the threshold 0.73 "
             "for s3://images-dev/incoming/ünï.png; probabilities [0.4, 0.1]"},
            {"key": keys[2], "outcome": "error", "error": "NotAnImageError", "cause": "not an image"},
        ]  # fmt: skip
        manifest = "batch/runs/x/manifest.jsonl"
        s3.put_object(Bucket="images-dev", Key=manifest, Body="".join(json.dumps(line) + "\n" for line in lines))
        result = {"manifest": f"s3://images-dev/{manifest}", "summary": {"reconciled": True}}
        arn = boto3.client("stepfunctions").create_state_machine(
            name="image-classification-dev-classify-batch",
            definition=json.dumps(
                {"StartAt": "Done", "States": {"Done": {"Type": "Pass", "Result": result, "End": True}}}
            ),
            roleArn="arn:aws:iam::123456789012:role/sfn",
        )["stateMachineArn"]
        outputs = {
            "ClassifyImageStateMachineArn": "unused",
            "ClassifyBatchStateMachineArn": arn,
            "ImagesBucketName": "images-dev",
        }
        template = {"Resources": {"Nothing": {"Type": "AWS::SNS::Topic"}},
                    "Outputs": {key: {"Value": value} for key, value in outputs.items()}}  # fmt: skip
        boto3.client("cloudformation").create_stack(
            StackName="image-classification-dev", TemplateBody=json.dumps(template)
        )
        results = tmp_path / "results.jsonl"
        assert main(["run", "s3://images-dev/incoming/", "--aws", "--results", str(results), "-q"]) == 0
    outcomes = {o.source: o for o in read_results(results)}
    assert sorted(outcomes) == sorted(f"s3://images-dev/{key}" for key in keys)
    assert outcomes[f"s3://images-dev/{keys[0]}"].label == "motorcycle"
    low = outcomes[f"s3://images-dev/{keys[1]}"]
    assert (low.outcome, low.label, low.inferences) == ("low_confidence", "bicycle", [0.4, 0.1])
    assert outcomes[f"s3://images-dev/{keys[2]}"].error == "NotAnImageError"
    assert "classify-batch" in capsys.readouterr().err
