"""Does the gate's confidence mean what it says, and where should auto-accept start?

Samples are corrected segments: the confidence the gate gave the draft and the draft's WER
against the correction. Everything here is word-weighted like WER itself: a segment weighs its
reference words (at least one, so that a hallucination over silence, with no reference words,
still counts), so a bin's confidence, its accuracy and its share of the ECE, and the residual
WER and review share of a threshold, are all in words.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
from sklearn.isotonic import IsotonicRegression

from protos import quality_pb2
from services.quality.scoring import SegmentScore

if TYPE_CHECKING:
    from services.quality.calibration_views import CalibrationSource

ALL_LANGUAGES = ""  # the pooled row, as CalibrationReportRequest names all languages
UNKNOWN_LANGUAGE = "und"  # BCP-47 "undetermined", for samples without a language
NO_AUTO_ACCEPT = math.nextafter(1.0, math.inf)  # a threshold no confidence reaches
DEFAULT_TARGET_RESIDUAL_WER = 0.05
DEFAULT_BINS = 10

_Floats = npt.NDArray[np.float64]


@dataclass(frozen=True)
class CalibrationSample:
    confidence: float  # the gate's confidence in the draft, 0..1
    wer: float  # the draft's WER against its correction
    reference_words: int
    language: str = ""

    def __post_init__(self) -> None:
        if not 0.0 <= self.confidence <= 1.0:  # also refuses NaN
            raise ValueError(f"confidence must be in [0, 1], not {self.confidence}")
        if not (math.isfinite(self.wer) and self.wer >= 0.0) or self.reference_words < 0:
            raise ValueError(f"wer and reference_words must be >= 0, not {self.wer}, {self.reference_words}")

    @classmethod
    def from_score(cls, confidence: float, score: SegmentScore) -> CalibrationSample:
        return cls(confidence, score.wer, score.reference_words, score.language)

    @property
    def weight(self) -> int:
        return max(self.reference_words, 1)

    @property
    def accuracy(self) -> float:
        return max(0.0, 1.0 - self.wer)


def _arrays(samples: Sequence[CalibrationSample]) -> tuple[_Floats, _Floats, _Floats, _Floats]:
    """(confidence, accuracy, errors, weight) per sample."""
    confidence = np.array([s.confidence for s in samples], dtype=np.float64)
    accuracy = np.array([s.accuracy for s in samples], dtype=np.float64)
    weight = np.array([s.weight for s in samples], dtype=np.float64)
    errors = np.array([s.wer for s in samples], dtype=np.float64) * weight
    return confidence, accuracy, errors, weight


@dataclass(frozen=True)
class Calibrator:
    """Confidence -> expected accuracy, the isotonic fit's knots; linear between them and
    clipped outside, as sklearn predicts, so applying it needs no sklearn and no pickle."""

    confidences: tuple[float, ...]
    accuracies: tuple[float, ...]

    @classmethod
    def fit(cls, samples: Sequence[CalibrationSample]) -> Calibrator:
        """Isotonic (increasing): a higher confidence must never mean a lower expected accuracy,
        and it assumes no shape beyond that."""
        if not samples:
            raise ValueError("no samples to calibrate on")
        confidence, accuracy, _, weight = _arrays(samples)
        model = IsotonicRegression(increasing=True, out_of_bounds="clip", y_min=0.0, y_max=1.0)
        model.fit(confidence, accuracy, sample_weight=weight)
        return cls(tuple(map(float, model.X_thresholds_)), tuple(map(float, model.y_thresholds_)))

    def apply(self, confidence: float) -> float:
        return float(np.interp(confidence, self.confidences, self.accuracies))

    def apply_many(self, confidences: npt.ArrayLike) -> _Floats:
        return np.interp(np.asarray(confidences, dtype=np.float64), self.confidences, self.accuracies)

    def to_dict(self) -> dict[str, Any]:
        return {"confidences": list(self.confidences), "accuracies": list(self.accuracies)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Calibrator:
        knots = tuple(map(float, data["confidences"])), tuple(map(float, data["accuracies"]))
        if not knots[0] or len(knots[0]) != len(knots[1]):
            raise ValueError("a calibrator needs as many accuracies as confidences, at least one")
        return cls(*knots)


@dataclass(frozen=True)
class Bin:
    confidence_low: float
    confidence_high: float
    count: int  # segments
    words: int  # their weight
    mean_confidence: float
    observed_accuracy: float

    def to_proto(self) -> quality_pb2.ReliabilityBin:
        return quality_pb2.ReliabilityBin(
            confidence_low=self.confidence_low,
            confidence_high=self.confidence_high,
            count=self.count,
            mean_confidence=self.mean_confidence,
            observed_accuracy=self.observed_accuracy,
        )


@dataclass(frozen=True)
class Reliability:
    bins: tuple[Bin, ...]  # the non-empty ones
    ece: float  # expected calibration error: sum over bins of (words_b / words) |acc_b - conf_b|


def reliability(
    samples: Sequence[CalibrationSample], bins: int = DEFAULT_BINS, calibrator: Calibrator | None = None
) -> Reliability:
    """Equal-width bins over [0, 1] (1.0 falls in the last); with a ``calibrator``, of the
    calibrated confidence. On the samples the calibrator was fitted to, its ECE is optimistic."""
    if bins < 1:
        raise ValueError(f"bins must be at least 1, not {bins}")
    if not samples:
        return Reliability((), 0.0)
    confidence, accuracy, _, weight = _arrays(samples)
    if calibrator is not None:
        confidence = calibrator.apply_many(confidence)
    index = np.minimum((confidence * bins).astype(np.int64), bins - 1)
    table: list[Bin] = []
    ece = 0.0
    for b in range(bins):
        inside = index == b
        if not inside.any():
            continue
        w = weight[inside]
        mean_confidence = float(np.average(confidence[inside], weights=w))
        observed = float(np.average(accuracy[inside], weights=w))
        table.append(
            Bin(b / bins, (b + 1) / bins, int(inside.sum()), int(w.sum()), mean_confidence, observed)
        )
        ece += float(w.sum()) / float(weight.sum()) * abs(observed - mean_confidence)
    return Reliability(tuple(table), ece)


@dataclass(frozen=True)
class OperatingPoint:
    threshold: float  # auto-accept when confidence >= threshold
    residual_wer: float  # WER left in what is auto-accepted; 0 when nothing is
    review_share: float  # share of the words sent to people


@dataclass(frozen=True)
class AutoAccept:
    threshold: float  # NO_AUTO_ACCEPT when the target cannot be met
    residual_wer: float
    review_share: float
    target_residual_wer: float
    target_met: bool  # False: no threshold keeps the residual WER at the target, all goes to review
    curve: tuple[OperatingPoint, ...]  # every candidate, highest threshold first


def choose_threshold(
    samples: Sequence[CalibrationSample], target_residual_wer: float = DEFAULT_TARGET_RESIDUAL_WER
) -> AutoAccept:
    """The lowest threshold whose auto-accepted segments keep their WER at or under the target.

    Candidates are the distinct confidences. Each lower one accepts more words, so the lowest
    that meets the target sends the fewest words to review; the residual WER is not monotone in
    the threshold, so every candidate is checked, not a bisection.
    """
    if target_residual_wer < 0.0:
        raise ValueError(f"target_residual_wer must be >= 0, not {target_residual_wer}")
    review_all = OperatingPoint(NO_AUTO_ACCEPT, 0.0, 1.0)
    curve = [review_all]
    if samples:
        confidence, _, errors, weight = _arrays(samples)
        order = np.argsort(-confidence, kind="stable")
        confidence = confidence[order]
        accepted_errors, accepted_words = np.cumsum(errors[order]), np.cumsum(weight[order])
        last_of_value = np.flatnonzero(np.append(confidence[1:] != confidence[:-1], True))
        total = float(accepted_words[-1])
        curve += [
            OperatingPoint(
                float(confidence[i]),
                float(accepted_errors[i] / accepted_words[i]),
                1.0 - float(accepted_words[i]) / total,
            )
            for i in last_of_value
        ]
    feasible = [p for p in curve if p.residual_wer <= target_residual_wer + 1e-12]
    best = min(feasible, key=lambda p: (p.review_share, p.threshold))
    return AutoAccept(
        best.threshold,
        best.residual_wer,
        best.review_share,
        target_residual_wer,
        best is not review_all,
        tuple(curve),
    )


@dataclass(frozen=True)
class LanguageResult:
    language: str  # ALL_LANGUAGES for the pooled row
    samples: int
    words: int
    raw: Reliability
    calibrated: Reliability  # in-sample, see ``reliability``
    calibrator: Calibrator
    auto_accept: AutoAccept

    def to_proto(self) -> quality_pb2.LanguageCalibration:
        """The proto carries the raw confidence's bins and ECE: the confidence the gate routes on."""
        return quality_pb2.LanguageCalibration(
            language=self.language,
            samples=self.samples,
            expected_calibration_error=self.raw.ece,
            bins=[b.to_proto() for b in self.raw.bins],
            auto_accept_threshold=self.auto_accept.threshold,
            residual_wer=self.auto_accept.residual_wer,
            review_share=self.auto_accept.review_share,
        )


