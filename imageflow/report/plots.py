"""PNG plots of the binned figures.

Built on ``matplotlib.figure.Figure`` with the Agg canvas rather than pyplot, so plotting needs
no display, leaves no global figure state behind, and works the same in tests and servers.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter

from imageflow.report.aggregate import BinnedSummary
from imageflow.report.timebins import format_bin

CONFIDENCE_PNG = "confidence.png"
UNDER_THRESHOLD_PNG = "under_threshold.png"
LABELS_PNG = "labels.png"

_SIZE = (10, 4.2)
_DPI = 110
_LINE = "#1f6fb2"
_THRESHOLD = "#c0392b"
_MARK = "#2e7d32"
Mark = tuple[float, str]  # (epoch seconds, label): an event on the time axis, such as a retraining


def _draw_marks(axes: object, marks: tuple[Mark, ...] | list[Mark]) -> None:
    for epoch, label in marks:
        axes.axvline(np.datetime64(int(epoch), "s"), color=_MARK, linestyle="-.", linewidth=1.5, label=label)  # type: ignore[attr-defined]


def _bin_times(binned: BinnedSummary, offset: float = 0.0) -> np.ndarray:
    return (binned.bin_starts + offset).astype("datetime64[s]")


def _time_axis(figure: Figure, binned: BinnedSummary) -> Figure:
    axes = figure.axes[0]
    locator = AutoDateLocator()
    axes.xaxis.set_major_locator(locator)
    axes.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    axes.set_xlabel(f"time (UTC), {format_bin(binned.bin_seconds)} bins")
    axes.grid(alpha=0.3)
    return figure


def _save(figure: Figure, path: Path) -> Path:
    FigureCanvasAgg(figure)
    figure.savefig(path, format="png", dpi=_DPI)
    return path


def _no_data(axes: object, message: str = "no inferences in this window") -> None:
    axes.text(0.5, 0.5, message, ha="center", va="center", transform=axes.transAxes, color="gray")  # type: ignore[attr-defined]


def plot_confidence(binned: BinnedSummary, path: Path, marks: tuple[Mark, ...] | list[Mark] = ()) -> Path:
    """Mean confidence per bin (with the 10th-90th percentile band) against the threshold."""
    figure = Figure(figsize=_SIZE, layout="constrained")
    axes = figure.add_subplot()
    centres = _bin_times(binned, binned.bin_seconds / 2)
    if binned.total:
        axes.fill_between(
            centres, binned.p10_confidence, binned.p90_confidence, color=_LINE, alpha=0.15,
            linewidth=0, label="10th to 90th percentile",
        )  # fmt: skip
        # Markers keep isolated bins visible: empty bins (NaN) break the line.
        axes.plot(centres, binned.mean_confidence, color=_LINE, marker="o", markersize=3, label="mean confidence")
        _draw_marks(axes, marks)
        _time_axis(figure, binned)
    else:
        _no_data(axes)
    axes.axhline(binned.threshold, color=_THRESHOLD, linestyle="--", label=f"threshold {binned.threshold:g}")
    axes.set_ylim(0, 1.02)
    axes.set_ylabel("confidence (max class probability)")
    axes.set_title("Mean confidence per time bin")
    axes.legend(loc="best")  # a fixed corner can hide the only bin of a short run
    return _save(figure, path)


def plot_under_threshold(binned: BinnedSummary, path: Path, marks: tuple[Mark, ...] | list[Mark] = ()) -> Path:
    """Share of inferences below the threshold per bin."""
    figure = Figure(figsize=_SIZE, layout="constrained")
    axes = figure.add_subplot()
    if binned.total:
        width_days = binned.bin_seconds / 86400 * 0.9  # matplotlib date units are days
        # Empty bins stay NaN and draw no bar, so "no traffic" does not read as "0% under".
        axes.bar(
            _bin_times(binned, binned.bin_seconds / 2),
            binned.under_share,
            width=width_days,
            color=_THRESHOLD,
            alpha=0.8,
        )
        _draw_marks(axes, marks)
        _time_axis(figure, binned)
        overall = binned.under_total / binned.total
        axes.axhline(overall, color="black", linestyle=":", label=f"overall {overall:.1%}")
        axes.legend(loc="upper left")
    else:
        _no_data(axes)
    axes.set_ylim(0, 1.02)
    axes.yaxis.set_major_formatter(PercentFormatter(1.0))
    axes.set_ylabel(f"share under {binned.threshold:g}")
    axes.set_title(f"Inferences under the {binned.threshold:g} confidence threshold")
    return _save(figure, path)


def plot_labels(binned: BinnedSummary, path: Path) -> Path:
    """Count of inferences per predicted (winning) label."""
    figure = Figure(figsize=(max(6.0, 1.2 * len(binned.labels) + 3), 4.2), layout="constrained")
    axes = figure.add_subplot()
    positions = np.arange(len(binned.labels))
    bars = axes.bar(positions, binned.label_counts, color=_LINE)
    axes.bar_label(bars, labels=[f"{int(c):,}" for c in binned.label_counts], padding=2)
    axes.set_xticks(positions, binned.labels, rotation=30 if len(binned.labels) > 6 else 0)
    axes.set_ylabel("inferences")
    axes.set_title("Inferences per predicted label")
    axes.margins(y=0.12)
    if not binned.total:
        _no_data(axes)
    return _save(figure, path)


def write_plots(out: Path, binned: BinnedSummary, marks: tuple[Mark, ...] | list[Mark] = ()) -> list[Path]:
    """Write the three PNGs into ``out`` (``marks`` drawn on the time axes); return their paths in display order."""
    return [
        plot_confidence(binned, out / CONFIDENCE_PNG, marks),
        plot_under_threshold(binned, out / UNDER_THRESHOLD_PNG, marks),
        plot_labels(binned, out / LABELS_PNG),
    ]
