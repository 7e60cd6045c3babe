"""Step Functions' aws-sdk integrations take and return PascalCase names; the translation for camelCase APIs."""

from __future__ import annotations

import json

import boto3
from moto import mock_aws

from imageflow.retrain import sdk_casing


def test_list_executions_takes_and_returns_pascal_case_names() -> None:
    with mock_aws():
        session = boto3.session.Session(region_name="us-east-1")
        sdk_casing.register(session)
        sfn = session.client("stepfunctions")
        definition = json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}})
        arn = sfn.create_state_machine(
            name="retrain", definition=definition, roleArn="arn:aws:iam::123456789012:role/x"
        )["stateMachineArn"]
        sfn.start_execution(stateMachineArn=arn, name="one")
        # as the state machine writes it: {"StateMachineArn": ..., "StatusFilter": ...}
        answer = sfn.list_executions(StateMachineArn=arn, StatusFilter="RUNNING")
        assert "Executions" in answer and answer["Executions"] == answer["executions"]
        assert all(e["status"] == "RUNNING" for e in answer["Executions"])
        # the API's own names still work
        assert sfn.list_executions(stateMachineArn=arn)["executions"][0]["name"] == "one"