def analyse_language(
    language: str,
    samples: Sequence[CalibrationSample],
    target_residual_wer: float = DEFAULT_TARGET_RESIDUAL_WER,
    bins: int = DEFAULT_BINS,
) -> LanguageResult:
    calibrator = Calibrator.fit(samples)
    return LanguageResult(
        language,
        len(samples),
        sum(s.weight for s in samples),
        reliability(samples, bins),
        reliability(samples, bins, calibrator),
        calibrator,
        choose_threshold(samples, target_residual_wer),
    )


def analyse(
    samples: Iterable[CalibrationSample],
    target_residual_wer: float = DEFAULT_TARGET_RESIDUAL_WER,
    bins: int = DEFAULT_BINS,
) -> list[LanguageResult]:
    """All languages pooled first, then one result per language in code order."""
    pooled = list(samples)
    if not pooled:
        return []
    by_language: dict[str, list[CalibrationSample]] = {}
    for sample in pooled:
        by_language.setdefault(sample.language or UNKNOWN_LANGUAGE, []).append(sample)
    groups = [(ALL_LANGUAGES, pooled), *sorted(by_language.items())]
    return [analyse_language(language, group, target_residual_wer, bins) for language, group in groups]


def calibration_report(
    samples: Iterable[CalibrationSample],
    target_residual_wer: float = DEFAULT_TARGET_RESIDUAL_WER,
    bins: int = DEFAULT_BINS,
) -> quality_pb2.CalibrationReport:
    results = analyse(samples, target_residual_wer, bins)
    return quality_pb2.CalibrationReport(languages=[r.to_proto() for r in results])


def plot_calibration(
    source: CalibrationSource,
    path: Path | str,
    target_residual_wer: float = DEFAULT_TARGET_RESIDUAL_WER,
    bins: int = DEFAULT_BINS,
) -> Path:
    """The PNG of ``calibration_views.plot_calibration``; matplotlib loads only when one is drawn."""
    from services.quality.calibration_views import plot_calibration as plot

    return plot(source, path, target_residual_wer, bins)
