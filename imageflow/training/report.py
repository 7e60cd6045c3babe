"""Console summaries of a training run and an evaluation (rich tables)."""

from __future__ import annotations

from typing import Any


def _f(value: object) -> str:
    return "-" if value is None else f"{float(value):.3f}"  # type: ignore[arg-type]


def print_training_summary(metadata: dict[str, Any], console: Any) -> None:
    from rich.table import Table

    data = metadata["data"]
    counts = data["counts"]
    console.print(
        f"trained [bold]{metadata['version']}[/bold] on {sum(counts['train'].values())} images "
        f"({data['validation']}: {sum(counts['validation'].values())}), "
        f"{data['negatives']['train']} open-set negatives; seed {metadata['seed']}"
    )
    validation = metadata["metrics"]["validation"]
    table = Table(title="validation split")
    for column in ("", "accuracy", "pass@threshold", "accuracy among passed", "ECE"):
        table.add_column(column)
    for name, key in (("before calibration", "before_calibration"), ("after calibration", "after_calibration")):
        row = validation[key]
        table.add_row(name, *(_f(row[k]) for k in ("accuracy", "pass_share", "accuracy_among_passed", "ece")))
    console.print(table)
    open_set = metadata["metrics"]["open_set_negatives_validation"]
    if open_set["images"]:
        console.print(
            f"open-set negatives held out: {open_set['images']} images, {_f(open_set['pass_share'])} pass the threshold"
        )
    timings = metadata.get("timings_seconds", {})
    console.print("time: " + ", ".join(f"{k} {v:.1f}s" for k, v in timings.items()))


def print_evaluation_summary(report: dict[str, Any], console: Any) -> None:
    from rich.table import Table

    table = Table(title=f"evaluation on {report['data']['images']} images ({report['data']['source']})")
    for column in ("version", "accuracy", f"pass@{report['threshold']}", "accuracy among passed", "ECE"):
        table.add_column(column)
    for entry in report["versions"]:
        s = entry["scores"]
        table.add_row(entry["name"], *(_f(s[k]) for k in ("accuracy", "pass_share", "accuracy_among_passed", "ece")))
    console.print(table)
    console.print(f"report: {report['paths']['html']}  (figures: {report['paths']['json']})")
