"""Parsing SageMaker data-capture lines: every encoding, partial records, malformed lines."""

from __future__ import annotations

import base64
import io
import json
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imageflow.report.captures import ELIDE_OVER, Inference, InputOnly, SkipReason, parse_capture
from imageflow.report.linestream import OVERLONG, iter_line_spans

TIME = "2026-11-20T13:05:27Z"
EPOCH = 1795179927.0
IMAGE = base64.b64encode(bytes(range(256)) * 200).decode()  # 51 KiB: far over ELIDE_OVER


def capture(output: dict | None, *, image: str = IMAGE, time: str = TIME, **extra: object) -> str:
    data: dict = {}
    if image is not None:
        data["endpointInput"] = {
            "observedContentType": "image/png",
            "mode": "INPUT",
            "data": image,
            "encoding": "BASE64",
        }
    if output is not None:
        data["endpointOutput"] = output
    meta = {"eventId": "6c0f2c5e-0000-4000-8000-000000000000", "inferenceTime": time}
    return json.dumps({"captureData": data, "eventMetadata": meta, "eventVersion": "0", **extra})


def json_output(values: object) -> dict:
    return {"observedContentType": "application/json", "mode": "OUTPUT", "data": json.dumps(values), "encoding": "JSON"}


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


VALID_OUTPUTS = {
    "json": json_output([0.2, 0.8]),
    "csv": {"observedContentType": "text/csv", "mode": "OUTPUT", "data": "0.2,0.8\n", "encoding": "CSV"},
    "base64 json": {"observedContentType": "application/json", "data": b64("[0.2, 0.8]"), "encoding": "BASE64"},
    "base64 csv": {"observedContentType": "text/csv", "mode": "OUTPUT", "data": b64("0.2,0.8"), "encoding": "BASE64"},
    "base64 sniffed json": {"observedContentType": "binary/x", "data": b64("[0.2,0.8]"), "encoding": "base64"},
    "base64 sniffed csv": {"data": b64("0.2, 0.8"), "encoding": "BASE64"},
}  # fmt: skip


@pytest.mark.parametrize("output", VALID_OUTPUTS.values(), ids=VALID_OUTPUTS.keys())
def test_every_output_encoding_gives_the_same_inference(output: dict) -> None:
    assert parse_capture(capture(output), 2) == Inference(EPOCH, 1, 0.8)


def test_inference_id_and_extra_fields_are_accepted() -> None:
    line = json.loads(capture(json_output([0.9, 0.1]), customAttributes="x"))
    line["eventMetadata"]["inferenceId"] = "abc-1"
    line["captureData"]["endpointOutput"]["extra"] = {"nested": [1, 2]}
    assert parse_capture(json.dumps(line), 2) == Inference(EPOCH, 0, 0.9)


def test_small_input_and_compact_or_spaced_json_parse_alike() -> None:
    compact = json.dumps(json.loads(capture(json_output([0.9, 0.1]), image="aGk=")), separators=(",", ":"))
    spaced = capture(json_output([0.9, 0.1])).replace('"data": ', '"data" :  ')
    assert parse_capture(compact, 2) == parse_capture(spaced, 2) == Inference(EPOCH, 0, 0.9)


def test_input_only_record_has_no_confidence() -> None:
    assert parse_capture(capture(None), 2) == InputOnly(EPOCH)


def test_output_only_record_is_an_inference() -> None:
    assert parse_capture(capture(json_output([0.3, 0.7]), image=None), 2) == Inference(EPOCH, 1, 0.7)


def test_ties_go_to_the_first_label_like_argmax() -> None:
    assert parse_capture(capture(json_output([0.5, 0.5])), 2) == Inference(EPOCH, 0, 0.5)


def test_fractional_seconds_and_offsets_in_inference_time() -> None:
    assert parse_capture(capture(json_output([1, 0]), time="2026-11-20T14:05:27.250+01:00"), 2).time == EPOCH + 0.25


def test_long_output_data_is_restored_after_the_cut() -> None:
    probabilities = [0.0] * 400 + [0.9]
    text = json.dumps(probabilities)
    assert len(text) > ELIDE_OVER
    assert parse_capture(capture(json_output(probabilities)), 401) == Inference(EPOCH, 400, 0.9)


def test_escaped_quotes_and_data_keys_inside_strings_do_not_confuse_the_cut() -> None:
    tricky = 'he said \\"data\\": \\"' + "x" * 2000 + '\\" and \\\\'
    line = json.dumps(json.loads(capture(json_output([0.1, 0.9]))) | {"note": tricky})
    assert parse_capture(line, 2) == Inference(EPOCH, 1, 0.9)


def test_a_genuine_escaped_nul_is_not_mistaken_for_a_placeholder() -> None:
    line = json.loads(capture(json_output([0.1, 0.9])))
    line["eventMetadata"]["eventId"] = "\x000"  # what a placeholder decodes to
    assert parse_capture(json.dumps(line), 2) == Inference(EPOCH, 1, 0.9)


