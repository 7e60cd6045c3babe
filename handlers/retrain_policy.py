"""Retrain policy: the decisions of the retrainModel state machine, as pure functions (no AWS access).

The state machine reads what AWS holds (running executions, the dataset pointer, the last run) with
``aws-sdk`` tasks and asks this function what to do with it:

* ``plan``: the stage's settings (environment, from serverless.yml's stage parameters) merged with the
  execution input; what an empty input retrains from.
* ``decide``: the trigger's guards (another run in progress; the minimum interval; the minimum number of newly
  labelled images), then the SageMaker training job's request.
* ``evaluate``: the promotion gate over the training job's final metrics (the candidate and the approved
  version, scored on the same validation images by the job), and the names of what a promotion creates.

Each returns the state it was given plus its own fields, so every later state sees the whole plan.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from handlers.common.errors import ConfigurationError, InvalidEventError
from handlers.common.promotion import regressions

DATASET_POINTER_KEY = "review/datasets/latest.json"
LAST_RUN_KEY = "review/retrain/last-run.json"
MODELS_PREFIX = "review/retrain/models/"
ALARM_SOURCE = "aws.cloudwatch"
METRICS = ("accuracy", "pass_share", "accuracy_among_passed", "ece", "images")
# Input keys a manual start may override (everything else comes from the stage).
OVERRIDABLE = (
    "dataset_prefix",
    "baseline_model_data_url",
    "min_new_labels",
    "min_interval_minutes",
    "poll_seconds",
    "hyperparameters",
    "negatives_prefix",
)
_NAME_UNSAFE = re.compile(r"[^a-zA-Z0-9-]")


def _env(name: str, default: str | None = None) -> str:
    value = os.environ.get(name, default)
    if value is None:
        raise ConfigurationError(f"environment variable {name} is not set (serverless.yml, function retrainPolicy)")
    return value


def _number(name: str, text: Any, kind: type = float) -> Any:
    try:
        value = kind(text)
    except (TypeError, ValueError):
        raise ConfigurationError(f"{name}={text!r} is not a {kind.__name__}") from None
    if value < 0:
        raise ConfigurationError(f"{name}={text!r} must not be negative")
    return value


def plan(event: Mapping[str, Any]) -> dict[str, Any]:
    """Stage settings merged with the execution input."""
    given = event.get("input") or {}
    if not isinstance(given, Mapping):
        raise InvalidEventError("the execution input must be a JSON object (or {} for the stage's defaults)")
    alarm = given.get("source") == ALARM_SOURCE
    manual = {k: given[k] for k in OVERRIDABLE if k in given}
    bucket = _env("IMAGES_BUCKET")
    settings: dict[str, Any] = {
        "trigger": "alarm" if alarm else "manual",
        "execution_name": str(event.get("execution_name", "")),
        "started_at": str(event.get("started_at", "")),
        "bucket": bucket,
        "dataset_pointer_key": DATASET_POINTER_KEY,
        "last_run_key": LAST_RUN_KEY,
        "base_dataset_prefix": _env("RETRAIN_BASE_DATASET_PREFIX"),
        "topic_arn": _env("ALARM_TOPIC_ARN"),
        # The guards hold for the alarm; a person starting a run by hand decides for themselves.
        "min_new_labels": _number("RETRAIN_MIN_NEW_LABELS", _env("RETRAIN_MIN_NEW_LABELS"), int) if alarm else 0,
        "min_interval_minutes": _number("RETRAIN_MIN_INTERVAL_MINUTES", _env("RETRAIN_MIN_INTERVAL_MINUTES"))
        if alarm
        else 0,
        "poll_seconds": _number("RETRAIN_POLL_SECONDS", _env("RETRAIN_POLL_SECONDS"), int),
        "hyperparameters": {"seed": "0"},
        "baseline_model_data_url": os.environ.get("BASELINE_MODEL_DATA_URL") or None,
    }
    settings.update(manual)
    settings["min_new_labels"] = _number("min_new_labels", settings["min_new_labels"], int)
    settings["min_interval_minutes"] = _number("min_interval_minutes", settings["min_interval_minutes"])
    settings["poll_seconds"] = _number("poll_seconds", settings["poll_seconds"], int)
    return settings


def _parse_time(text: str, what: str) -> datetime:
    try:
        return datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        raise InvalidEventError(f"{what} {text!r} is not an ISO 8601 time") from None


def decide(event: Mapping[str, Any]) -> dict[str, Any]:
    """Whether to train now (``train``, ``reason``) and, if so, the training job request (``job``)."""
    state = dict(event.get("plan") or {})
    running = [
        e for e in (state.get("running") or {}).get("executions", []) if e.get("name") != state["execution_name"]
    ]
    dataset = (state.get("pointer") or {}).get("dataset")
    last = (state.get("last") or {}).get("run") or {}
    if not dataset or not dataset.get("prefix"):
        dataset = {"version": "base", "prefix": state["base_dataset_prefix"], "reviewed_images": 0}
    new_labels = int(dataset.get("reviewed_images", 0)) - int(last.get("reviewed_images", 0))
    now = _parse_time(state["started_at"], "execution start time")
    reason = None
    if running:
        reason = f"RetrainAlreadyRunning: execution {running[0].get('name')} is still running"
    elif new_labels < state["min_new_labels"]:
        reason = (
            f"NotEnoughNewLabels: {new_labels} newly labelled image(s) since the last retraining, fewer than the "
            f"minimum {state['min_new_labels']} (stage parameter retrainMinNewLabels)"
        )
    elif last.get("finished") and state["min_interval_minutes"]:
        due = _parse_time(last["finished"], "last run time") + timedelta(minutes=state["min_interval_minutes"])
        if now < due:
            reason = (
                f"RetrainTooSoon: the last retraining finished at {last['finished']}; the next may start after "
                f"{due.isoformat()} (stage parameter retrainMinIntervalMinutes)"
            )
    state.update(dataset=dataset, new_labels=new_labels, train=reason is None, reason=reason or "")
    if reason is None:
        state["job"] = training_job(state, now)
    return state


def training_job(state: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """The CreateTrainingJob request: the project's image, the dataset version's lst channels, a baseline."""
    bucket, prefix = state["bucket"], state["dataset"]["prefix"].strip("/")
    name = f"{_env('TRAINING_JOB_PREFIX')}-{now:%Y%m%d%H%M%S}-{_NAME_UNSAFE.sub('', state['execution_name'])[-8:]}"
    channels = [
        _channel("train", f"s3://{bucket}/{prefix}/train/"),
        _channel("train_lst", f"s3://{bucket}/{prefix}/train_lst/"),
    ]
    baseline = state.get("baseline_model_data_url")
    if baseline:
        channels.append(_channel("baseline", baseline))
    if state.get("negatives_prefix"):
        channels.append(_channel("negatives", f"s3://{bucket}/{state['negatives_prefix'].strip('/')}/"))
    definitions = [
        {"Name": f"{side}:{m}", "Regex": f"{side}:{m}=([0-9.]+)"}
        for side in ("validation", "baseline")
        for m in METRICS
    ]
    return {
        "TrainingJobName": name[:63],
        "AlgorithmSpecification": {
            "TrainingImage": _env("TRAINING_IMAGE"),
            "TrainingInputMode": "File",
            "MetricDefinitions": definitions,
        },
        "RoleArn": _env("TRAINING_ROLE_ARN"),
        "HyperParameters": {str(k): str(v) for k, v in state["hyperparameters"].items()},
        "InputDataConfig": channels,
        "OutputDataConfig": {"S3OutputPath": f"s3://{bucket}/{MODELS_PREFIX}"},
        "ResourceConfig": {
            "InstanceType": _env("TRAINING_INSTANCE_TYPE", "ml.m5.large"),
            "InstanceCount": 1,
            "VolumeSizeInGB": 10,
        },
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
    }


def _channel(name: str, uri: str) -> dict[str, Any]:
    return {"ChannelName": name, "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": uri}}}


def evaluate(event: Mapping[str, Any]) -> dict[str, Any]:
    """The promotion gate over the job's final metrics, and what a promotion creates."""
    state = dict(event.get("plan") or {})
    values: dict[str, dict[str, float]] = {"validation": {}, "baseline": {}}
    for item in event.get("metrics") or []:
        side, _, name = str(item.get("MetricName", "")).partition(":")
        if side in values and name in METRICS:
            values[side][name] = float(item["Value"])
    candidate, baseline = values["validation"], values["baseline"]
    if "accuracy" not in candidate:
        raise InvalidEventError(f"training job {state['job']['TrainingJobName']} reported no validation metrics")
    found = regressions(candidate, baseline) if baseline else []
    tag = _NAME_UNSAFE.sub("-", state["job"]["TrainingJobName"])
    promote = not found
    summary = (
        f"candidate {state['job']['TrainingJobName']} on {int(candidate.get('images', 0))} validation images: "
        + ", ".join(f"{k} {candidate[k]:.3f}" for k in METRICS[:4] if k in candidate)
        + (
            "; approved version on the same images: "
            + ", ".join(f"{k} {baseline[k]:.3f}" for k in METRICS[:4] if k in baseline)
            if baseline
            else "; no approved version to compare with"
        )
        + f"; dataset {state['dataset']['version']} ({state['new_labels']} newly labelled images)"
    )
    state.update(
        promote=promote,
        reason="promoted: no regression against the approved version"
        if promote
        else "kept PendingManualApproval: " + "; ".join(found),
        summary=summary,
        model_data_url=event["model_data_url"],
        metadata_properties={f"{side}:{k}": f"{v:.6g}" for side, d in values.items() for k, v in d.items()},
        model_package_group=_env("MODEL_PACKAGE_GROUP"),
        inference_image=_env("INFERENCE_IMAGE"),
        model_role_arn=_env("TRAINING_ROLE_ARN"),
        model_name=tag,
        endpoint_config_name=tag,
        endpoint_name=_env("ENDPOINT_NAME"),
        instance_type=_env("INSTANCE_TYPE", "ml.m5.large"),
        instance_count=_number("INSTANCE_COUNT", _env("INSTANCE_COUNT", "1"), int),
        data_capture_config={
            "EnableCapture": True,
            "InitialSamplingPercentage": _number(
                "CAPTURE_SAMPLING_PERCENTAGE", _env("CAPTURE_SAMPLING_PERCENTAGE", "100"), int
            ),
            "DestinationS3Uri": _env("CAPTURE_DESTINATION"),
            "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
            "CaptureContentTypeHeader": {"JsonContentTypes": ["application/json"]},
        },
    )
    return state


_ACTIONS = {"plan": plan, "decide": decide, "evaluate": evaluate}


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    action = event.get("action") if isinstance(event, Mapping) else None
    if action not in _ACTIONS:
        raise InvalidEventError(f"unknown action {action!r} (one of {', '.join(_ACTIONS)})")
    return _ACTIONS[action](event)
