"""One test per local cloud patch in imageflow/motopatch/ (see its index): the AWS behaviour each one restores.

They talk to our AWS API server (moto + fixes) in a subprocess through real boto3, so the patches never
touch the moto used in-process by other tests.
"""

from __future__ import annotations

import io
import json
import re
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from localcloud_helpers import client, start_aws_server

from imageflow.localcloud.services import free_port

pytestmark = pytest.mark.slow

ROLE_ARN = "arn:aws:iam::123456789012:role/test-role"
PASS_MACHINE = {"StartAt": "Done", "States": {"Done": {"Type": "Pass", "Result": {"ok": True}, "End": True}}}


@pytest.fixture(scope="module")
def aws(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    port = free_port()
    process = start_aws_server(port, tmp_path_factory.mktemp("lambda"))
    try:
        aws = {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}", "AWS_REGION": "us-east-1"}
        # Lambda (moto too) checks that the execution role exists.
        trust = {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
            ],
        }
        client("iam", aws).create_role(RoleName="test-role", AssumeRolePolicyDocument=json.dumps(trust))
        yield aws
    finally:
        process.terminate()
        process.wait(timeout=30)


def _create_stack(cfn: Any, name: str, template: dict[str, Any]) -> dict[str, Any]:
    cfn.create_stack(StackName=name, TemplateBody=json.dumps(template))
    return cfn.describe_stacks(StackName=name)["Stacks"][0]


def _outputs(stack: dict[str, Any]) -> dict[str, str]:
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs") or []}


def _wait_execution(sfn: Any, arn: str, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        execution = sfn.describe_execution(executionArn=arn)
        if execution["status"] != "RUNNING":
            return execution
        time.sleep(0.2)
    raise AssertionError(f"execution {arn} still RUNNING after {timeout} s")


def _python_function(lam: Any, name: str, code: bytes) -> str:
    """A python3.12 function with handler ``app.handler``; returns its ARN."""
    created = lam.create_function(
        FunctionName=name, Runtime="python3.12", Handler="app.handler", Role=ROLE_ARN, Code={"ZipFile": code}
    )
    return created["FunctionArn"]


def _zip(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return buffer.getvalue()


def test_validate_template_ignores_cfn_lint_warnings(aws: dict[str, str]) -> None:
    cfn = client("cloudformation", aws)
    # W3005: DependsOn repeats a dependency the GetAtt already creates (as serverless-step-functions emits).
    template = {
        "Resources": {
            "Queue": {"Type": "AWS::SQS::Queue"},
            "Topic": {
                "Type": "AWS::SNS::Topic",
                "DependsOn": ["Queue"],
                "Properties": {"DisplayName": {"Fn::GetAtt": ["Queue", "QueueName"]}},
            },
        }
    }
    cfn.validate_template(TemplateBody=json.dumps(template))  # stock moto: ValidationError (W3005)

    broken = {"Resources": {"Thing": {"Type": "AWS::SQS::Queue", "Properties": {"NoSuchProperty": 1}}}}
    with pytest.raises(cfn.exceptions.ClientError):  # errors (E...) still reject the template
        cfn.validate_template(TemplateBody=json.dumps(broken))


def test_fn_sub_substitutes_digit_leading_variables(aws: dict[str, str]) -> None:
    cfn = client("cloudformation", aws)
    template = {
        "Resources": {"Queue": {"Type": "AWS::SQS::Queue"}},
        "Outputs": {
            "Subbed": {
                "Value": {
                    "Fn::Sub": [
                        "${97d2746361f046cbe698370a35bb45c6}|${name}|${AWS::Region}",
                        {"97d2746361f046cbe698370a35bb45c6": {"Fn::GetAtt": ["Queue", "Arn"]}, "name": "plain"},
                    ]
                }
            }
        },
    }
    stack = _create_stack(cfn, "fn-sub", template)
    arn, name, region = _outputs(stack)["Subbed"].split("|")
    assert arn.startswith("arn:aws:sqs:us-east-1:")  # stock moto leaves "${97d2...}" in place
    assert (name, region) == ("plain", "us-east-1")


def test_no_value_removes_an_optional_policy_from_a_role(aws: dict[str, str]) -> None:
    cfn = client("cloudformation", aws)
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}
    template = {
        "Conditions": {"Never": {"Fn::Equals": ["a", "b"]}},
        "Resources": {
            "Role": {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "RoleName": "no-value-role",
                    "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": []},
                    "Policies": [
                        {"PolicyName": "always", "PolicyDocument": policy},
                        {
                            "Fn::If": [
                                "Never",
                                {"PolicyName": "never", "PolicyDocument": policy},
                                {"Ref": "AWS::NoValue"},
                            ]
                        },
                    ],
                },
            }
        },
    }
    stack = _create_stack(cfn, "no-value", template)  # stock moto: HTTP 500 (None in the Policies list)
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    assert client("iam", aws).list_role_policies(RoleName="no-value-role")["PolicyNames"] == ["always"]


