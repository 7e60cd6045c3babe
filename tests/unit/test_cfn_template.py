"""The template evaluator reads policies as CloudFormation would create them."""

from __future__ import annotations

from typing import Any

import pytest

from imageflow.tools.cfn_template import EvaluatedTemplate, TemplateError

IMAGES = {
    "Fn::If": [
        "Create",
        {"Fn::Join": ["", [{"Fn::GetAtt": ["Bucket", "Arn"]}, "/*"]]},
        {"Fn::Sub": "arn:${AWS::Partition}:s3:::${Existing}/*"},
    ]
}
MODEL = {"Fn::Sub": ["arn:aws:s3:::${Path}", {"Path": {"Fn::Select": [1, {"Fn::Split": ["s3://", {"Ref": "Url"}]}]}}]}
READ = {
    "PolicyName": "read",
    "PolicyDocument": {
        "Statement": [
            {"Effect": "Allow", "Action": "s3:GetObject", "Resource": [IMAGES, MODEL]},
            {"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": {"Fn::GetAtt": "Fn.Arn"}},
        ]
    },
}
DECRYPT = {"Fn::If": ["HasKey", {"PolicyName": "decrypt", "PolicyDocument": {}}, {"Ref": "AWS::NoValue"}]}
TEMPLATE: dict[str, Any] = {
    "Parameters": {
        "Existing": {"Type": "String", "Default": ""},
        "Key": {"Type": "String", "Default": ""},
        "Url": {"Type": "String", "Default": "s3://models/a/model.tar.gz"},
    },
    "Conditions": {
        "Create": {"Fn::Equals": [{"Ref": "Existing"}, ""]},
        "HasKey": {"Fn::Not": [{"Fn::Equals": [{"Ref": "Key"}, ""]}]},
        "CreateWithKey": {"Fn::And": [{"Condition": "Create"}, {"Condition": "HasKey"}]},
    },
    "Resources": {
        "Bucket": {"Type": "AWS::S3::Bucket", "Condition": "Create"},
        "Fn": {"Type": "AWS::Lambda::Function", "Properties": {"FunctionName": {"Fn::Sub": "${AWS::StackName}-fn"}}},
        "Role": {"Type": "AWS::IAM::Role", "Properties": {"Policies": [READ, DECRYPT]}},
        "OnlyWithKey": {
            "Type": "AWS::IAM::Policy",
            "Condition": "CreateWithKey",
            "Properties": {"PolicyName": "k", "PolicyDocument": {}},
        },
    },
}


def _policies(parameters: dict[str, str] | None = None) -> dict[tuple[str, str], dict[str, Any]]:
    evaluated = EvaluatedTemplate(TEMPLATE, parameters, stack_name="svc")
    return {(p.resource, p.name): p.document for p in evaluated.identity_policies()}


def test_defaults_evaluate_references_conditions_and_functions() -> None:
    policies = _policies()
    assert set(policies) == {("Role", "read")}  # the conditional policy and policy resource are left out
    read, invoke = policies["Role", "read"]["Statement"]
    assert read["Resource"] == ["arn:aws:s3:::svc-bucket/*", "arn:aws:s3:::models/a/model.tar.gz"]
    assert invoke["Resource"] == "arn:aws:lambda:us-east-1:123456789012:function:svc-fn"


def test_parameter_values_choose_the_other_branches() -> None:
    policies = _policies({"Existing": "team-images", "Key": "arn:aws:kms:us-east-1:123456789012:key/k"})
    assert set(policies) == {("Role", "read"), ("Role", "decrypt")}  # CreateWithKey is false: no OnlyWithKey
    assert policies["Role", "read"]["Statement"][0]["Resource"][0] == "arn:aws:s3:::team-images/*"
    assert "Bucket" not in EvaluatedTemplate(TEMPLATE, {"Existing": "x"}).resources()


def test_unknown_parameters_and_functions_are_named() -> None:
    with pytest.raises(TemplateError, match="no such template parameter"):
        EvaluatedTemplate(TEMPLATE, {"Nope": "x"})
    with pytest.raises(TemplateError, match="Fn::Base64"):
        EvaluatedTemplate(TEMPLATE).evaluate({"Fn::Base64": "x"})
    with pytest.raises(TemplateError, match="'Missing'"):
        EvaluatedTemplate(TEMPLATE).evaluate({"Ref": "Missing"})
