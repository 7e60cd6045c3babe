"""The service packages offline with the real Serverless CLI and plugins, and the result is sound.

`sls package` asks CloudFormation whether the layer changed, so a local moto server answers
it (no stack exists, packaging goes ahead). These tests need node_modules (`make setup`).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from imageflow.tools.cfn_template import EvaluatedTemplate
from imageflow.tools.package_offline import VariantPackager
from imageflow.tools.security_scan import VARIANTS
from tests.helpers import REPO_ROOT
from tests.package.conftest import STAGE

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("package")]

BIN = REPO_ROOT / "node_modules" / ".bin"
FUNCTIONS = ("serialize", "classify", "threshold")


@pytest.fixture(scope="module")
def packaged(packager: VariantPackager) -> Path:
    return packager.output_dir("default")


@pytest.fixture(scope="module")
def template(variant_template: Callable[[str], dict[str, Any]]) -> dict[str, Any]:
    return variant_template("default")


def test_each_function_is_packaged_with_only_its_handler_and_the_shared_code(packaged: Path) -> None:
    for function in FUNCTIONS:
        names = set(zipfile.ZipFile(packaged / f"{function}.zip").namelist())
        assert f"handlers/{function}.py" in names
        assert "handlers/common/errors.py" in names
        others = {f"handlers/{other}.py" for other in FUNCTIONS if other != function}
        assert not names & others, f"{function}.zip carries another function's handler"
        assert not any(name.startswith(("tests/", "imageflow/", "models/", "samples/")) for name in names)


def test_the_layer_holds_lambda_platform_wheels_and_nothing_heavy(packaged: Path) -> None:
    layer = zipfile.ZipFile(packaged / "pythonRequirements.zip")
    names = layer.namelist()
    assert any(n.startswith("python/PIL/_imaging.cpython-312-x86_64-linux-gnu") for n in names), "Pillow for cp312"
    assert any(n.startswith("python/aws_lambda_powertools/") for n in names)
    heavy = ("numpy/", "onnxruntime/", "boto3/", "botocore/", "pandas/", "moto/", "matplotlib/")
    assert not [n for n in names if n.removeprefix("python/").startswith(heavy)]
    assert (packaged / "pythonRequirements.zip").stat().st_size < 15 * 1024 * 1024


def test_the_functions_use_the_layer_and_the_stage_parameters(template: dict[str, Any]) -> None:
    resources = template["Resources"]
    for function in FUNCTIONS:
        properties = resources[f"{function.capitalize()}LambdaFunction"]["Properties"]
        assert properties["Runtime"] == "python3.12"
        assert properties["Layers"] == [{"Ref": "PythonRequirementsLambdaLayer"}]
    env = {f: resources[f"{f.capitalize()}LambdaFunction"]["Properties"]["Environment"]["Variables"] for f in FUNCTIONS}
    assert env["classify"]["ENDPOINT_NAME"] == "image-classifier"
    assert env["serialize"]["IMAGES_BUCKET"] == ""  # the stack creates the bucket: IAM confines serialize to it
    assert env["threshold"]["THRESHOLD"] == "0.73"
    assert env["threshold"]["LABELS"] == "bicycle,motorcycle"


def test_the_images_bucket_is_encrypted_private_and_tls_only(template: dict[str, Any]) -> None:
    bucket = EvaluatedTemplate(template).evaluate(template["Resources"]["ImagesBucket"]["Properties"])
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    statement = template["Resources"]["ImagesBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"][0]
    assert statement["Effect"] == "Deny"
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_the_state_machine_uses_the_asl_file_and_the_three_functions(template: dict[str, Any]) -> None:
    machine = template["Resources"]["ClassifyImageStateMachine"]["Properties"]
    definition = json.dumps(machine["DefinitionString"])
    for function in FUNCTIONS:
        assert f"{function.capitalize()}LambdaFunction" in definition
    assert "THRESHOLD_CONFIDENCE_NOT_MET" in definition


# -- least privilege -----------------------------------------------------------------------------
def _allow_statements(
    template: dict[str, Any], parameters: dict[str, str] | None = None
) -> Iterator[tuple[str, dict[str, Any]]]:
    """Each Allow statement of the identities the stack would create (its conditions evaluated)."""
    for policy in EvaluatedTemplate(template, parameters).identity_policies():
        for statement in _as_list(policy.document["Statement"]):
            # Deny statements only take rights away.
            if statement["Effect"] == "Allow":
                yield policy.resource, statement


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


# Actions that have no resource-level permissions: AWS accepts only "*" for them.
ACTIONS_WITHOUT_RESOURCE_SCOPE = {"ecr:GetAuthorizationToken"}


@pytest.mark.parametrize("variant", VARIANTS)
def test_no_allow_statement_uses_a_wildcard_action_or_resource(
    variant: str, variant_template: Callable[[str], dict[str, Any]]
) -> None:
    offenders = []
    statements = list(_allow_statements(variant_template(variant)))
    assert statements
    for name, statement in statements:
        actions = _as_list(statement.get("Action", []))
        if statement.get("NotAction") or any("*" in action for action in actions):
            offenders.append((name, "action", actions))
        wildcard = any(r == "*" for r in _as_list(statement.get("Resource", [])))
        if statement.get("NotResource") or (wildcard and not set(actions) <= ACTIONS_WITHOUT_RESOURCE_SCOPE):
            offenders.append((name, "resource", statement.get("Resource")))
    assert not offenders


def _role_actions(
    template: dict[str, Any], role: str, parameters: dict[str, str] | None = None
) -> dict[str, list[Any]]:
    actions: dict[str, list[Any]] = {}
    for name, statement in _allow_statements(template, parameters):
        if name == role:
            for action in _as_list(statement["Action"]):
                actions.setdefault(action, []).extend(_as_list(statement["Resource"]))
    return actions


def test_each_function_role_allows_only_what_its_function_does(template: dict[str, Any]) -> None:
    logs = {"logs:CreateLogStream", "logs:PutLogEvents"}
    serialize = _role_actions(template, "SerializeRole")
    assert set(serialize) == logs | {"s3:GetObject", "s3:GetObjectVersion"}
    assert serialize["s3:GetObject"] == ["arn:aws:s3:::stack-imagesbucket/*"]  # the stack's bucket (stand-in name)

    classify = _role_actions(template, "ClassifyRole")
    assert set(classify) == logs | {"sagemaker:InvokeEndpoint", "s3:GetObject", "s3:GetObjectVersion"}
    assert ":endpoint/image-classifier" in json.dumps(classify["sagemaker:InvokeEndpoint"])

    assert set(_role_actions(template, "ThresholdRole")) == logs
    for role in ("SerializeRole", "ClassifyRole", "ThresholdRole"):
        for resources in _role_actions(template, role).values():
            if "logs:" in json.dumps(resources):
                assert f"-{STAGE}-{role.removesuffix('Role').lower()}:*" in json.dumps(resources)


def test_the_batch_roles_allow_only_what_the_batch_does(template: dict[str, Any]) -> None:
    batch = _role_actions(template, "BatchStateMachineRole")
    assert set(batch) == {
        "lambda:InvokeFunction",
        "states:StartExecution",
        "states:DescribeExecution",
        "states:StopExecution",
        "states:RedriveExecution",
        "s3:ListBucket",
        "s3:GetObject",
        "s3:PutObject",
        "s3:AbortMultipartUpload",
        "s3:ListMultipartUploadParts",
    }
    # its ledger and results; and, for the review states of the per-image chain (iam/review-queue.yml), the
    # image it classified (HeadObject, CopyObject's source)
    assert sorted(batch["s3:GetObject"]) == [
        "arn:aws:s3:::stack-imagesbucket/*",
        "arn:aws:s3:::stack-imagesbucket/batch/*",
    ]
    assert sorted(batch["s3:PutObject"]) == [
        "arn:aws:s3:::stack-imagesbucket/batch/*",
        "arn:aws:s3:::stack-imagesbucket/review/*",
    ]
    assert all(
        f"-{STAGE}-classify-batch" in json.dumps(batch[action]) for action in batch if action.startswith("states:")
    )
    reconcile = _role_actions(template, "ReconcileBatchRole")
    assert set(reconcile) == {
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "s3:ListBucket",
        "s3:GetObject",
        "s3:PutObject",
    }
    assert reconcile["s3:PutObject"] == ["arn:aws:s3:::stack-imagesbucket/batch/*"]
    upload = _role_actions(template, "UploadRuleRole")
    assert upload == {
        "states:StartExecution": [
            f"arn:aws:states:us-east-1:123456789012:stateMachine:image-classification-{STAGE}-classify-image"
        ]
    }


def test_with_a_stage_key_each_function_role_may_decrypt_with_that_key_only(
    template: dict[str, Any], variant_template: Callable[[str], dict[str, Any]]
) -> None:
    key = VARIANTS["kms"]["kmsKeyArn"]
    kms_template = variant_template("kms")
    for role in ("SerializeRole", "ClassifyRole", "ThresholdRole"):
        without_key = _role_actions(template, role)
        with_key = _role_actions(kms_template, role)
        assert "kms:Decrypt" not in without_key
        assert set(with_key) - set(without_key) == {"kms:Decrypt"}
        assert with_key["kms:Decrypt"] == [key]


# -- linters ---------------------------------------------------------------------------------------
def _cfn_lint_findings(path: Path) -> list[str]:
    """cfn-lint's errors and warnings, except the one serverless itself causes."""
    cfn_lint = shutil.which("cfn-lint", path=str(Path(os.sys.executable).parent))
    completed = subprocess.run([cfn_lint, str(path)], capture_output=True, text=True)
    # cfn-lint's exit status is a bit mask: 2 = error, 4 = warning, 8 = informational.
    assert completed.returncode & 2 == 0, completed.stdout
    # W3005: serverless adds a DependsOn on each role that a GetAtt already implies (harmless).
    findings = re.findall(r"^([EW]\d{4})\b.*$", completed.stdout, flags=re.MULTILINE)
    return [line for line in completed.stdout.splitlines() if line[:5] in findings and not line.startswith("W3005")]


