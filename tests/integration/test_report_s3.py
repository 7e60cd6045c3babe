"""Reading data capture from S3 (moto): listing through SageMaker's layout, streaming, time pruning."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from imageflow.cli import main
from imageflow.report.aggregate import read_captures, summarise
from imageflow.report.sources import SourceError, list_capture_files

BUCKET = "captures"
PREFIX = "datacapture"
START = datetime(2026, 11, 20, 13, 0, tzinfo=UTC)


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        client = boto3.client("s3")
        client.create_bucket(Bucket=BUCKET)
        yield client


def _record(moment: datetime, values: list[float]) -> str:
    output = base64.b64encode(",".join(map(str, values)).encode()).decode()
    return json.dumps(
        {
            "captureData": {
                "endpointInput": {"observedContentType": "image/png", "data": "A" * 60_000, "encoding": "BASE64"},
                "endpointOutput": {"observedContentType": "text/csv", "data": output, "encoding": "BASE64"},
            },
            "eventMetadata": {"eventId": "e", "inferenceId": "i", "inferenceTime": moment.isoformat()},
            "eventVersion": "0",
        }
    )


def _upload(client: Any) -> list[float]:
    """Three hours for two variants (one line per record, ~60 KiB each); returns confidences."""
    confidences = []
    for variant, shift in (("AllTraffic", 0.0), ("Canary", 0.1)):
        for hour in range(3):
            moment = START + timedelta(hours=hour, minutes=5)
            lines = []
            for i in range(20):
                first = round(0.05 * i * (1 - shift), 4)
                lines.append(_record(moment + timedelta(seconds=i), [first, round(1 - first, 4)]))
                confidences.append(max(first, round(1 - first, 4)))
            key = f"{PREFIX}/imageflow-endpoint/{variant}/{moment:%Y/%m/%d/%H}/05-00-000-{variant}.jsonl"
            client.put_object(Bucket=BUCKET, Key=key, Body=("\n".join(lines) + "\n").encode())
    client.put_object(Bucket=BUCKET, Key=f"{PREFIX}/README.txt", Body=b"not a capture")
    return confidences


def test_reads_every_variant_under_the_prefix(s3: Any) -> None:
    confidences = _upload(s3)
    stats = read_captures(f"s3://{BUCKET}/{PREFIX}", ("bicycle", "motorcycle"))
    binned = summarise(stats, 3600, 0.73)
    assert stats.files == 6 and stats.skipped.total() == 0
    assert binned.total == len(confidences) == 120
    assert binned.mean_overall == pytest.approx(sum(confidences) / len(confidences))
    assert binned.under_total == sum(c < 0.73 for c in confidences)
    assert dict(stats.origins) == {"imageflow-endpoint/AllTraffic": 3, "imageflow-endpoint/Canary": 3}


def test_time_window_skips_objects_by_their_hour_folder(s3: Any) -> None:
    _upload(s3)
    until = (START + timedelta(hours=1)).timestamp()
    files = list_capture_files(f"s3://{BUCKET}/{PREFIX}/imageflow-endpoint/AllTraffic", None, until)
    # 14:00 is kept (records may straddle the hour), 15:00 is never listed.
    assert [f.hour for f in files] == [START.timestamp(), START.timestamp() + 3600]
    assert len(list_capture_files(f"s3://{BUCKET}/{PREFIX}", None, (START + timedelta(hours=3)).timestamp())) == 6


def test_missing_bucket_is_a_source_error(s3: Any) -> None:
    with pytest.raises(SourceError, match="cannot list s3://no-such-bucket"):
        list_capture_files("s3://no-such-bucket/x")


def test_cli_reports_from_s3(s3: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    confidences = _upload(s3)
    out = tmp_path / "out"
    assert main(["report", f"s3://{BUCKET}/{PREFIX}/", "--out", str(out)]) == 0
    summary = json.loads((out / "report.json").read_text())["summary"]
    assert summary["inferences"] == len(confidences)
    assert summary["sources"] == [f"s3://{BUCKET}/{PREFIX}/"]
    assert capsys.readouterr().out.startswith("120 inferences 2026-11-20 13:05\u201315:05 UTC")
