"""The security posture of every template variant, checked the way an adopting team would check it.

checkov (the IaC scanner) runs once per variant of ``security_scan.VARIANTS`` on the packaged template,
with every check it ships: nothing may fail, every skip must carry its reason, and the skipped checks must
be exactly the intended ones, so a new finding is never skipped silently. parliament lints every IAM
policy the stack would create. Both read the whole template, so resources added later are covered too.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from imageflow.tools.cfn_template import EvaluatedTemplate
from imageflow.tools.package_offline import VariantPackager
from imageflow.tools.policy_lint import lint_template, policies
from imageflow.tools.security_scan import NO_COMMENT, VARIANTS, CheckResult, ScanReport, run_checkov

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("package")]

LAMBDA, LOG_GROUP, TOPIC, BUCKET = "AWS::Lambda::Function", "AWS::Logs::LogGroup", "AWS::SNS::Topic", "AWS::S3::Bucket"

# The checks a variant skips (check id -> the resource type it is skipped on, on every resource of that type),
# by the reason: always, or because the variant leaves a stage option off.
ALWAYS_SKIPPED = {"CKV_AWS_116": LAMBDA, "CKV_AWS_117": LAMBDA}  # DLQ (synchronous tasks), VPC (AWS APIs only)
SKIPPED_WITHOUT_KMS_KEY = {"CKV_AWS_173": LAMBDA, "CKV_AWS_158": LOG_GROUP, "CKV_AWS_26": TOPIC}
SKIPPED_WITHOUT_LOG_BUCKET = {"CKV_AWS_18": BUCKET}


def intended_skips(variant: str) -> dict[str, str]:
    params = VARIANTS[variant]
    intended = dict(ALWAYS_SKIPPED)
    if not params.get("kmsKeyArn"):
        intended |= SKIPPED_WITHOUT_KMS_KEY
    if not params.get("logBucket"):
        intended |= SKIPPED_WITHOUT_LOG_BUCKET
    return intended


# The default template less the Threshold function's skip entries: shows the scan is live.
WITHOUT_SKIPS = "default-without-threshold-skips"


@pytest.fixture(scope="module")
def reports(packager: VariantPackager, tmp_path_factory: pytest.TempPathFactory) -> dict[str, ScanReport]:
    """checkov's report on each variant (and WITHOUT_SKIPS): one checkov run for the whole module."""
    packager.start(*VARIANTS)
    templates = {name: packager.template(name) for name in VARIANTS}
    template = json.loads(templates["default"].read_text())
    del template["Resources"]["ThresholdLambdaFunction"]["Metadata"]
    templates[WITHOUT_SKIPS] = tmp_path_factory.mktemp("without-skips") / "template.json"
    templates[WITHOUT_SKIPS].write_text(json.dumps(template))
    return run_checkov(templates)


def _scanned(report: ScanReport) -> Iterator[CheckResult]:
    yield from report.passed
    yield from report.failed
    yield from report.skipped


# -- checkov ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("variant", VARIANTS)
def test_checkov_finds_no_failed_check(variant: str, reports: dict[str, ScanReport]) -> None:
    report = reports[variant]
    assert len(report.passed) > 50, f"checkov scanned too little: {report.summary()}"
    assert report.failed == (), "\n".join(f"{c.check_id} {c.resource}" for c in report.failed)


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_skip_carries_its_reason(variant: str, reports: dict[str, ScanReport]) -> None:
    for skip in reports[variant].skipped:
        assert skip.comment and skip.comment != NO_COMMENT, f"{skip.check_id} on {skip.resource} has no reason"
        assert len(skip.comment.split()) >= 15, f"{skip.check_id} on {skip.resource}: {skip.comment!r} is no reason"


@pytest.mark.parametrize("variant", VARIANTS)
def test_the_skipped_checks_are_exactly_the_intended_ones(variant: str, reports: dict[str, ScanReport]) -> None:
    report = reports[variant]
    scanned = {check.resource for check in _scanned(report)}
    intended = {
        (check_id, resource)
        for check_id, resource_type in intended_skips(variant).items()
        for resource in scanned
        if resource.startswith(f"{resource_type}.")
    }
    assert {(skip.check_id, skip.resource) for skip in report.skipped} == intended


