"""The hallucination benchmark end to end on a few of its cases, through the real Whisper model:
speech keeps its words and is not called a hallucination; silence and noise either stay empty
or are flagged; the report files come out with the metrics in them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from services.asr.eval_sample import SampleReference
from services.quality.detectors import DETECTOR_NAMES
from services.quality.hallucination_bench import ANY_DETECTOR, run_hallucination_benchmark
from services.quality.hallucination_cases import (
    NON_SPEECH,
    Spoken,
    call_speech,
    non_speech,
    speech_with_pauses,
)
from shared.audio import decode_container

pytestmark = pytest.mark.integration

SPEECH_IDS = ("call-18.0-21.7", "pauses-1")
NON_SPEECH_IDS = ("silence-10s", "white-20dB", "pink-12dB")


def test_a_few_cases_through_asr_detectors_and_report(tmp_path: Path) -> None:
    reference = SampleReference.load()
    sample = decode_container(reference.wav.read_bytes(), 60).samples
    spoken = [Spoken(s.start_s, s.end_s, s.text) for s in reference.segments]
    turns = [(float(t.start), float(t.end)) for t in reference.turns.get_timeline()]
    generated = [
        *call_speech(sample, spoken, turns),
        *speech_with_pauses(sample, spoken),
        *non_speech(sample),
    ]
    cases = [c for c in generated if c.case_id in SPEECH_IDS + NON_SPEECH_IDS]
    assert sorted(c.case_id for c in cases) == sorted(SPEECH_IDS + NON_SPEECH_IDS)

    report = run_hallucination_benchmark(tmp_path, cases=cases)

    results = {r.case_id: r for r in report.results}
    for case_id in SPEECH_IDS:
        first = results[case_id].first
        assert first.words > 5 and not first.hallucinated, first
    for case_id in NON_SPEECH_IDS:
        first = results[case_id].first
        assert results[case_id].group == NON_SPEECH
        assert not first.text or first.flagged, first  # empty, or caught
        assert first.hallucinated == bool(first.text)
    scores = report.scores()
    assert [s.name for s in scores] == [*DETECTOR_NAMES, ANY_DETECTOR]
    overall = report.overall()
    assert (
        overall.true_positives + overall.false_positives + overall.false_negatives + overall.true_negatives
        == 5
    )
    assert overall.speech_clean == 2

    written = json.loads((tmp_path / "hallucination_benchmark.json").read_text())
    assert {
        "machine",
        "settings",
        "target",
        "scores_first_pass",
        "scores_after_redecode",
        "redecode",
        "cases",
    } <= set(written)
    assert [c["case_id"] for c in written["cases"]] == [c.case_id for c in cases]
    markdown = (tmp_path / "hallucination_benchmark.md").read_text()
    assert "recall ≥ 0.9 with ≤ 5% of genuine speech flagged" in markdown
    assert (tmp_path / "hallucination_benchmark.png").stat().st_size > 10_000