def test_update_change_set_refreshes_outputs(aws: dict[str, str]) -> None:
    cfn = client("cloudformation", aws)
    first = {"Resources": {"Queue": {"Type": "AWS::SQS::Queue"}}}
    _create_stack(cfn, "change-set-outputs", first)
    second = {
        "Resources": {"Queue": {"Type": "AWS::SQS::Queue"}, "Other": {"Type": "AWS::SQS::Queue"}},
        "Outputs": {"OtherArn": {"Value": {"Fn::GetAtt": ["Other", "Arn"]}}},
    }
    cfn.create_change_set(
        StackName="change-set-outputs",
        ChangeSetName="add-output",
        ChangeSetType="UPDATE",
        TemplateBody=json.dumps(second),
    )
    cfn.execute_change_set(ChangeSetName="add-output", StackName="change-set-outputs")
    stack = cfn.describe_stacks(StackName="change-set-outputs")["Stacks"][0]
    assert _outputs(stack)["OtherArn"].startswith("arn:aws:sqs:")  # stock moto: no Outputs after the update


def test_a_stack_made_by_a_create_change_set_is_removed_and_deployed_again(aws: dict[str, str]) -> None:
    """What `sls deploy`, `sls remove`, `sls deploy` do: a CREATE change set, then one named as before."""
    cfn = client("cloudformation", aws)
    # no retries: the SDK would hide the HTTP 500 of the first delete behind a retry that finds nothing
    strict = client("cloudformation", aws, Config(retries={"total_max_attempts": 1}))
    template = {
        "Resources": {"Queue": {"Type": "AWS::SQS::Queue"}},
        "Outputs": {"QueueArn": {"Value": {"Fn::GetAtt": ["Queue", "Arn"]}, "Export": {"Name": "redeploy-QueueArn"}}},
    }
    for _ in range(2):
        cfn.create_change_set(
            StackName="redeploy", ChangeSetName="deploy", ChangeSetType="CREATE", TemplateBody=json.dumps(template)
        )
        # stock moto and the earlier patch: the second round fails here (KeyError: the deleted stack's id)
        cfn.execute_change_set(ChangeSetName="deploy", StackName="redeploy")
        stack = cfn.describe_stacks(StackName="redeploy")["Stacks"][0]
        assert _outputs(stack)["QueueArn"].startswith("arn:aws:sqs:")
        assert "redeploy-QueueArn" in {e["Name"] for e in cfn.list_exports()["Exports"]}
        strict.delete_stack(StackName="redeploy")  # stock moto: HTTP 500, KeyError on the unregistered export
        assert "redeploy-QueueArn" not in {e["Name"] for e in cfn.list_exports()["Exports"]}


def test_state_machine_executions_run(aws: dict[str, str]) -> None:
    sfn = client("stepfunctions", aws)
    definition = json.dumps(PASS_MACHINE)
    arn = sfn.create_state_machine(name="runs", definition=definition, roleArn=ROLE_ARN)["stateMachineArn"]
    execution_arn = sfn.start_execution(stateMachineArn=arn, name="first", input="{}")["executionArn"]
    execution = _wait_execution(sfn, execution_arn)  # stock moto: the ASL never runs
    assert execution["status"] == "SUCCEEDED"
    assert json.loads(execution["output"]) == {"ok": True}


