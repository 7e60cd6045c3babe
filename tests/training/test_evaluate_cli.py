"""``imageflow evaluate``: figures, HTML + JSON report with plots, a baseline side by side."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from imageflow.cli import main
from imageflow.registry.store import BUILTIN_DIR, ZERO_SHOT
from tests.helpers import chromium, chromium_verdict


@pytest.fixture(scope="module")
def evaluation(small_version: Path, small_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("evaluation")
    code = main(["evaluate", str(small_version), str(small_data), "--out", str(out), "--baseline",
                 str(BUILTIN_DIR / ZERO_SHOT), "-q"])  # fmt: skip
    assert code == 0
    return out


def test_the_json_report_has_every_figure_for_both_versions(evaluation: Path) -> None:
    report = json.loads((evaluation / "report.json").read_text())
    assert report["data"]["images"] == 48 and report["labels"] == ["bicycle", "motorcycle"]
    trained, zero_shot = report["versions"]
    assert zero_shot["name"] == "zero-shot"
    for entry in (trained, zero_shot):
        assert set(entry["scores"]) >= {"accuracy", "pass_share", "accuracy_among_passed", "ece"}
        assert sum(map(sum, entry["confusion_matrix"])) == 48
        assert set(entry["per_class"]) == {"bicycle", "motorcycle"}
        assert sum(b["count"] for b in entry["reliability"]) == 48
    # the CIFAR-sized images are the trained head's job: zero-shot lets almost none through
    assert trained["scores"]["pass_share"] > zero_shot["scores"]["pass_share"]
    assert all(m["truth"] != m["predicted"] for m in zero_shot["worst_mistakes"])


def test_the_html_is_self_contained(evaluation: Path) -> None:
    page = (evaluation / "report.html").read_text()
    assert "http://" not in page and "https://" not in page
    assert page.count('src="data:image/png;base64,') >= 2
    assert (evaluation / "confusion.png").stat().st_size > 1000 and (evaluation / "reliability.png").is_file()


def test_labels_that_do_not_match_the_model_are_refused(
    small_version: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for label in ("cat", "dog"):
        (tmp_path / "data" / label).mkdir(parents=True)
    code = main(["evaluate", str(small_version), str(tmp_path / "data"), "--out", str(tmp_path / "o"), "-q"])
    assert code == 2
    assert "folder name 'cat' is not a label" in capsys.readouterr().err


_VERDICT_SCRIPT = """<script>
window.addEventListener("load", () => {
  const verdict = document.createElement("pre");
  verdict.id = "verdict";
  verdict.textContent = JSON.stringify({
    widths: [...document.images].map((img) => (img.complete ? img.naturalWidth : 0)),
    summaryRows: document.querySelectorAll("#summary tbody tr").length,
    classRows: document.querySelectorAll("#classes tbody tr").length,
  });
  document.body.appendChild(verdict);
});
</script>"""


@pytest.mark.slow
@pytest.mark.skipif(chromium() is None, reason="needs Chromium (Debian package 'chromium') or $CHROMIUM")
def test_the_html_renders_its_plots_tables_and_thumbnails_in_headless_chromium(
    evaluation: Path, tmp_path: Path
) -> None:
    verdict = chromium_verdict(evaluation / "report.html", _VERDICT_SCRIPT, tmp_path)
    assert verdict["summaryRows"] == 2 and verdict["classRows"] == 4
    assert len(verdict["widths"]) >= 3 and all(width > 0 for width in verdict["widths"]), verdict
