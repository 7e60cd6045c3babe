"""`imageflow report` end to end: capture files in, HTML/PNG/CSV/JSON out, HTML rendered by Chromium."""

from __future__ import annotations

import csv
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from imageflow.cli import main
from tests.helpers import chromium, chromium_verdict

START = datetime(2026, 11, 20, 13, 0, tzinfo=UTC)
CONFIDENCES = [0.95, 0.6, 0.8, 0.7, 0.99, 0.52]  # winners alternate bicycle / motorcycle


def _write_captures(root: Path) -> None:
    """Six inferences at 13:00..18:00, one per hour folder, plus an input-only record and junk."""
    for hour, confidence in enumerate(CONFIDENCES):
        moment = START + timedelta(hours=hour, minutes=10)
        values = [confidence, round(1 - confidence, 6)] if hour % 2 == 0 else [round(1 - confidence, 6), confidence]
        image = "iVBORw0KGgo=" * 4000
        record = {
            "captureData": {
                "endpointInput": {"observedContentType": "image/png", "data": image, "encoding": "BASE64"},
                "endpointOutput": {"observedContentType": "application/json", "data": str(values), "encoding": "JSON"},
            },
            "eventMetadata": {"eventId": f"id-{hour}", "inferenceTime": moment.strftime("%Y-%m-%dT%H:%M:%SZ")},
            "eventVersion": "0",
        }  # fmt: skip
        folder = root / "imageflow-endpoint" / "AllTraffic" / f"{moment:%Y/%m/%d/%H}"
        folder.mkdir(parents=True)
        lines = [json.dumps(record)]
        if hour == 0:
            del record["captureData"]["endpointOutput"]
            lines += [json.dumps(record), "{truncated", '{"captureData": {}}']
        (folder / "a.jsonl").write_text("\n".join(lines) + "\n")


@pytest.fixture
def report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[Path, str]:
    captures = tmp_path / "capture"
    _write_captures(captures)
    out = tmp_path / "out"
    label_map = tmp_path / "bicycle_motorcycle.json"
    label_map.write_text(json.dumps({"labels": ["bicycle", "motorcycle"]}))
    assert main(["report", str(captures), "--out", str(out), "--bin", "1h", "--labels", str(label_map)]) == 0
    return out, capsys.readouterr().out


def test_report_writes_every_output_with_the_right_numbers(report: tuple[Path, str]) -> None:
    out, printed = report
    assert sorted(p.name for p in out.iterdir()) == [
        "bins.csv", "confidence.png", "labels.csv", "labels.png", "report.html", "report.json", "under_threshold.png",
    ]  # fmt: skip
    for png in ("confidence.png", "under_threshold.png", "labels.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    summary = json.loads((out / "report.json").read_text())["summary"]
    under = [c for c in CONFIDENCES if c < 0.73]
    assert summary["inferences"] == 6
    assert summary["mean_confidence"] == pytest.approx(sum(CONFIDENCES) / 6, abs=1e-6)
    assert summary["under_threshold"] == len(under) == 3
    assert summary["files"] == 6 and summary["lines"] == 9 and summary["input_only_records"] == 1
    assert summary["skipped_by_reason"] == {"invalid JSON": 1, "missing or mistyped field": 1}

    rows = list(csv.DictReader((out / "bins.csv").open()))
    assert [float(r["mean_confidence"]) for r in rows] == CONFIDENCES
    assert [float(r["under_threshold_share"]) for r in rows] == [float(c < 0.73) for c in CONFIDENCES]
    assert [r["bin_start"] for r in rows][:2] == ["2026-11-20T13:00:00Z", "2026-11-20T14:00:00Z"]
    labels = {r["label"]: int(r["inferences"]) for r in csv.DictReader((out / "labels.csv").open())}
    assert labels == {"bicycle": 3, "motorcycle": 3}

    assert printed.strip() == (
        "6 inferences 2026-11-20 13:10\u201318:10 UTC, mean confidence 0.76, 50.0% under 0.73 threshold "
        f"(1h bins); 6 files, 2 lines skipped \u2192 {out / 'report.html'}"
    )


def test_html_is_self_contained(report: tuple[Path, str]) -> None:
    page = (report[0] / "report.html").read_text()
    assert len(re.findall(r'<img src="data:image/png;base64,', page)) == 3
    assert not re.search(r"""(src|href)=["']?(https?:|//)""", page), "the report must not reference the network"
    assert "<script" not in page


def test_window_options_and_default_bin(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _write_captures(tmp_path / "capture")
    args = ["report", str(tmp_path / "capture"), "--out", str(tmp_path / "o"), "--since", "2026-11-20T15:00"]
    assert main([*args, "--until", "2026-11-20T17:00Z", "--threshold", "0.9"]) == 0
    summary = json.loads((tmp_path / "o" / "report.json").read_text())["summary"]
    assert summary["inferences"] == 2 and summary["under_threshold"] == 2  # 0.8 and 0.7 at 15:10, 16:10
    assert summary["bin"] == "5min"  # one hour of data: 12 bins
    assert summary["window"] == {"since": "2026-11-20T15:00:00Z", "until": "2026-11-20T17:00:00Z"}
    assert "2 inferences" in capsys.readouterr().out


def test_bad_input_gives_a_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", str(tmp_path / "missing"), "--out", str(tmp_path / "o")]) == 2
    assert capsys.readouterr().err.strip() == f"imageflow report: error: no such file or folder: {tmp_path / 'missing'}"
    (tmp_path / "empty").mkdir()
    assert main(["report", str(tmp_path / "empty"), "--out", str(tmp_path / "o")]) == 2
    assert "no capture files" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["report", str(tmp_path), "--out", str(tmp_path / "o"), "--bin", "fortnight"])
    assert "bad bin width 'fortnight'" in capsys.readouterr().err


# Injected by the test only, so the shipped report stays script-free.
_VERDICT_SCRIPT = """<script>
window.addEventListener("load", () => {
  const images = [...document.images];
  const verdict = document.createElement("pre");
  verdict.id = "verdict";
  verdict.textContent = JSON.stringify({
    images: images.length,
    widths: images.map((img) => (img.complete ? img.naturalWidth : 0)),
    summaryRows: document.querySelectorAll("#summary tbody tr").length,
    binRows: document.querySelectorAll("#bins tbody tr").length,
    labelCells: [...document.querySelectorAll("#labels tbody td:first-child")].map((td) => td.textContent),
  });
  document.body.appendChild(verdict);
});
</script>"""


@pytest.mark.slow
@pytest.mark.skipif(chromium() is None, reason="needs Chromium (Debian package 'chromium') or $CHROMIUM")
def test_html_renders_its_plots_and_tables_in_headless_chromium(report: tuple[Path, str], tmp_path: Path) -> None:
    out, _ = report
    verdict = chromium_verdict(out / "report.html", _VERDICT_SCRIPT, tmp_path)
    assert verdict["images"] == 3
    assert all(width > 0 for width in verdict["widths"]), verdict
    assert verdict["summaryRows"] >= 10
    assert verdict["binRows"] == 6
    assert verdict["labelCells"] == ["bicycle", "motorcycle"]