def test_unnamed_executions_get_unique_names(aws: dict[str, str]) -> None:
    sfn = client("stepfunctions", aws)
    definition = json.dumps(PASS_MACHINE)
    arn = sfn.create_state_machine(name="unnamed", definition=definition, roleArn=ROLE_ARN)["stateMachineArn"]
    first = sfn.start_execution(stateMachineArn=arn, input="{}")["executionArn"]
    second = sfn.start_execution(stateMachineArn=arn, input="{}")["executionArn"]  # stock: ExecutionAlreadyExists
    assert first != second and not first.endswith(":None")
    assert [_wait_execution(sfn, a)["status"] for a in (first, second)] == ["SUCCEEDED", "SUCCEEDED"]


def test_cloudformation_state_machine_is_executable(aws: dict[str, str]) -> None:
    cfn, sfn = client("cloudformation", aws), client("stepfunctions", aws)
    template = {
        "Resources": {
            "Machine": {
                "Type": "AWS::StepFunctions::StateMachine",
                "Properties": {"DefinitionString": json.dumps(PASS_MACHINE), "RoleArn": ROLE_ARN},
            }
        },
        "Outputs": {"MachineArn": {"Value": {"Ref": "Machine"}}},
    }
    arn = _outputs(_create_stack(cfn, "state-machine", template))["MachineArn"]
    execution_arn = sfn.start_execution(stateMachineArn=arn, input="{}")["executionArn"]  # stock: does not exist
    assert _wait_execution(sfn, execution_arn)["status"] == "SUCCEEDED"


def test_cloudformation_function_keeps_its_layer(aws: dict[str, str]) -> None:
    s3, cfn, lam = client("s3", aws), client("cloudformation", aws), client("lambda", aws)
    s3.create_bucket(Bucket="layer-code")
    s3.put_object(Bucket="layer-code", Key="layer.zip", Body=_zip({"python/shared_lib.py": "VALUE = 'from layer'\n"}))
    s3.put_object(
        Bucket="layer-code",
        Key="function.zip",
        Body=_zip({"app.py": "import shared_lib\ndef handler(event, context):\n    return shared_lib.VALUE\n"}),
    )
    template = {
        "Resources": {
            "Layer": {
                "Type": "AWS::Lambda::LayerVersion",
                "Properties": {
                    "LayerName": "shared-layer",
                    "Content": {"S3Bucket": "layer-code", "S3Key": "layer.zip"},
                },
            },
            "Function": {
                "Type": "AWS::Lambda::Function",
                "Properties": {
                    "FunctionName": "uses-layer",
                    "Runtime": "python3.12",
                    "Handler": "app.handler",
                    "Role": ROLE_ARN,
                    "Code": {"S3Bucket": "layer-code", "S3Key": "function.zip"},
                    "Layers": [{"Ref": "Layer"}],
                },
            },
        },
        "Outputs": {"LayerArn": {"Value": {"Ref": "Layer"}}},
    }
    layer_arn = _outputs(_create_stack(cfn, "layers", template))["LayerArn"]
    assert layer_arn.startswith("arn:aws:lambda:us-east-1:123456789012:layer:shared-layer:")  # stock: object repr
    config = lam.get_function_configuration(FunctionName="uses-layer")
    assert [layer["Arn"] for layer in config["Layers"]] == [layer_arn]  # stock: []
    response = lam.invoke(FunctionName="uses-layer", Payload=b"{}")
    assert json.loads(response["Payload"].read()) == "from layer"


