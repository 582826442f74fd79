"""``voice_activity``: the speech runs ingest finds, over a whole array, with the real Silero model."""

from __future__ import annotations

import numpy as np
import soundfile as sf

from services.ingest.segmenter import Segmenter, SegmenterConfig, voice_activity
from services.quality.speech import merge_spans, overlap_s
from tests.samples import pyannote_sample

RATE = 16_000


def reference_turns() -> list[tuple[float, float]]:
    """The sample's speaker turns (RTTM: start and duration in fields 4 and 5)."""
    lines = pyannote_sample().rttm.read_text().splitlines()
    return merge_spans(
        (float(f[3]), float(f[3]) + float(f[4])) for f in (line.split() for line in lines) if f
    )


def test_speech_spans_cover_most_of_the_speech_and_little_else() -> None:
    audio, _ = sf.read(pyannote_sample().wav, dtype="float32")
    spans = voice_activity(audio)
    turns = reference_turns()
    speech_s = sum(e - s for s, e in turns)
    found_s = sum(e - s for s, e in spans)
    covered_s = sum(overlap_s(s, e, turns) for s, e in spans)
    assert covered_s >= 0.85 * speech_s, (spans, turns)
    assert found_s - covered_s <= 0.1 * found_s, (spans, turns)  # little outside the turns
    assert spans == sorted(spans) and all(0 <= s < e <= len(audio) / RATE for s, e in spans)
    assert all(a[1] < b[0] for a, b in zip(spans, spans[1:], strict=False))  # runs are disjoint


def test_spans_are_what_ingest_puts_on_its_segments() -> None:
    """Cut the sample as ingest does: inside every cut, the runs are the cut's voiced runs (ingest
    drops cuts with too little speech; ``voice_activity`` keeps their runs)."""
    audio, _ = sf.read(pyannote_sample().wav, dtype="float32")
    config = SegmenterConfig(min_silence_s=0.3, min_segment_s=5.0, max_segment_s=12.0)
    segmenter = Segmenter(config)
    cuts = segmenter.feed(audio) + segmenter.finish()
    assert len(cuts) > 1
    spans = voice_activity(audio, config)
    for cut in cuts:
        inside = [
            (max(s, cut.start_s), min(e, cut.end_s)) for s, e in spans if e > cut.start_s and s < cut.end_s
        ]
        assert inside == merge_spans((a / RATE, b / RATE) for a, b in cut.voiced), cut.index


def test_silence_and_quiet_noise_have_no_speech() -> None:
    assert voice_activity(np.zeros(10 * RATE, np.float32)) == []
    noise = np.random.default_rng(0).normal(0, 0.001, 10 * RATE).astype(np.float32)
    assert voice_activity(noise) == []
    assert voice_activity(np.zeros(0, np.float32)) == []
