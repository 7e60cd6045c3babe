"""The upload rule (batch/resources.yml) applied to events shaped as S3 sends them to EventBridge."""

from __future__ import annotations

import pytest

from imageflow.batch.upload_rule import (
    UploadRuleError,
    execution_input,
    execution_name,
    load_rule,
    matches,
    object_created_event,
    transform,
)

BUCKET = "images-dev"
AWKWARD_KEYS = [
    "incoming/red flower.jpg",
    "incoming/c++ 1+1=2.png",
    "incoming/100% real%20name.png",
    "incoming/ünïcödé/写真 📷.png",
    "incoming/a/b/c/d/e/f/deep.png",
    'incoming/quote " and back\\slash.png',
]


@pytest.fixture(scope="module")
def rule() -> dict:
    return load_rule(BUCKET, "incoming/")


@pytest.mark.parametrize("key", AWKWARD_KEYS)
def test_the_real_key_reaches_the_state_machine_input_unchanged(rule: dict, key: str) -> None:
    event = object_created_event(BUCKET, key, size=10, etag='"abc"')
    assert execution_input(rule, event) == {"s3_bucket": BUCKET, "s3_key": key}


@pytest.mark.parametrize(
    ("bucket", "key", "detail_type"),
    [
        (BUCKET, "elsewhere/a.png", "Object Created"),
        ("other-bucket", "incoming/a.png", "Object Created"),
        (BUCKET, "incoming/a.png", "Object Deleted"),
    ],
)
def test_events_outside_the_rule_start_nothing(rule: dict, bucket: str, key: str, detail_type: str) -> None:
    event = object_created_event(bucket, key, size=1, etag="e")
    event["detail-type"] = detail_type
    assert execution_input(rule, event) is None


def test_the_rule_reads_the_stage_bucket_and_prefix_from_the_resources_file(rule: dict) -> None:
    assert rule["EventPattern"]["detail"]["bucket"]["name"] == [BUCKET]
    assert rule["EventPattern"]["detail"]["object"]["key"] == [{"prefix": "incoming/"}]
    assert rule["EventPattern"]["source"] == ["aws.s3"]


def test_an_unknown_placeholder_or_filter_is_a_clear_error() -> None:
    with pytest.raises(UploadRuleError, match="<nope>"):
        transform({"InputPathsMap": {}, "InputTemplate": '{"a": <nope>}'}, {})
    with pytest.raises(UploadRuleError, match="unsupported content filter"):
        matches({"detail": [{"suffix": ".png"}]}, {"detail": "x.png"})


def test_execution_names_are_valid_and_unique() -> None:
    names = {execution_name("incoming/ünï code+1 %.png") for _ in range(3)}
    assert len(names) == 3
    for name in names:
        assert len(name) <= 80 and all(c.isalnum() or c in "-_." for c in name)