@pytest.fixture(scope="module")
def function_code(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    handler = '''
import os, time

class ImageTooSmallError(Exception):
    """A project-style error: its class name is the error name Retry/Catch see."""

def handler(event, context):
    if event.get("fail"):
        raise ImageTooSmallError(f"too small: {event['fail']}")
    if event.get("sleep"):
        time.sleep(event["sleep"])
    print("log line from the handler")
    return {"echo": event, "greeting": os.environ.get("GREETING"), "request_id": context.aws_request_id,
            "endpoint": os.environ.get("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME"),
            "can_import_moto": _importable("moto")}

def _importable(name):
    import importlib.util
    return importlib.util.find_spec(name) is not None
'''
    return _zip({"app.py": handler})


def test_invoke_runs_deployed_code_like_the_lambda_runtime(aws: dict[str, str], function_code: bytes) -> None:
    lam = client("lambda", aws)
    lam.create_function(
        FunctionName="runtime-check",
        Runtime="python3.12",
        Handler="app.handler",
        Role=ROLE_ARN,
        Code={"ZipFile": function_code},
        Timeout=3,
        Environment={"Variables": {"GREETING": "hello"}},
    )

    ok = lam.invoke(FunctionName="runtime-check", Payload=json.dumps({"n": 1}), LogType="Tail")
    assert "FunctionError" not in ok
    result = json.loads(ok["Payload"].read())
    assert result["echo"] == {"n": 1}
    assert result["greeting"] == "hello"  # the function's Environment
    assert result["request_id"]
    assert result["can_import_moto"] is False  # only the deployed code, its layers and boto3 are importable

    failed = lam.invoke(FunctionName="runtime-check", Payload=json.dumps({"fail": "3x3"}))
    assert failed["FunctionError"] == "Unhandled"  # stock moto without Docker: "Handled", "error running docker"
    error = json.loads(failed["Payload"].read())
    assert error["errorType"] == "ImageTooSmallError"
    assert error["errorMessage"] == "too small: 3x3"
    assert any("app.py" in frame for frame in error["stackTrace"])

    timed_out = lam.invoke(FunctionName="runtime-check", Payload=json.dumps({"sleep": 10}))
    assert timed_out["FunctionError"] == "Unhandled"
    assert json.loads(timed_out["Payload"].read())["errorType"] == "Sandbox.Timedout"


def test_state_machine_catches_the_handler_error_by_class_name(aws: dict[str, str], function_code: bytes) -> None:
    lam, sfn = client("lambda", aws), client("stepfunctions", aws)
    arn = _python_function(lam, "catch-check", function_code)
    definition = {
        "StartAt": "Call",
        "States": {
            "Call": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"FunctionName": arn, "Payload.$": "$"},
                "OutputPath": "$.Payload",
                "Catch": [{"ErrorEquals": ["ImageTooSmallError"], "ResultPath": "$.failure", "Next": "Caught"}],
                "End": True,
            },
            "Caught": {"Type": "Fail", "Error": "CAUGHT", "Cause": "handler error matched by class name"},
        },
    }
    machine = sfn.create_state_machine(name="catch", definition=json.dumps(definition), roleArn=ROLE_ARN)
    ok = sfn.start_execution(stateMachineArn=machine["stateMachineArn"], input=json.dumps({"n": 2}))
    failing = sfn.start_execution(stateMachineArn=machine["stateMachineArn"], input=json.dumps({"fail": "1x1"}))
    succeeded = _wait_execution(sfn, ok["executionArn"])
    assert succeeded["status"] == "SUCCEEDED", succeeded
    assert json.loads(succeeded["output"])["echo"] == {"n": 2}
    failed = _wait_execution(sfn, failing["executionArn"])
    assert (failed["status"], failed.get("error")) == ("FAILED", "CAUGHT")


def test_fault_code_that_cannot_be_unzipped_fails_the_task_with_Lambda_ServiceException_not_States_Runtime(
    aws: dict[str, str],
) -> None:
    # A real fault of the local Lambda runtime: moto accepts any bytes as a function's zip (AWS would refuse
    # them at CreateFunction), so the runtime's unzip raises at invoke time.
    lam, sfn = client("lambda", aws), client("stepfunctions", aws)
    arn = _python_function(lam, "unzippable", b"these bytes are not a zip archive")
    call = {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "Parameters": {"FunctionName": arn}}
    definition = {
        "StartAt": "Call",
        "States": {
            "Call": {
                **call,
                "Catch": [{"ErrorEquals": ["Lambda.ServiceException"], "ResultPath": "$.failure", "Next": "Caught"}],
                "End": True,
            },
            "Caught": {"Type": "Fail", "Error": "CAUGHT", "CausePath": "$.failure.Cause"},
        },
    }
    machine = sfn.create_state_machine(name="unzippable", definition=json.dumps(definition), roleArn=ROLE_ARN)
    started = sfn.start_execution(stateMachineArn=machine["stateMachineArn"], input="{}")
    failed = _wait_execution(sfn, started["executionArn"])
    # before: States.Runtime, "KeyError: 'RequestId'": the runtime's exception became werkzeug's bare HTTP 500,
    # whose missing request id broke moto's error mapping, so no Catch or Retry could match
    assert (failed["status"], failed["error"]) == ("FAILED", "CAUGHT"), failed
    assert failed["cause"].startswith("The local Lambda runtime failed to run unzippable: BadZipFile: "), failed
    where = r"raised at zipfile/\S+\.py:\d+ in \w+; called from imageflow/localcloud/lambda_runtime\.py:\d+ in _unpack"
    assert re.search(where, failed["cause"]), failed["cause"]
    assert "Error Code: ServiceException; Request ID: " in failed["cause"]
    assert "Request ID: null" not in failed["cause"]  # the service's own error carries its request id

    once = client("lambda", aws, Config(retries={"total_max_attempts": 1}))
    with pytest.raises(ClientError) as raised:  # the Lambda API answers the same, as AWS's Invoke would
        once.invoke(FunctionName="unzippable", Payload=b"{}")
    assert raised.value.response["Error"]["Code"] == "ServiceException"
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500


