"""A calibration analysis as a PNG and as a terminal table, apart from computing it.

Each view takes samples (analysed here), the analysis itself, or the ``CalibrationReport`` that
the gRPC API returns; the report carries no calibrated confidence and no threshold curve, so
those parts are left out of its views.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from rich.console import Console
from rich.table import Table

from protos import quality_pb2
from services.quality.calibration import (
    ALL_LANGUAGES,
    DEFAULT_BINS,
    DEFAULT_TARGET_RESIDUAL_WER,
    NO_AUTO_ACCEPT,
    Bin,
    CalibrationSample,
    LanguageResult,
    OperatingPoint,
    analyse,
)

CalibrationSource = quality_pb2.CalibrationReport | Sequence[LanguageResult] | Sequence[CalibrationSample]


@dataclass(frozen=True)
class _View:
    label: str
    samples: int
    raw: tuple[Bin, ...]
    raw_ece: float
    calibrated: tuple[Bin, ...] | None
    calibrated_ece: float | None
    curve: tuple[OperatingPoint, ...]  # empty when only the chosen point is known
    chosen: OperatingPoint
    target: float | None


def _label(language: str) -> str:
    return "all languages" if language == ALL_LANGUAGES else language


def _views(source: CalibrationSource, target_residual_wer: float, bins: int) -> list[_View]:
    if isinstance(source, quality_pb2.CalibrationReport):
        return [_from_proto(row) for row in source.languages]
    items = list(source)
    if items and isinstance(items[0], CalibrationSample):
        samples = [s for s in items if isinstance(s, CalibrationSample)]
        results = analyse(samples, target_residual_wer, bins)
    else:
        results = [r for r in items if isinstance(r, LanguageResult)]
    return [_from_result(r) for r in results]


def _from_result(result: LanguageResult) -> _View:
    choice = result.auto_accept
    return _View(
        _label(result.language),
        result.samples,
        result.raw.bins,
        result.raw.ece,
        result.calibrated.bins,
        result.calibrated.ece,
        choice.curve,
        OperatingPoint(choice.threshold, choice.residual_wer, choice.review_share),
        choice.target_residual_wer,
    )


def _from_proto(row: quality_pb2.LanguageCalibration) -> _View:
    raw = tuple(
        Bin(b.confidence_low, b.confidence_high, b.count, 0, b.mean_confidence, b.observed_accuracy)
        for b in row.bins
    )
    chosen = OperatingPoint(row.auto_accept_threshold, row.residual_wer, row.review_share)
    return _View(
        _label(row.language), row.samples, raw, row.expected_calibration_error, None, None, (), chosen, None
    )


def plot_calibration(
    source: CalibrationSource,
    path: Path | str,
    target_residual_wer: float = DEFAULT_TARGET_RESIDUAL_WER,
    bins: int = DEFAULT_BINS,
) -> Path:
    """One row per language: the reliability diagram (observed accuracy against confidence, the
    diagonal being perfect calibration) and residual WER against review share, the chosen
    threshold marked. Agg canvas, no pyplot: no global state, safe in a server thread."""
    views = _views(source, target_residual_wer, bins)
    figure = Figure(figsize=(11.0, 4.2 * max(len(views), 1)), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(max(len(views), 1), 2, squeeze=False)
    if not views:
        axes[0][0].set_title("no calibration samples")
    for view, (left, right) in zip(views, axes, strict=False):
        left.plot([0, 1], [0, 1], linestyle=":", color="grey", label="perfect calibration")
        left.plot(
            [b.mean_confidence for b in view.raw],
            [b.observed_accuracy for b in view.raw],
            "o-",
            label=f"confidence (ECE {view.raw_ece:.3f})",
        )
        if view.calibrated is not None:
            left.plot(
                [b.mean_confidence for b in view.calibrated],
                [b.observed_accuracy for b in view.calibrated],
                "s--",
                label=f"calibrated, in-sample (ECE {view.calibrated_ece or 0.0:.3f})",
            )
        left.set(xlim=(0, 1), ylim=(0, 1.02), xlabel="confidence", ylabel="observed accuracy (1 - WER)")
        left.set_title(f"{view.label}: reliability, {view.samples} segment(s)")
        left.legend(loc="upper left", fontsize="small")

        if view.curve:
            right.plot(
                [p.review_share for p in view.curve],
                [p.residual_wer for p in view.curve],
                "-",
                label="candidate thresholds",
            )
        else:
            right.text(
                0.5,
                0.5,
                "the report carries only the chosen threshold",
                ha="center",
                transform=right.transAxes,
            )
        if view.target is not None:
            right.axhline(view.target, linestyle=":", color="grey", label=f"target {view.target:.3f}")
        met = view.chosen.threshold < NO_AUTO_ACCEPT
        chosen = f"auto-accept >= {view.chosen.threshold:.3f}" if met else "target unreachable: all to review"
        right.plot([view.chosen.review_share], [view.chosen.residual_wer], "r*", markersize=14, label=chosen)
        top = max(1.15 * right.get_ylim()[1], 1.5 * (view.target or 0.0), 0.01)
        right.set(xlim=(-0.02, 1.02), ylim=(0.0, top), xlabel="review share (words)")
        right.set_ylabel("residual WER of auto-accepted")
        right.set_title(f"{view.label}: auto-accept threshold")
        right.legend(loc="best", fontsize="small")
    figure.savefig(path, format="png", dpi=100)
    return Path(path)


def calibration_table(
    source: CalibrationSource,
    target_residual_wer: float = DEFAULT_TARGET_RESIDUAL_WER,
    bins: int = DEFAULT_BINS,
) -> Table:
    table = Table(title="Confidence calibration and auto-accept thresholds")
    for column in ("language", "segments", "ECE", "ECE calibrated", "auto-accept", "residual WER"):
        table.add_column(column, justify="left" if column == "language" else "right")
    table.add_column("review share (words)", justify="right")
    for view in _views(source, target_residual_wer, bins):
        met = view.chosen.threshold < NO_AUTO_ACCEPT
        table.add_row(
            view.label,
            str(view.samples),
            f"{view.raw_ece:.3f}",
            "-" if view.calibrated_ece is None else f"{view.calibrated_ece:.3f}",
            f">= {view.chosen.threshold:.3f}" if met else "none: all to review",
            f"{view.chosen.residual_wer:.3f}",
            f"{view.chosen.review_share:.1%}",
        )
    return table


def print_calibration(
    source: CalibrationSource,
    console: Console | None = None,
    target_residual_wer: float = DEFAULT_TARGET_RESIDUAL_WER,
    bins: int = DEFAULT_BINS,
) -> None:
    (console or Console()).print(calibration_table(source, target_residual_wer, bins))
