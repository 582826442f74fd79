"""The drift monitor: one alert per excursion, re-armed below the bound, state through JSON."""

from __future__ import annotations

import json

import pytest

from services.quality.drift import DriftAlert, DriftMonitor, DriftSettings

SETTINGS = DriftSettings(
    baseline_samples=10, min_samples=10, smoothing=0.2, absolute_rise=0.05, relative_rise=0.5
)


def feed(
    monitor: DriftMonitor, errors: int, words: int, times: int, key: tuple[str, str] = ("en", "v1")
) -> list[DriftAlert]:
    alerts = [monitor.observe(*key, errors, words) for _ in range(times)]
    return [alert for alert in alerts if alert is not None]


def test_baseline_is_the_word_weighted_wer_of_the_first_segments() -> None:
    monitor = DriftMonitor(SETTINGS)
    for _ in range(5):  # one error in a one-word segment, then nine right words
        monitor.observe("en", "v1", 1, 1)
        assert monitor.baseline_wer("en", "v1") is None
        monitor.observe("en", "v1", 0, 9)
    assert monitor.baseline_wer("en", "v1") == pytest.approx(5 / 50)  # not the mean WER, 0.5


def test_one_alert_per_excursion_and_it_rearms() -> None:
    monitor = DriftMonitor(SETTINGS)
    assert feed(monitor, 1, 10, 10) == []  # baseline 0.1; bound 0.1 + max(0.05, 0.5 * 0.1)
    first = feed(monitor, 5, 10, 20)  # the average climbs towards 0.5
    assert len(first) == 1
    alert = first[0]
    assert alert.key == ("en", "v1")
    assert alert.baseline_wer == pytest.approx(0.1)
    assert alert.bound_wer == pytest.approx(0.15)
    assert alert.current_wer > 0.15
    assert alert.samples == 11  # the first bad segment already lifts the average over 0.15
    assert feed(monitor, 0, 10, 30) == []  # back to good: no alert, re-armed
    assert (monitor.current_wer("en", "v1") or 1.0) < 0.15
    second = feed(monitor, 5, 10, 20)
    assert len(second) == 1 and second[0].samples == 62  # from near 0 it takes two bad segments


def test_keys_drift_independently() -> None:
    monitor = DriftMonitor(SETTINGS)
    feed(monitor, 1, 10, 10, ("en", "v1"))
    feed(monitor, 1, 10, 10, ("en", "v2"))
    assert [a.key for a in feed(monitor, 6, 10, 5, ("en", "v2"))] == [("en", "v2")]
    assert feed(monitor, 1, 10, 5, ("en", "v1")) == []


def test_no_alert_before_min_samples() -> None:
    settings = DriftSettings(baseline_wer=0.1, min_samples=5, smoothing=0.5, relative_rise=None)
    monitor = DriftMonitor(settings)
    alerts = [monitor.observe("de", "v1", 10, 10) for _ in range(5)]
    assert alerts[:4] == [None] * 4
    assert alerts[4] is not None and alerts[4].baseline_wer == 0.1


def test_a_baseline_set_for_a_key_wins_over_the_configured_one() -> None:
    monitor = DriftMonitor(DriftSettings(baseline_wer=0.3, min_samples=1, relative_rise=None))
    monitor.set_baseline("fr", "v2", 0.05)
    assert monitor.observe("fr", "v1", 3, 10) is None  # 0.3 is within 0.3 + 0.05
    alert = monitor.observe("fr", "v2", 3, 10)
    assert alert is not None and alert.bound_wer == pytest.approx(0.10)


@pytest.mark.parametrize(
    ("absolute", "relative", "baseline", "bound"),
    [(0.05, None, 0.4, 0.45), (None, 0.5, 0.4, 0.6), (0.05, 0.5, 0.4, 0.6), (0.05, 0.5, 0.02, 0.07)],
)
def test_bound_takes_the_larger_rise(
    absolute: float | None, relative: float | None, baseline: float, bound: float
) -> None:
    assert DriftSettings(absolute_rise=absolute, relative_rise=relative).bound(baseline) == pytest.approx(
        bound
    )


def test_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="smoothing"):
        DriftSettings(smoothing=0.0)
    with pytest.raises(ValueError, match="absolute_rise"):
        DriftSettings(absolute_rise=None, relative_rise=None)
    with pytest.raises(ValueError, match=">= 0"):
        DriftMonitor().observe("en", "v1", -1, 3)


def test_state_round_trips_through_json_mid_excursion() -> None:
    monitor = DriftMonitor(SETTINGS)
    feed(monitor, 1, 10, 10)
    feed(monitor, 1, 10, 3, ("ja", "v1"))  # still learning its baseline
    assert len(feed(monitor, 5, 10, 3)) == 1  # inside an excursion
    stored = json.loads(json.dumps(monitor.to_dict()))
    restored = DriftMonitor.from_dict(stored, SETTINGS)
    assert restored.to_dict() == monitor.to_dict()
    # the restored monitor goes on exactly as the original: no second alert for this excursion
    for errors in [5, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5, 5]:
        assert restored.observe("en", "v1", errors, 10) == monitor.observe("en", "v1", errors, 10)
    assert feed(restored, 1, 10, 7, ("ja", "v1")) == feed(monitor, 1, 10, 7, ("ja", "v1"))
    assert restored.baseline_wer("ja", "v1") == pytest.approx(0.1)
    with pytest.raises(ValueError, match="version"):
        DriftMonitor.from_dict({"version": 99, "keys": []})
