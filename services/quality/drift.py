"""Is the ASR getting worse? Draft WER against corrections, per language and model version.

A new model version, a new microphone or a new domain shows first as people correcting more.
The monitor keeps, per (language, model_version), an exponentially weighted WER and compares it
with a baseline; it raises one alert per excursion above the allowed rise and re-arms once the
average is back under it. Its whole state is a JSON-able dict, stored in a database row between
messages, so a restarted replica carries on where the last one stopped.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

STATE_VERSION = 1


@dataclass(frozen=True)
class DriftSettings:
    """How the monitor judges drift; from the service settings, not stored with the state."""

    baseline_samples: int = 50  # segments whose WER becomes the baseline when none is configured
    baseline_wer: float | None = None  # a known baseline (e.g. from the model's evaluation)
    smoothing: float = 0.05  # EWMA weight of the newest segment: about 1/smoothing segments remembered
    min_samples: int = 50  # segments seen before any alert, so the average has settled
    absolute_rise: float | None = 0.05  # alert when WER exceeds the baseline by more than this...
    relative_rise: float | None = 0.5  # ...and by more than this fraction of the baseline

    def __post_init__(self) -> None:
        if not 0.0 < self.smoothing <= 1.0:
            raise ValueError(f"smoothing must be in (0, 1], not {self.smoothing}")
        if self.baseline_wer is None and self.baseline_samples < 1:
            raise ValueError("without baseline_wer, baseline_samples must be at least 1")
        if self.absolute_rise is None and self.relative_rise is None:
            raise ValueError("set absolute_rise, relative_rise or both")

    def bound(self, baseline: float) -> float:
        """The WER above which the average has drifted. With both rises set the larger one
        applies: an absolute rise alone over-alerts on a poor baseline, a relative one on a
        near-perfect baseline."""
        rises = [] if self.absolute_rise is None else [self.absolute_rise]
        if self.relative_rise is not None:
            rises.append(self.relative_rise * baseline)
        return baseline + max(rises)


@dataclass(frozen=True)
class DriftAlert:
    language: str
    model_version: str
    baseline_wer: float
    current_wer: float
    bound_wer: float  # the WER the current average went above
    samples: int  # segments seen for this key, baseline included

    @property
    def key(self) -> tuple[str, str]:
        return self.language, self.model_version


@dataclass
class _KeyState:
    samples: int = 0
    baseline_errors: float = 0.0  # sums over the first baseline_samples segments
    baseline_words: float = 0.0
    baseline_wer: float | None = None  # learned, or set for this key; fixed once known
    ewma_errors: float = 0.0  # both start at 0: the start-up bias cancels in their ratio
    ewma_words: float = 0.0
    alerting: bool = False  # inside an excursion: already alerted, not yet back under

    @property
    def current_wer(self) -> float | None:
        return self.ewma_errors / self.ewma_words if self.ewma_words > 0 else None


class DriftMonitor:
    """Baselines, in order: one set for the key (``set_baseline``), ``settings.baseline_wer``,
    else the word-weighted WER of the key's first ``baseline_samples`` segments. A learned
    baseline is per model version, so it catches data drifting under a model, not a new model
    that is worse from its first segment: give new versions the baseline of the old one."""

    def __init__(self, settings: DriftSettings | None = None) -> None:
        self.settings = settings or DriftSettings()
        self._keys: dict[tuple[str, str], _KeyState] = {}

    def observe(
        self, language: str, model_version: str, errors: int, reference_words: int
    ) -> DriftAlert | None:
        """Take one corrected segment's draft errors; an alert when this one starts an excursion.

        The average is word-weighted (EWMA of errors over EWMA of words), so a one-word segment
        with one error moves it as much as one word, not as much as a WER of 1.
        """
        if errors < 0 or reference_words < 0:
            raise ValueError(f"errors and reference_words must be >= 0, not {errors}, {reference_words}")
        settings = self.settings
        state = self._keys.setdefault((language, model_version), _KeyState())
        state.samples += 1
        keep = 1.0 - settings.smoothing
        state.ewma_errors = keep * state.ewma_errors + settings.smoothing * errors
        state.ewma_words = keep * state.ewma_words + settings.smoothing * reference_words
        if state.baseline_wer is None and settings.baseline_wer is None:
            state.baseline_errors += errors
            state.baseline_words += reference_words
            if state.samples >= settings.baseline_samples:
                state.baseline_wer = state.baseline_errors / max(state.baseline_words, 1.0)
        baseline = state.baseline_wer if state.baseline_wer is not None else settings.baseline_wer
        current = state.current_wer
        if baseline is None or current is None or state.samples < settings.min_samples:
            return None
        bound = settings.bound(baseline)
        if current <= bound:
            state.alerting = False  # back under: the next excursion alerts again
            return None
        if state.alerting:
            return None
        state.alerting = True
        return DriftAlert(language, model_version, baseline, current, bound, state.samples)

    def set_baseline(self, language: str, model_version: str, baseline_wer: float) -> None:
        self._keys.setdefault((language, model_version), _KeyState()).baseline_wer = baseline_wer

    def current_wer(self, language: str, model_version: str) -> float | None:
        state = self._keys.get((language, model_version))
        return None if state is None else state.current_wer

    def baseline_wer(self, language: str, model_version: str) -> float | None:
        state = self._keys.get((language, model_version))
        if state is not None and state.baseline_wer is not None:
            return state.baseline_wer
        return self.settings.baseline_wer

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types only; the keys become fields, as JSON objects key on strings."""
        keys = [
            {"language": language, "model_version": version, **asdict(state)}
            for (language, version), state in sorted(self._keys.items())
        ]
        return {"version": STATE_VERSION, "keys": keys}

    @classmethod
    def from_dict(cls, data: dict[str, Any], settings: DriftSettings | None = None) -> DriftMonitor:
        if data.get("version") != STATE_VERSION:
            raise ValueError(f"drift state version {data.get('version')!r}; this code reads {STATE_VERSION}")
        monitor = cls(settings)
        for entry in data["keys"]:
            values = dict(entry)
            key = (str(values.pop("language")), str(values.pop("model_version")))
            monitor._keys[key] = _KeyState(**values)
        return monitor
