"""Concurrent executions of one definition with Map, Parallel, Choice, Catch and intrinsic functions.

Run as ``python -m tests.motopatch.scenario MODE``: it prints each execution's status, output and history
(as JSON), so that a patched moto can be compared with an unpatched one, each in a process of its own (the
patches are process-wide and cannot be undone). MODE is ``unpatched`` or a runtime of the patch index
(``in-process``, ``local cloud``), whose whole patch set ``index.apply`` applies.

The unpatched side still gets ``execution_result_written_before_status``: without it, stock moto can answer
this scenario's tight polling with ``SUCCEEDED`` and no output, and the comparison is about the speed-ups.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

DEFINITION = {
    "StartAt": "Prepare",
    "States": {
        "Prepare": {
            "Type": "Pass",
            "Parameters": {
                "n.$": "$.n",
                "items.$": "$.items",
                "label.$": "States.Format('run {}', $.n)",
                "copy.$": "States.StringToJson(States.JsonToString($.items))",
            },
            "Next": "Fan",
        },
        "Fan": {
            "Type": "Parallel",
            "Branches": [
                {
                    "StartAt": "Each",
                    "States": {
                        "Each": {
                            "Type": "Map",
                            "ItemsPath": "$.items",
                            "MaxConcurrency": 3,
                            "ItemProcessor": {
                                "ProcessorConfig": {"Mode": "INLINE"},
                                "StartAt": "Double",
                                "States": {
                                    "Double": {
                                        "Type": "Pass",
                                        "Parameters": {"value.$": "$", "double.$": "States.MathAdd($, $)"},
                                        "ResultPath": "$",
                                        "End": True,
                                    }
                                },
                            },
                            "End": True,
                        }
                    },
                },
                {
                    "StartAt": "Decide",
                    "States": {
                        "Decide": {
                            "Type": "Choice",
                            "Choices": [{"Variable": "$.n", "NumericGreaterThan": 3, "Next": "Big"}],
                            "Default": "Small",
                        },
                        "Big": {"Type": "Pass", "Result": "big", "End": True},
                        "Small": {"Type": "Pass", "Result": "small", "End": True},
                    },
                },
            ],
            "ResultPath": "$.fan",
            "Next": "Guard",
        },
        # a failure caught by Catch (in a branch of its own: a failing branch aborts its siblings at
        # an arbitrary point, which would make the history differ from run to run)
        "Guard": {
            "Type": "Parallel",
            "Branches": [
                {
                    "StartAt": "Check",
                    "States": {
                        "Check": {
                            "Type": "Choice",
                            "Choices": [{"Variable": "$.n", "NumericGreaterThan": 3, "Next": "Fine"}],
                            "Default": "TooSmall",
                        },
                        "Fine": {"Type": "Pass", "End": True},
                        "TooSmall": {"Type": "Fail", "Error": "SmallNumber", "Cause": "n is small"},
                    },
                }
            ],
            "ResultPath": "$.guard",
            "Catch": [{"ErrorEquals": ["SmallNumber"], "ResultPath": "$.caught", "Next": "Done"}],
            "Next": "Done",
        },
        "Done": {"Type": "Pass", "End": True},
    },
}
EXECUTIONS = 8
_VOLATILE = {"timestamp", "id", "previousEventId"}


def _canonical(value: Any, arn: str) -> Any:
    """Drop what differs between any two runs (times, ids, the execution's own ARN and name)."""
    if isinstance(value, dict):
        return {key: _canonical(item, arn) for key, item in value.items() if key not in _VOLATILE}
    if isinstance(value, list):
        return [_canonical(item, arn) for item in value]
    if isinstance(value, str):
        return value.replace(arn, "<execution>")
    return value


UNPATCHED = "unpatched"


def run(mode: str) -> dict[str, Any]:
    import boto3
    from moto import mock_aws

    from imageflow.motopatch import index, results

    if mode == UNPATCHED:
        results.execution_result_written_before_status()
    else:
        index.apply(mode)
    sys.setswitchinterval(1e-5)  # interleave the executions' threads as much as possible
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        sfn = boto3.client("stepfunctions", region_name="us-east-1")
        machine = sfn.create_state_machine(
            name="scenario", definition=json.dumps(DEFINITION), roleArn="arn:aws:iam::123456789012:role/scenario"
        )["stateMachineArn"]
        arns = [
            sfn.start_execution(
                stateMachineArn=machine, name=f"run-{n}", input=json.dumps({"n": n, "items": list(range(n))})
            )["executionArn"]
            for n in range(EXECUTIONS)
        ]
        results = {}
        for arn in arns:
            deadline = time.monotonic() + 60
            while (description := sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
                if time.monotonic() > deadline:
                    raise SystemExit(f"{arn} still running")
                time.sleep(0.02)
            events = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
            # Parallel branches and Map iterations interleave their events differently from run to run
            history = sorted(json.dumps(_canonical(event, arn), sort_keys=True, default=str) for event in events)
            results[arn.rpartition(":")[2]] = {
                "status": description["status"],
                "output": description.get("output"),
                "error": description.get("error"),
                "history": history,
            }
    return results


if __name__ == "__main__":
    from imageflow.motopatch.index import BOTH

    modes = [*sorted(BOTH), UNPATCHED]
    mode = sys.argv[1] if len(sys.argv) > 1 else ""
    if mode not in modes:
        raise SystemExit(f"usage: python -m tests.motopatch.scenario {'|'.join(repr(m) for m in modes)}")
    print(json.dumps(run(mode)))
