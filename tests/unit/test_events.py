"""The event contract between the steps."""

from __future__ import annotations

import pytest

from handlers.common.errors import InvalidEventError
from handlers.common.events import parse_body, parse_image_location, parse_image_ref, response


def test_image_location_is_read_from_the_state_machine_input() -> None:
    location = parse_image_location({"s3_bucket": "b", "s3_key": "cats/1.png"})
    assert (location.bucket, location.key, location.uri) == ("b", "cats/1.png", "s3://b/cats/1.png")


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ({"s3_key": "k"}, "missing the key 's3_bucket'"),
        ({"s3_bucket": "b"}, "missing the key 's3_key'"),
        ({"s3_bucket": 3, "s3_key": "k"}, "'s3_bucket' must be a string, got int"),
        ({"s3_bucket": "b", "s3_key": "  "}, "'s3_key' must not be empty"),
        (["s3_bucket"], "must be a JSON object, got list"),
        (None, "must be a JSON object, got NoneType"),
    ],
)
def test_bad_state_machine_input_is_rejected_with_what_is_wrong(event: object, message: str) -> None:
    with pytest.raises(InvalidEventError, match=message):
        parse_image_location(event)


def test_body_is_taken_from_the_previous_steps_output() -> None:
    body = parse_body({"statusCode": 200, "body": {"s3_bucket": "b", "s3_key": "k", "inferences": []}})
    assert body == {"s3_bucket": "b", "s3_key": "k", "inferences": []}


def test_body_given_as_json_string_is_accepted() -> None:
    assert parse_body({"body": '{"s3_bucket": "b", "s3_key": "k"}'})["s3_key"] == "k"


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ({"statusCode": 200}, "missing the key 'body'"),
        ({"statusCode": 500, "body": {"s3_bucket": "b", "s3_key": "k"}}, "did not succeed"),
        ({"body": "{not json"}, "not JSON"),
        ({"body": [1, 2]}, "must be a JSON object"),
        ({"body": {"s3_key": "k"}}, "missing the key 's3_bucket'"),
    ],
)
def test_bad_body_is_rejected_with_what_is_wrong(event: object, message: str) -> None:
    with pytest.raises(InvalidEventError, match=message):
        parse_body(event)


def test_claim_check_reference_is_parsed_with_its_etag() -> None:
    location, etag = parse_image_ref({"image_ref": {"s3_bucket": "b", "s3_key": "k", "etag": '"abc"'}})
    assert (location.uri, etag) == ("s3://b/k", '"abc"')


def test_claim_check_reference_must_name_the_object() -> None:
    with pytest.raises(InvalidEventError, match="'image_ref' is missing the key 's3_key'"):
        parse_image_ref({"image_ref": {"s3_bucket": "b"}})


def test_response_has_the_original_projects_shape() -> None:
    assert response({"a": 1}) == {"statusCode": 200, "body": {"a": 1}}