@pytest.mark.parametrize(
    ("variant", "option"), [("kms", SKIPPED_WITHOUT_KMS_KEY), ("log-bucket", SKIPPED_WITHOUT_LOG_BUCKET)]
)
def test_a_stage_option_turns_its_skipped_checks_into_passed_ones(
    variant: str, option: dict[str, str], reports: dict[str, ScanReport]
) -> None:
    passed = {(check.check_id, check.resource_type) for check in reports[variant].passed}
    assert set(option.items()) <= passed


def test_skips_for_an_option_left_off_name_the_stage_parameter_that_turns_it_on(
    reports: dict[str, ScanReport],
) -> None:
    for skip in reports["default"].skipped:
        if skip.check_id in SKIPPED_WITHOUT_KMS_KEY:
            assert "kmsKeyArn" in skip.comment
        if skip.check_id in SKIPPED_WITHOUT_LOG_BUCKET:
            assert "logBucket" in skip.comment


def test_without_its_skip_entries_a_function_fails_those_checks(reports: dict[str, ScanReport]) -> None:
    """The scan is live: the skips, not a blind scanner, keep the functions from failing.

    It also shows why the skips for options left off are decided when packaging: checkov passes
    CKV_AWS_173 on the unset ``KmsKeyArn: Fn::If [HasKmsKey, ..., AWS::NoValue]``, which it cannot evaluate.
    """
    report = reports[WITHOUT_SKIPS]
    failed = {(check.check_id, check.logical_id) for check in report.failed}
    assert failed == {(check_id, "ThresholdLambdaFunction") for check_id in ALWAYS_SKIPPED}
    assert ("CKV_AWS_173", "ThresholdLambdaFunction") in {(c.check_id, c.logical_id) for c in report.passed}


# -- what the skip reasons claim --------------------------------------------------------------------
def test_the_dlq_skip_is_only_on_functions_that_step_functions_invokes_synchronously(
    variant_template: Callable[[str], dict[str, Any]],
) -> None:
    template = variant_template("default")
    resources = template["Resources"]
    definitions = json.dumps(
        [
            r["Properties"]["DefinitionString"]
            for r in resources.values()
            if r["Type"] == "AWS::StepFunctions::StateMachine"
        ]
    )
    # Anything that would invoke a function asynchronously (S3, SNS, EventBridge, queues) shows up as one of these.
    async_sources = json.dumps(
        [
            r
            for r in resources.values()
            if r["Type"] in ("AWS::Lambda::Permission", "AWS::Lambda::EventSourceMapping", "AWS::Events::Rule")
        ]
    )
    for name, resource in resources.items():
        skips = resource.get("Metadata", {}).get("checkov", {}).get("skip", [])
        if any(skip["id"] == "CKV_AWS_116" for skip in skips):
            assert name in definitions, f"{name} skips the DLQ check but no state machine invokes it"
            assert name not in async_sources, f"{name} skips the DLQ check but is invoked asynchronously"


# -- the fixes --------------------------------------------------------------------------------------
def test_the_deployment_bucket_is_private_versioned_and_tls_only(
    variant_template: Callable[[str], dict[str, Any]],
) -> None:
    resources = variant_template("default")["Resources"]
    bucket = resources["ServerlessDeploymentBucket"]["Properties"]
    assert bucket["PublicAccessBlockConfiguration"] == dict.fromkeys(
        ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"), True
    )
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    statement = resources["ServerlessDeploymentBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"][0]
    assert (statement["Effect"], statement["Action"], statement["Condition"]) == (
        "Deny",
        "s3:*",
        {"Bool": {"aws:SecureTransport": False}},
    )


def test_the_model_runs_without_network_access(variant_template: Callable[[str], dict[str, Any]]) -> None:
    model = variant_template("endpoint")["Resources"]["ClassifierModel"]["Properties"]
    assert model["EnableNetworkIsolation"] is True