def test_cfn_lint_finds_no_error_in_the_packaged_template(packaged: Path) -> None:
    assert _cfn_lint_findings(packaged / "cloudformation-template-update-stack.json") == []


@pytest.mark.parametrize("definition", ["classify_image", "retrain_model"])
def test_asl_validator_accepts_the_definition(definition: str) -> None:
    completed = subprocess.run(
        [str(BIN / "asl-validator"), "--yaml-path", f"stepfunctions/{definition}.asl.yml"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_asl_validator_accepts_the_batch_definition_with_the_included_chain(tmp_path: Path) -> None:
    from imageflow.runner.definition import BATCH_DEFINITION_PATH, load_definition

    definition = load_definition(BATCH_DEFINITION_PATH, {"self:custom.imagesBucketName": "images"})
    processor = definition["States"]["ClassifyImages"]["ItemProcessor"]
    assert processor["ProcessorConfig"] == {"Mode": "DISTRIBUTED", "ExecutionType": "EXPRESS"}
    branch = processor["States"]["RunImageChain"]["Branches"][0]
    assert branch["States"]["Serialize"]["Parameters"]["FunctionName"] == {"Fn::GetAtt": ["serialize", "Arn"]}
    path = tmp_path / "classify_batch.json"
    path.write_text(json.dumps(definition))
    completed = subprocess.run(
        [str(BIN / "asl-validator"), "--json-path", str(path)], cwd=REPO_ROOT, capture_output=True, text=True
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_the_batch_machine_is_a_distributed_map_over_s3_with_its_own_role(template: dict[str, Any]) -> None:
    machine = template["Resources"]["ClassifyBatchStateMachine"]["Properties"]
    assert machine["RoleArn"] == {"Fn::GetAtt": ["BatchStateMachineRole", "Arn"]}
    text = machine["DefinitionString"]["Fn::Sub"][0]
    definition = json.loads(text)
    mapped = definition["States"]["ClassifyImages"]
    assert mapped["ItemReader"]["Resource"] == "arn:aws:states:::s3:listObjectsV2"
    assert mapped["ResultWriter"]["Resource"] == "arn:aws:states:::s3:putObject"
    assert mapped["ToleratedFailurePercentage"] == 100 and isinstance(mapped["MaxConcurrency"], int)
    rule = template["Resources"]["UploadRule"]["Properties"]
    assert rule["EventPattern"]["detail-type"] == ["Object Created"]
    assert rule["Targets"][0]["Arn"] == {"Ref": "ClassifyImageStateMachine"}
    bucket = template["Resources"]["ImagesBucket"]["Properties"]
    assert bucket["NotificationConfiguration"] == {"EventBridgeConfiguration": {"EventBridgeEnabled": True}}


def test_asl_validator_rejects_a_broken_definition(tmp_path: Path) -> None:
    broken = (
        (REPO_ROOT / "stepfunctions" / "classify_image.asl.yml").read_text().replace("Next: Classify", "Next: Clasify")
    )
    (tmp_path / "broken.asl.yml").write_text(broken)
    completed = subprocess.run(
        [str(BIN / "asl-validator"), "--yaml-path", str(tmp_path / "broken.asl.yml")], capture_output=True, text=True
    )
    assert completed.returncode != 0
    assert "MISSING_TRANSITION_TARGET" in completed.stdout + completed.stderr


# -- monitoring and the optional endpoint ----------------------------------------------------------
ENDPOINT_PARAMS = VARIANTS["endpoint"]


@pytest.fixture(scope="module")
def endpoint_template(variant_template: Callable[[str], dict[str, Any]]) -> dict[str, Any]:
    return variant_template("endpoint")


def test_alarms_notify_the_topic_on_low_confidence_share_and_workflow_errors(template: dict[str, Any]) -> None:
    resources = template["Resources"]
    share = resources["LowConfidenceShareAlarm"]["Properties"]
    assert float(share["Threshold"]) == 0.5 and share["AlarmActions"] == [{"Ref": "AlarmTopic"}]
    expressions = {m["Id"]: m.get("Expression") for m in share["Metrics"]}
    assert expressions["share"] == "low / evaluated"
    names = {m["Id"]: m["MetricStat"]["Metric"]["MetricName"] for m in share["Metrics"] if "MetricStat" in m}
    assert names == {"low": "LowConfidence", "evaluated": "BestConfidence"}
    errors = resources["WorkflowErrorsAlarm"]["Properties"]
    assert any("- FILL(low, 0)" in (m.get("Expression") or "") for m in errors["Metrics"])
    assert errors["AlarmActions"] == [{"Ref": "AlarmTopic"}]


def test_the_dashboard_body_is_valid_json_with_the_workflows_metrics(template: dict[str, Any]) -> None:
    body, variables = template["Resources"]["MonitoringDashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    assert variables == {"StateMachineArn": {"Ref": "ClassifyImageStateMachine"}}
    rendered = body.replace("${AWS::Region}", "us-east-1").replace("${StateMachineArn}", "arn:sm")
    widgets = json.loads(rendered)["widgets"]
    titles = [w["properties"]["title"] for w in widgets]
    assert "Mean best confidence vs threshold" in titles and "Executions" in titles
    assert widgets[0]["properties"]["annotations"]["horizontal"][0]["value"] == 0.73


def test_the_endpoint_is_only_created_when_a_model_is_given(template: dict[str, Any]) -> None:
    parameters = template["Parameters"]
    assert parameters["ModelDataUrl"]["Default"] == "" and parameters["InferenceImage"]["Default"] == ""
    for name in ("ClassifierModel", "ClassifierEndpointConfig", "ClassifierEndpoint", "ModelExecutionRole"):
        assert template["Resources"][name]["Condition"] == "CreateEndpoint"


def test_an_enabled_endpoint_captures_data_into_the_service_bucket(endpoint_template: dict[str, Any]) -> None:
    parameters = endpoint_template["Parameters"]
    assert parameters["ModelDataUrl"]["Default"] == ENDPOINT_PARAMS["modelDataUrl"]
    config = endpoint_template["Resources"]["ClassifierEndpointConfig"]["Properties"]
    capture = config["DataCaptureConfig"]
    assert capture["EnableCapture"] is True and int(capture["InitialSamplingPercentage"]) == 50
    assert {o["CaptureMode"] for o in capture["CaptureOptions"]} == {"Input", "Output"}
    assert "/data-capture" in json.dumps(capture["DestinationS3Uri"])
    endpoint = endpoint_template["Resources"]["ClassifierEndpoint"]["Properties"]
    assert endpoint["EndpointName"] == "image-classifier"


def test_the_template_with_an_endpoint_passes_cfn_lint(endpoint_template: dict[str, Any], tmp_path: Path) -> None:
    path = tmp_path / "template.json"
    path.write_text(json.dumps(endpoint_template))
    assert _cfn_lint_findings(path) == []


# -- retraining (issue 11) ------------------------------------------------------------------------------
def test_retrain_model_role_passes_only_the_training_role_to_sagemaker_and_names_every_resource(
    template: dict[str, Any],
) -> None:
    statements = [s for role, s in _allow_statements(template) if role == "RetrainModelRole"]
    actions = {a for s in statements for a in _as_list(s["Action"])}
    assert "iam:PassRole" in actions and not any("*" in a for a in actions)
    [pass_role] = [s for s in statements if "iam:PassRole" in _as_list(s["Action"])]
    assert pass_role["Condition"] == {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}
    assert _as_list(pass_role["Resource"]) == ["arn:aws:iam::123456789012:role/stack-trainingrole"]
    for statement in statements:
        if any(a.startswith("sagemaker:") for a in _as_list(statement["Action"])):
            text = json.dumps(statement["Resource"])
            assert "imageflow-retrain-" in text or "image-classifier" in text, statement


def test_the_low_confidence_alarm_starts_retrain_model(template: dict[str, Any]) -> None:
    rules = [r for r in template["Resources"].values() if r["Type"] == "AWS::Events::Rule"]
    [rule] = [r for r in rules if "RetrainModelStateMachine" in json.dumps(r["Properties"]["Targets"])]
    pattern = rule["Properties"]["EventPattern"]
    assert pattern["detail-type"] == ["CloudWatch Alarm State Change"]
    assert pattern["detail"]["state"]["value"] == ["ALARM"]
    assert pattern["detail"]["alarmName"] == [f"image-classification-{STAGE}-low-confidence-share"]


def test_the_per_image_machine_writes_only_under_the_review_prefix(template: dict[str, Any]) -> None:
    writes = [
        s["Resource"]
        for role, s in _allow_statements(template)
        if role == "ClassifyImageStateMachineRole" and "s3:PutObject" in _as_list(s["Action"])
    ]
    assert writes and all("/review/*" in json.dumps(w) for w in writes)
    assert "s3:PutObject" not in _role_actions(template, "ThresholdRole")


def test_the_arm64_stage_parameter_moves_the_functions_and_builds_the_layer_for_aarch64(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """`--param=architecture=arm64`: every function on Graviton, the layer built from aarch64 wheels."""
    import zipfile

    from imageflow.tools.package_offline import copy_service, package_service

    service = copy_service(tmp_path_factory.mktemp("arm64"))
    done = package_service("armtest", service, {"architecture": "arm64"})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    template = json.loads((service / ".serverless" / "cloudformation-template-update-stack.json").read_text())
    functions = [r for r in template["Resources"].values() if r["Type"] == "AWS::Lambda::Function"]
    assert functions and all(f["Properties"]["Architectures"] == ["arm64"] for f in functions)
    layer = next(r for r in template["Resources"].values() if r["Type"] == "AWS::Lambda::LayerVersion")
    assert layer["Properties"]["CompatibleArchitectures"] == ["arm64"]
    with zipfile.ZipFile(service / ".serverless" / "pythonRequirements.zip") as archive:
        imaging = [name for name in archive.namelist() if "/PIL/_imaging." in name and name.endswith(".so")]
    assert imaging and all("aarch64" in name for name in imaging), imaging
