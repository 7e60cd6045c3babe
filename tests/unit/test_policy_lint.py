"""parliament lints the policies; the project accepts only the findings security/parliament.yaml names."""

from __future__ import annotations

from typing import Any

from imageflow.tools.policy_lint import is_accepted, lint_template


def _role(*statements: dict[str, Any]) -> dict[str, Any]:
    document = {"Version": "2012-10-17", "Statement": list(statements)}
    policy = {"PolicyName": "p", "PolicyDocument": document}
    return {"Resources": {"Role": {"Type": "AWS::IAM::Role", "Properties": {"Policies": [policy]}}}}


def _issues(template: dict[str, Any]) -> set[str]:
    return {finding.issue for finding in lint_template(template)}


def test_a_scoped_policy_has_no_findings() -> None:
    statement = {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": "arn:aws:s3:::bucket/images/*"}
    assert _issues(_role(statement)) == set()


def test_wrong_resources_unknown_actions_and_risky_rights_are_found() -> None:
    assert _issues(_role({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::bucket"})) == {
        "RESOURCE_MISMATCH"  # an object action on the bucket ARN
    }
    assert "UNKNOWN_ACTION" in _issues(_role({"Effect": "Allow", "Action": "s3:GetObjekt", "Resource": "*"}))
    risky = _issues(
        _role({"Effect": "Allow", "Action": ["iam:AttachRolePolicy", "sts:GetSessionToken"], "Resource": "*"})
    )
    assert {"RESOURCE_STAR", "PERMISSIONS_MANAGEMENT_ACTIONS", "CREDENTIALS_EXPOSURE"} <= risky
    # iam:PassRole alone is accepted as a permissions-management action (retrainModel must pass the training
    # role), never on "*"
    assert _issues(_role({"Effect": "Allow", "Action": "iam:PassRole", "Resource": "*"})) == {"RESOURCE_STAR"}


def test_only_the_ecr_token_alone_is_accepted_as_credential_exposure() -> None:
    token = {"Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"}
    assert _issues(_role(token)) == set()
    assert is_accepted("CREDENTIALS_EXPOSURE", {"actions": ["ecr:getauthorizationtoken"]})
    assert not is_accepted("CREDENTIALS_EXPOSURE", {"actions": ["ecr:getauthorizationtoken", "sts:getsessiontoken"]})
    assert not is_accepted("RESOURCE_STAR", {"actions": ["ecr:getauthorizationtoken"]})