MALFORMED = {
    "not json": ("garbage", SkipReason.INVALID_JSON),
    "truncated": (capture(json_output([0.2, 0.8]))[:5000], SkipReason.INVALID_JSON),
    "truncated inside output": (capture(json_output([0.2, 0.8]))[:-60], SkipReason.INVALID_JSON),
    "json array": ("[1, 2]", SkipReason.MISSING_FIELD),
    "no captureData": (json.dumps({"eventMetadata": {"inferenceTime": TIME}}), SkipReason.MISSING_FIELD),
    "neither input nor output": (capture(None, image=None), SkipReason.MISSING_FIELD),
    "no inferenceTime": (capture(json_output([0.2, 0.8])).replace("inferenceTime", "when"), SkipReason.MISSING_FIELD),
    "bad inferenceTime": (capture(json_output([0.2, 0.8]), time="yesterday"), SkipReason.BAD_TIME),
    "output without data": (capture({"encoding": "JSON"}), SkipReason.MISSING_FIELD),
    "unknown encoding": (capture({"data": "[0.2, 0.8]", "encoding": "XML"}), SkipReason.UNKNOWN_ENCODING),
    "bad base64": (capture({"data": "!!!not base64", "encoding": "BASE64"}), SkipReason.UNDECODABLE_OUTPUT),
    "non-numeric json": (capture(json_output(["a", "b"])), SkipReason.NON_NUMERIC),
    "booleans": (capture(json_output([True, False])), SkipReason.NON_NUMERIC),
    "non-numeric csv": (capture({"data": "0.2,high", "encoding": "CSV"}), SkipReason.NON_NUMERIC),
    "output not json": (capture({"data": "[0.2,", "encoding": "JSON"}), SkipReason.NON_NUMERIC),
    "object output": (capture(json_output({"p": [0.2, 0.8]})), SkipReason.WRONG_SHAPE),
    "three values": (capture(json_output([0.2, 0.3, 0.5])), SkipReason.WRONG_SHAPE),
    "two csv rows": (capture({"data": "0.2,0.8\n0.1,0.9", "encoding": "CSV"}), SkipReason.WRONG_SHAPE),
    "nan in csv": (capture({"data": "nan,0.8", "encoding": "CSV"}), SkipReason.NON_FINITE),
    "inf in csv": (capture({"data": "0.2,inf", "encoding": "CSV"}), SkipReason.NON_FINITE),
    "above one": (capture(json_output([1.5, 0.2])), SkipReason.OUT_OF_RANGE),
    "negative": (capture(json_output([-0.1, 0.2])), SkipReason.OUT_OF_RANGE),
    "huge integer": (capture({"data": "1" + "0" * 30 + ",0", "encoding": "CSV"}), SkipReason.OUT_OF_RANGE),
    "invalid utf-8": (b'{"captureData": "\xff\xfe"}', SkipReason.INVALID_JSON),
}  # fmt: skip


@pytest.mark.parametrize(("line", "reason"), MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_lines_are_skipped_with_a_reason(line: str | bytes, reason: SkipReason) -> None:
    assert parse_capture(line, 2) is reason


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
def test_any_bytes_never_crash(line: bytes) -> None:
    assert isinstance(parse_capture(line, 2), Inference | InputOnly | SkipReason)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.floats(0, 1), min_size=2, max_size=2),
    st.sampled_from(["json", "csv", "base64 json", "base64 csv"]),
    st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", max_size=2000),
    st.integers(0, 4_000_000_000),
)
def test_valid_records_round_trip(values: list[float], kind: str, image: str, epoch: int) -> None:
    text = json.dumps(values) if "json" in kind else ",".join(repr(v) for v in values)
    encoding = "BASE64" if kind.startswith("base64") else kind.upper()
    data = b64(text) if encoding == "BASE64" else text
    content_type = "application/json" if "json" in kind else "text/csv"
    moment = f"{datetime.fromtimestamp(epoch, UTC):%Y-%m-%dT%H:%M:%SZ}"
    output = {"observedContentType": content_type, "data": data, "encoding": encoding}
    best = max(range(2), key=lambda i: (values[i], -i))
    assert parse_capture(capture(output, image=image, time=moment), 2) == Inference(float(epoch), best, values[best])


def _lines(data: bytes, chunk_size: int, max_line: int = 1 << 20) -> list[bytes | None]:
    return [
        None if start == OVERLONG else bytes(buf[start:end])
        for buf, start, end in iter_line_spans(io.BytesIO(data), chunk_size=chunk_size, max_line=max_line)
    ]


@pytest.mark.parametrize("chunk_size", [1, 3, 7, 64, 1 << 16])
def test_line_splitting_is_independent_of_chunk_size(chunk_size: int) -> None:
    data = b"first\r\n\n  \nsecond line\n" + b"x" * 300 + b"\nlast-without-newline"
    assert _lines(data, chunk_size) == [b"first", b"second line", b"x" * 300, b"last-without-newline"]


def test_overlong_lines_are_reported_once_and_reading_continues() -> None:
    data = b"short\n" + b"y" * 5000 + b"\nafter\n" + b"z" * 5000
    assert _lines(data, chunk_size=64, max_line=1024) == [b"short", None, b"after", None]
