"""Calibration with real sklearn and matplotlib, on hand-counted and synthetic samples."""

from __future__ import annotations

import json
import struct
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console
from sklearn.isotonic import IsotonicRegression

from services.quality.calibration import (
    ALL_LANGUAGES,
    NO_AUTO_ACCEPT,
    CalibrationSample,
    Calibrator,
    analyse,
    calibration_report,
    choose_threshold,
    plot_calibration,
    reliability,
)
from services.quality.calibration_views import calibration_table
from services.quality.scoring import score_segment


def synthetic(
    n: int, accuracy_of: Callable[[np.ndarray], np.ndarray], seed: int, language: str = "en"
) -> list[CalibrationSample]:
    """Segments of 5-30 words, each word right with probability ``accuracy_of(confidence)``."""
    rng = np.random.default_rng(seed)
    confidence = rng.uniform(0.0, 1.0, n)
    words = rng.integers(5, 31, n)
    errors = rng.binomial(words, 1.0 - accuracy_of(confidence))
    return [
        CalibrationSample(float(c), float(e / w), int(w), language)
        for c, e, w in zip(confidence, errors, words, strict=True)
    ]


def calibrated(confidence: np.ndarray) -> np.ndarray:
    return confidence


def overconfident(confidence: np.ndarray) -> np.ndarray:
    return confidence**3  # E|c - c^3| over uniform c is 1/4


# --- samples and the calibrator ---


def test_samples_are_checked_and_weigh_their_words() -> None:
    with pytest.raises(ValueError, match="confidence"):
        CalibrationSample(float("nan"), 0.0, 3)
    with pytest.raises(ValueError, match="wer"):
        CalibrationSample(0.5, -0.1, 3)
    silence = CalibrationSample.from_score(0.9, score_segment("thank you", "", "en"))
    assert (silence.weight, silence.wer, silence.accuracy) == (1, 2.0, 0.0)


def test_calibrator_is_sklearns_isotonic_fit_as_plain_numbers() -> None:
    samples = synthetic(500, overconfident, seed=1)
    calibrator = Calibrator.fit(samples)
    restored = Calibrator.from_dict(json.loads(json.dumps(calibrator.to_dict())))
    assert restored == calibrator
    model = IsotonicRegression(increasing=True, out_of_bounds="clip", y_min=0.0, y_max=1.0)
    model.fit(
        [s.confidence for s in samples],
        [s.accuracy for s in samples],
        sample_weight=[s.weight for s in samples],
    )
    probe = np.linspace(-0.5, 1.5, 101)  # outside [0, 1] too: clipped
    np.testing.assert_allclose(restored.apply_many(probe), model.predict(probe))
    assert np.all(np.diff(restored.apply_many(probe)) >= 0)
    assert restored.apply(0.0) == pytest.approx(float(model.predict([0.0])[0]))
    with pytest.raises(ValueError):
        Calibrator.from_dict({"confidences": [0.1, 0.2], "accuracies": [0.5]})
    with pytest.raises(ValueError):
        Calibrator.fit([])


# --- reliability ---


def test_reliability_table_by_hand() -> None:
    samples = [
        CalibrationSample(0.2, 0.5, 2),
        CalibrationSample(0.4, 0.0, 2),
        CalibrationSample(0.9, 0.25, 4),
        CalibrationSample(1.0, 0.0, 0),  # weighs one word; 1.0 falls in the last bin
    ]
    table = reliability(samples, bins=2)
    low, high = table.bins
    assert (low.confidence_low, low.confidence_high, low.count, low.words) == (0.0, 0.5, 2, 4)
    assert (low.mean_confidence, low.observed_accuracy) == pytest.approx((0.3, 0.75))
    assert (high.count, high.words) == (2, 5)
    assert (high.mean_confidence, high.observed_accuracy) == pytest.approx((0.92, 0.8))
    assert table.ece == pytest.approx(4 / 9 * 0.45 + 5 / 9 * 0.12)
    assert [b.confidence_low for b in reliability(samples).bins] == [0.2, 0.4, 0.9]  # empty bins left out


def test_calibrated_confidence_has_near_zero_ece() -> None:
    assert reliability(synthetic(4000, calibrated, seed=2)).ece < 0.03


def test_calibration_reduces_a_large_ece_on_held_out_samples() -> None:
    fit_on, held_out = synthetic(4000, overconfident, seed=3), synthetic(4000, overconfident, seed=4)
    raw = reliability(held_out)
    assert raw.ece > 0.2
    after = reliability(held_out, calibrator=Calibrator.fit(fit_on))
    assert after.ece < 0.04
    result = analyse(fit_on)[0]
    assert result.calibrated.ece < 0.02 < 0.2 < result.raw.ece  # in-sample


# --- auto-accept threshold ---

LADDER = [  # (confidence, WER, words): accepting down to 0.8 leaves 1 error in 30 words
    CalibrationSample(0.95, 0.0, 10),
    CalibrationSample(0.90, 0.1, 10),
    CalibrationSample(0.80, 0.0, 10),
    CalibrationSample(0.70, 0.5, 10),
    CalibrationSample(0.60, 0.0, 10),
]


