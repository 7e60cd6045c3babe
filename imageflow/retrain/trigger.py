"""The retraining trigger offline: the low-confidence alarm's rule, evaluated over a local run's results.

On AWS, CloudWatch evaluates ``LowConfidenceShareAlarm`` (monitoring/alarms.yml): the share of images under
the threshold, per ``alarmPeriodSeconds`` period, above ``lowConfidenceAlarmShare`` for
``alarmEvaluationPeriods`` periods in a row; going to ALARM starts retrainModel through an EventBridge rule,
whose guards (``retrainMinNewLabels``, ``retrainMinIntervalMinutes``, one run at a time) then decide.

Offline, after ``imageflow run``, the same rule with the same stage parameters (read from serverless.yml) is
applied to the run's outcomes, in the order they finished: a run shorter than the alarm's window is one
window, and it fires when its low-confidence share is above the alarm's share (an alarm needs data in every
period it evaluates; a short run is judged on what it has). When it fires, the same state machine starts
in-process with the alarm's event as input, so the same guards apply; ``IMAGEFLOW_RETRAIN_TRIGGER=off``
turns the trigger off.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from imageflow.paths import REPO_ROOT

SWITCH_ENV = "IMAGEFLOW_RETRAIN_TRIGGER"
ALARM_EVENT = {
    "source": "aws.cloudwatch",
    "detail-type": "CloudWatch Alarm State Change",
    "detail": {"alarmName": "image-classification-local-low-confidence-share", "state": {"value": "ALARM"}},
}


@dataclass(frozen=True)
class Rule:
    share: float
    min_new_labels: int
    min_interval_minutes: float

    @classmethod
    def from_stage(cls, stage: str = "local", serverless_yml: Path = REPO_ROOT / "serverless.yml") -> Rule:
        params = yaml.safe_load(serverless_yml.read_text(encoding="utf-8"))["params"]
        merged = {**params.get("default", {}), **params.get(stage, {})}
        return cls(
            share=float(merged["lowConfidenceAlarmShare"]),
            min_new_labels=int(merged["retrainMinNewLabels"]),
            min_interval_minutes=float(merged["retrainMinIntervalMinutes"]),
        )


def low_confidence_share(results: Path) -> tuple[float, int]:
    """Share of classified images (passed or low confidence) that were low confidence; and their number."""
    outcomes = [json.loads(line)["outcome"] for line in results.read_text(encoding="utf-8").splitlines() if line]
    classified = [o for o in outcomes if o in ("passed", "low_confidence")]
    if not classified:
        return 0.0, 0
    return sum(o == "low_confidence" for o in classified) / len(classified), len(classified)


def fires(results: Path, rule: Rule) -> tuple[bool, str]:
    share, images = low_confidence_share(results)
    verdict = share > rule.share
    relation = "above" if verdict else "not above"
    return verdict, f"{share:.0%} of {images} images under the threshold ({relation} the alarm's {rule.share:.0%})"


def after_run(results: Path) -> Any:
    """Evaluate the trigger after a local run; when it fires, run retrainModel in-process. Never raises."""
    if os.environ.get(SWITCH_ENV, "").lower() in ("off", "0", "false", "no"):
        return None
    try:
        rule = Rule.from_stage()
        fired, why = fires(results, rule)
        if not fired:
            return None
        print(f"retraining trigger: {why}: starting retrainModel", file=sys.stderr)
        from imageflow.retrain.workflow import RetrainSettings, run_retrain
        from imageflow.review.queue import ReviewQueue

        settings = RetrainSettings(min_new_labels=rule.min_new_labels, min_interval_minutes=rule.min_interval_minutes)
        run = run_retrain(ReviewQueue.open(), settings, dict(ALARM_EVENT))
        output = run.output or {}
        if run.status != "SUCCEEDED":
            print(f"retrainModel {run.status}: {run.error}: {run.cause}", file=sys.stderr)
        elif not output.get("retrained"):
            print(f"retrainModel ended early: {output.get('reason')}", file=sys.stderr)
        else:
            state = "approved and served" if output.get("promoted") else "kept PendingManualApproval"
            print(f"retrainModel: version {run.version} {state}: {output.get('summary')}", file=sys.stderr)
        return run
    except Exception as exc:  # the run's own results are already written: a trigger problem must not fail it
        print(f"retraining trigger: not evaluated: {type(exc).__name__}: {exc}", file=sys.stderr)
        return None