def test_every_function_has_reserved_concurrency_within_the_accounts_default_pool(
    variant_template: Callable[[str], dict[str, Any]],
) -> None:
    resources = variant_template("default")["Resources"]
    reserved = {
        name: resource["Properties"]["ReservedConcurrentExecutions"]
        for name, resource in resources.items()
        if resource["Type"] == LAMBDA
    }
    assert reserved == {
        "SerializeLambdaFunction": 10,
        "ClassifyLambdaFunction": 10,
        "ThresholdLambdaFunction": 10,
        "RetrainPolicyLambdaFunction": 2,
        "ReconcileBatchLambdaFunction": 2,
    }
    # AWS keeps 100 of an account's (default) 1,000 concurrent executions unreserved.
    assert sum(reserved.values()) <= 1000 - 100


def _evaluated_resources(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    evaluated = EvaluatedTemplate(template)
    return {
        name: evaluated.evaluate(resource.get("Properties", {})) for name, resource in evaluated.resources().items()
    }


def test_the_stage_key_encrypts_logs_environments_images_captures_and_alarms(
    variant_template: Callable[[str], dict[str, Any]],
) -> None:
    key = VARIANTS["kms"]["kmsKeyArn"]
    template = variant_template("kms")
    types = {name: resource["Type"] for name, resource in template["Resources"].items()}
    resources = _evaluated_resources(template)
    for name, properties in resources.items():
        if types[name] == LAMBDA:
            assert properties["KmsKeyArn"] == key, name
        if types[name] == LOG_GROUP:
            assert properties["KmsKeyId"] == key, name
    images = resources["ImagesBucket"]["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert images == [
        {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key}, "BucketKeyEnabled": True}
    ]
    assert resources["AlarmTopic"]["KmsMasterKeyId"] == key
    assert resources["ClassifierEndpointConfig"]["DataCaptureConfig"]["KmsKeyId"] == key


def test_without_a_stage_key_aws_managed_keys_encrypt_and_alarms_can_still_be_published(
    variant_template: Callable[[str], dict[str, Any]],
) -> None:
    template = variant_template("endpoint")
    types = {name: resource["Type"] for name, resource in template["Resources"].items()}
    resources = _evaluated_resources(template)
    for name, properties in resources.items():
        assert "KmsKeyArn" not in properties and "KmsKeyId" not in properties, name
        if types[name] == "AWS::IAM::Role":
            assert "kms:" not in json.dumps(properties), name
    images = resources["ImagesBucket"]["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert images == [{"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
    assert "KmsKeyId" not in resources["ClassifierEndpointConfig"]["DataCaptureConfig"]
    # CloudWatch alarms cannot publish to a topic under the AWS-managed SNS key (alias/aws/sns).
    assert "KmsMasterKeyId" not in resources["AlarmTopic"]


def test_a_log_bucket_receives_the_access_logs_of_both_buckets(
    variant_template: Callable[[str], dict[str, Any]],
) -> None:
    resources = _evaluated_resources(variant_template("log-bucket"))
    for bucket, prefix in (("ImagesBucket", "images"), ("ServerlessDeploymentBucket", "deployment")):
        assert resources[bucket]["LoggingConfiguration"] == {
            "DestinationBucketName": VARIANTS["log-bucket"]["logBucket"],
            "LogFilePrefix": f"image-classification-packagetest/{prefix}/",
        }
    assert "LoggingConfiguration" not in _evaluated_resources(variant_template("default"))["ImagesBucket"]


# -- IAM policies -----------------------------------------------------------------------------------
@pytest.mark.parametrize("variant", VARIANTS)
def test_parliament_finds_nothing_in_any_iam_policy(
    variant: str, variant_template: Callable[[str], dict[str, Any]]
) -> None:
    template = variant_template(variant)
    linted = {policy.resource for policy in policies(template)}
    # The functions' roles and the role serverless-step-functions generates for the state machine.
    assert {
        "SerializeRole",
        "ClassifyRole",
        "ThresholdRole",
        "ClassifyImageStateMachineRole",
        "RetrainModelRole",
    } <= linted
    if "modelDataUrl" in VARIANTS[variant]:
        assert "ModelExecutionRole" in linted
    assert [str(finding) for finding in lint_template(template)] == []