def test_threshold_by_hand() -> None:
    choice = choose_threshold(LADDER, 0.05)
    assert (choice.threshold, choice.target_met) == (0.80, True)
    assert (choice.residual_wer, choice.review_share) == pytest.approx((1 / 30, 0.4))
    assert [p.threshold for p in choice.curve] == [NO_AUTO_ACCEPT, 0.95, 0.90, 0.80, 0.70, 0.60]
    # residual WER is not monotone: 0.6 accepts everything at 6/50 while 0.7 is at 6/40
    loose = choose_threshold(LADDER, 0.13)
    assert (loose.threshold, loose.review_share, loose.residual_wer) == pytest.approx((0.60, 0.0, 0.12))


def brute_force(samples: Sequence[CalibrationSample], target: float) -> tuple[float, float]:
    """(review share, threshold) of the best threshold, by checking every one the slow way."""
    total = sum(s.weight for s in samples)
    best = (1.0, NO_AUTO_ACCEPT)
    for threshold in sorted({s.confidence for s in samples}):
        accepted = [s for s in samples if s.confidence >= threshold]
        words = sum(s.weight for s in accepted)
        residual = sum(s.wer * s.weight for s in accepted) / words
        share = 1.0 - words / total
        if residual <= target + 1e-12 and (share, threshold) < best:
            best = (share, threshold)
    return best


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("target", [0.0, 0.02, 0.05, 0.1, 0.3])
def test_threshold_meets_the_target_with_the_least_review(seed: int, target: float) -> None:
    rng = np.random.default_rng(seed)
    samples = [  # rounded confidences, so that ties occur; errors loosely follow confidence
        CalibrationSample(
            round(c, 2), float(rng.binomial(w, (1 - c) * 0.4) / w) if w else float(rng.integers(0, 3)), int(w)
        )
        for c, w in zip(rng.uniform(0, 1, 60), rng.integers(0, 20, 60), strict=True)
    ]
    choice = choose_threshold(samples, target)
    assert choice.residual_wer <= target + 1e-12
    assert (choice.review_share, choice.threshold) == pytest.approx(brute_force(samples, target))
    assert choice.target_met == (choice.threshold <= 1.0)


def test_unreachable_target_sends_everything_to_review() -> None:
    samples = [CalibrationSample(c, 0.2, 10) for c in (0.5, 0.9, 0.99)]
    samples.append(CalibrationSample(0.999, 3.0, 0))  # three words hallucinated over silence
    choice = choose_threshold(samples, 0.05)
    assert choice.threshold == NO_AUTO_ACCEPT and choice.threshold > 1.0
    assert (choice.target_met, choice.residual_wer, choice.review_share) == (False, 0.0, 1.0)
    row = calibration_report(samples, 0.05).languages[0]
    assert (row.auto_accept_threshold > 1.0, row.review_share) == (True, 1.0)
    with pytest.raises(ValueError):
        choose_threshold(samples, -0.1)


# --- the report and its views ---


def mixed() -> list[CalibrationSample]:
    return [
        *synthetic(600, calibrated, seed=5, language="en"),
        *synthetic(400, overconfident, seed=6, language="ja"),
        CalibrationSample(0.5, 0.0, 4, ""),
    ]


def test_report_has_all_languages_then_each() -> None:
    samples = mixed()
    report = calibration_report(samples, target_residual_wer=0.05, bins=5)
    assert [row.language for row in report.languages] == [ALL_LANGUAGES, "en", "ja", "und"]
    assert [row.samples for row in report.languages] == [1001, 600, 400, 1]
    ja = report.languages[2]
    assert ja.expected_calibration_error == pytest.approx(reliability(samples[600:1000], 5).ece)
    assert len(ja.bins) == 5 and sum(b.count for b in ja.bins) == 400
    assert ja.residual_wer <= 0.05 and 0.0 < ja.review_share < 1.0
    assert calibration_report([]).languages == []


def assert_png(path: Path) -> None:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])  # the IHDR chunk
    assert width >= 800 and height >= 400
    assert len(data) > 20_000


def test_plot_from_samples_results_and_report(tmp_path: Path) -> None:
    assert_png(plot_calibration(mixed(), tmp_path / "samples.png"))
    one_language = synthetic(300, overconfident, seed=7)
    assert_png(plot_calibration(analyse(one_language), tmp_path / "results.png"))
    assert_png(plot_calibration(calibration_report(one_language), tmp_path / "report.png"))


def test_table_says_when_everything_goes_to_review() -> None:
    unreachable = [CalibrationSample(0.9, 0.5, 10, "de")]
    console = Console(record=True, width=160)
    console.print(calibration_table([*mixed(), *unreachable]))
    text = console.export_text()
    assert "all languages" in text and "none: all to review" in text
    assert ">= " in text and "ja" in text
