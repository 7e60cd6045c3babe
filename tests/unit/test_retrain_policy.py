"""The retrainModel state machine's decisions (handlers/retrain_policy.py): settings, guards, promotion gate."""

from __future__ import annotations

import pytest

from handlers import retrain_policy
from handlers.common.errors import ConfigurationError, InvalidEventError

STAGE = {
    "IMAGES_BUCKET": "images",
    "ALARM_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:alarms",
    "ENDPOINT_NAME": "image-classifier",
    "RETRAIN_MIN_NEW_LABELS": "50",
    "RETRAIN_MIN_INTERVAL_MINUTES": "360",
    "RETRAIN_POLL_SECONDS": "60",
    "RETRAIN_BASE_DATASET_PREFIX": "review/datasets/base/",
    "TRAINING_IMAGE": "123456789012.dkr.ecr.us-east-1.amazonaws.com/imageflow:1",
    "INFERENCE_IMAGE": "123456789012.dkr.ecr.us-east-1.amazonaws.com/imageflow:1",
    "TRAINING_ROLE_ARN": "arn:aws:iam::123456789012:role/training",
    "TRAINING_JOB_PREFIX": "imageflow-retrain",
    "MODEL_PACKAGE_GROUP": "image-classifier",
    "CAPTURE_DESTINATION": "s3://images/data-capture",
}
ALARM = {
    "source": "aws.cloudwatch",
    "detail-type": "CloudWatch Alarm State Change",
    "detail": {"state": {"value": "ALARM"}},
}


@pytest.fixture(autouse=True)
def _stage(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in STAGE.items():
        monkeypatch.setenv(name, value)


def _decide(execution_input: dict, *, running=(), dataset=None, last=None, started="2026-11-28T12:00:00Z") -> dict:
    state = retrain_policy.handler(
        {"action": "plan", "input": execution_input, "execution_name": "run-1", "started_at": started}, None
    )
    state.update(
        running={"executions": [{"name": "run-1"}, *({"name": n} for n in running)]},
        pointer={"dataset": dataset},
        last={"run": last},
    )
    return retrain_policy.handler({"action": "decide", "plan": state}, None)


DATASET = {"version": "v3", "prefix": "review/datasets/v3/", "reviewed_images": "120"}


def test_an_empty_manual_start_retrains_from_the_stage_defaults() -> None:
    decision = _decide({})
    assert decision["train"] is True and decision["trigger"] == "manual"
    job = decision["job"]
    assert job["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"] == "s3://images/review/datasets/base/train/"
    assert job["RoleArn"] == STAGE["TRAINING_ROLE_ARN"] and job["TrainingJobName"].startswith("imageflow-retrain-")
    assert {d["Name"] for d in job["AlgorithmSpecification"]["MetricDefinitions"]} >= {
        "validation:accuracy",
        "baseline:accuracy",
    }


def test_the_alarm_trains_on_the_latest_dataset_version_with_enough_new_labels() -> None:
    decision = _decide(ALARM, dataset=DATASET, last={"reviewed_images": "60", "finished": "2026-11-27T00:00:00Z"})
    assert (decision["train"], decision["new_labels"], decision["trigger"]) == (True, 60, "alarm")
    assert (
        decision["job"]["InputDataConfig"][1]["DataSource"]["S3DataSource"]["S3Uri"]
        == "s3://images/review/datasets/v3/train_lst/"
    )


@pytest.mark.parametrize(
    ("options", "reason"),
    [
        ({"running": ["run-0"]}, "RetrainAlreadyRunning: execution run-0"),
        (
            {"dataset": DATASET, "last": {"reviewed_images": "100", "finished": "2026-11-27T00:00:00Z"}},
            "NotEnoughNewLabels: 20",
        ),
        ({"dataset": DATASET, "last": {"reviewed_images": "10", "finished": "2026-11-28T10:00:00Z"}}, "RetrainTooSoon"),
    ],
    ids=["running", "few-labels", "too-soon"],
)
def test_the_alarm_ends_early_and_says_why(options: dict, reason: str) -> None:
    decision = _decide(ALARM, **options)
    assert decision["train"] is False and decision["reason"].startswith(reason) and "job" not in decision


def test_a_manual_start_skips_the_label_and_interval_guards_but_never_runs_twice() -> None:
    recent = {"reviewed_images": "120", "finished": "2026-11-28T11:59:00Z"}
    assert _decide({}, dataset=DATASET, last=recent)["train"] is True
    assert _decide({}, running=["run-0"])["train"] is False


def _evaluate(candidate: dict, baseline: dict) -> dict:
    state = _decide({})
    metrics = [{"MetricName": f"validation:{k}", "Value": v} for k, v in candidate.items()]
    metrics += [{"MetricName": f"baseline:{k}", "Value": v} for k, v in baseline.items()]
    return retrain_policy.handler(
        {"action": "evaluate", "plan": state, "metrics": metrics, "model_data_url": "s3://images/m.tar.gz"}, None
    )


GOOD = {"images": 200, "accuracy": 0.95, "pass_share": 0.92, "accuracy_among_passed": 0.97, "ece": 0.03}


def test_the_gate_promotes_a_candidate_that_does_not_regress() -> None:
    result = _evaluate(GOOD, {**GOOD, "accuracy": 0.77, "pass_share": 0.01, "ece": 0.7})
    assert result["promote"] is True and "accuracy 0.950" in result["summary"]
    assert result["data_capture_config"]["DestinationS3Uri"] == "s3://images/data-capture"
    assert result["metadata_properties"]["validation:accuracy"] == "0.95"


def test_the_gate_keeps_a_regressing_candidate_pending_with_the_reason() -> None:
    result = _evaluate({**GOOD, "accuracy": 0.90}, GOOD)
    assert (
        result["promote"] is False and result["reason"] == "kept PendingManualApproval: accuracy 0.900 < approved 0.950"
    )


def test_bad_events_and_settings_are_named() -> None:
    with pytest.raises(InvalidEventError, match="unknown action 'train'"):
        retrain_policy.handler({"action": "train"}, None)
    with pytest.raises(InvalidEventError, match="no validation metrics"):
        _evaluate({}, GOOD)
    with pytest.raises(ConfigurationError, match="RETRAIN_POLL_SECONDS='soon' is not a int"):
        import os

        os.environ["RETRAIN_POLL_SECONDS"] = "soon"
        retrain_policy.handler({"action": "plan", "input": {}}, None)