def test_a_function_whose_layer_version_was_deleted_fails_with_ServiceException_naming_the_layer(
    aws: dict[str, str], function_code: bytes
) -> None:
    # AWS keeps a deleted layer version for the functions that use it; moto drops its bytes, so the local
    # runtime cannot run the function. The error says which layer and what to do, in Lambda's own error.
    lam = client("lambda", aws, Config(retries={"total_max_attempts": 1}))
    layer = lam.publish_layer_version(LayerName="gone", Content={"ZipFile": _zip({"python/gone.py": ""})})
    lam.create_function(
        FunctionName="uses-gone",
        Runtime="python3.12",
        Handler="app.handler",
        Role=ROLE_ARN,
        Code={"ZipFile": function_code},
        Layers=[layer["LayerVersionArn"]],
    )
    assert lam.invoke(FunctionName="uses-gone", Payload=b"{}")["StatusCode"] == 200  # runs while it exists
    lam.delete_layer_version(LayerName="gone", VersionNumber=layer["Version"])
    with pytest.raises(ClientError) as raised:
        lam.invoke(FunctionName="uses-gone", Payload=b"{}")
    error = raised.value.response["Error"]
    assert error["Code"] == "ServiceException", raised.value.response
    # moto's own error, passed on unchanged: not wrapped in "failed to run ...: ServiceException: ..."
    assert error["Message"].startswith(
        f"The local Lambda runtime cannot run uses-gone: its layer version {layer['LayerVersionArn']} has been deleted"
    ), error
    assert raised.value.response["ResponseMetadata"]["RequestId"]


def test_logs_reach_cloudwatch(aws: dict[str, str], function_code: bytes, tmp_path: Path) -> None:
    lam, logs = client("lambda", aws), client("logs", aws)
    _python_function(lam, "logs-check", function_code)
    lam.invoke(FunctionName="logs-check", Payload=b"{}")
    events = logs.filter_log_events(logGroupName="/aws/lambda/logs-check")["events"]
    messages = [event["message"] for event in events]
    assert "log line from the handler" in messages
    assert any(message.startswith("REPORT RequestId:") for message in messages)


def test_a_pass_state_given_bad_json_names_the_exception_state_and_place(aws: dict[str, str]) -> None:
    sfn = client("stepfunctions", aws)
    definition = {
        "StartAt": "Describe",
        "States": {
            "Describe": {"Type": "Pass", "Parameters": {"detail.$": "States.StringToJson($.text)"}, "End": True}
        },
    }
    arn = sfn.create_state_machine(name="bad-json", definition=json.dumps(definition), roleArn=ROLE_ARN)
    started = sfn.start_execution(stateMachineArn=arn["stateMachineArn"], input=json.dumps({"text": "not json"}))
    failed = _wait_execution(sfn, started["executionArn"])
    assert (failed["status"], failed["error"]) == ("FAILED", "States.Runtime")
    # stock moto: "JSONDecodeError(Expecting value: line 1 column 1 (char 0))", no state and no place
    assert failed["cause"].startswith("JSONDecodeError: Expecting value: line 1 column 1 (char 0) (")
    assert "in state 'Describe'" in failed["cause"]
    assert re.search(
        r"raised at json/\w+\.py:\d+ in \w+; called from moto/stepfunctions/\S+\.py:\d+ in \w+", failed["cause"]
    )
