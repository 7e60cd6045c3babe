"""checkov's JSON report is split per template, skip reasons kept, parse failures named."""

from __future__ import annotations

import pytest

from imageflow.tools.security_scan import CheckovError, CheckResult, split_report


def _check(check_id: str, resource: str, file: str, comment: str | None = None) -> dict:
    return {
        "check_id": check_id,
        "resource": resource,
        "file_path": file,
        "check_result": {"suppress_comment": comment},
    }


REPORT = {
    "check_type": "cloudformation",
    "results": {
        "passed_checks": [_check("CKV_AWS_19", "AWS::S3::Bucket.Images", "/a.json")],
        "failed_checks": [_check("CKV_AWS_18", "AWS::S3::Bucket.Images", "/b.json")],
        "skipped_checks": [_check("CKV_AWS_116", "AWS::Lambda::Function.Fn", "/a.json", "Step Functions invokes it")],
        "parsing_errors": [],
    },
}


def test_results_are_split_by_template_with_the_skip_reasons() -> None:
    reports = split_report([REPORT], ["a", "b", "c"])
    assert reports["a"].passed == (CheckResult("CKV_AWS_19", "AWS::S3::Bucket.Images"),)
    assert reports["a"].skipped == (
        CheckResult("CKV_AWS_116", "AWS::Lambda::Function.Fn", "Step Functions invokes it"),
    )
    assert reports["a"].skipped[0].logical_id == "Fn"
    assert reports["b"].failed[0].resource_type == "AWS::S3::Bucket"
    assert reports["b"].summary() == "0 passed, 1 failed, 0 skipped"
    assert reports["c"].summary() == "0 passed, 0 failed, 0 skipped"


def test_a_template_checkov_cannot_parse_is_an_error() -> None:
    broken = {"results": {**REPORT["results"], "parsing_errors": ["/b.json"]}}
    with pytest.raises(CheckovError, match=r"could not parse /b\.json"):
        split_report(broken, ["a", "b"])
