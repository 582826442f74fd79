"""The demo's summary: WER of the draft and of the validated text against the reference, the
share sent to people, and timings from the first chunk sent, per recording and pooled."""

from __future__ import annotations

import numpy as np
from rich.console import Console

from protos import common_pb2, transcripts_pb2
from shared.stack.demo import DemoRun
from shared.stack.demo_report import summarise, summary_table
from shared.stack.probe import Received
from shared.stack.recordings import DemoRecording
from shared.topics import TRANSCRIPTS_DRAFT, TRANSCRIPTS_VALIDATED


def recording(name: str, reference: str) -> DemoRecording:
    context = common_pb2.RecordingContext(recording_id=name)
    return DemoRecording(name, "en", np.zeros(16_000 * 4, np.float32), [(0.0, 4.0, reference)], context)


def received(topic: str, message: object, at: float) -> Received:
    return Received(topic, 0, 0, "m", "t", message, at)  # type: ignore[arg-type]


def draft(stream: str, text: str, version: int = 1) -> transcripts_pb2.DraftTranscript:
    d = transcripts_pb2.DraftTranscript(version=version)
    d.segment.segment_id, d.segment.text = f"{stream}:0", text
    return d


def validated(stream: str, text: str, route: int) -> transcripts_pb2.ValidatedTranscript:
    v = transcripts_pb2.ValidatedTranscript(route=route, version=2)  # type: ignore[arg-type]
    v.segment.segment_id, v.segment.text = f"{stream}:0", text
    return v


def test_the_summary_scores_drafts_and_corrections_against_the_reference() -> None:
    a, b = recording("a", "one two three four"), recording("b", "five six")
    run = DemoRun(
        [a, b],
        {"a": 100.0, "b": 100.0},
        [
            received(TRANSCRIPTS_DRAFT.name, draft("a", "one two tree"), 103.0),
            # a re-decode: version 2 wins
            received(TRANSCRIPTS_DRAFT.name, draft("a", "one two three", version=2), 104.0),
            received(
                TRANSCRIPTS_VALIDATED.name,
                validated("a", "one two three four", transcripts_pb2.ROUTE_HUMAN_REVIEW),
                110.0,
            ),
            received(TRANSCRIPTS_DRAFT.name, draft("b", "five six"), 102.0),
            received(
                TRANSCRIPTS_VALIDATED.name,
                validated("b", "five six", transcripts_pb2.ROUTE_AUTO_ACCEPT),
                105.0,
            ),
        ],
    )
    first, second = summarise(run)
    assert (first.draft_errors, first.validated_errors, first.reference_words) == (1, 0, 4)
    assert first.to_people == 1 and first.review_share == 1.0
    assert first.first_draft_s == 3.0 and first.all_validated_s == 10.0
    assert second.draft_wer == 0.0 and second.to_people == 0
    console = Console(width=200, record=True)
    console.print(summary_table([first, second]))
    text = console.export_text()
    assert "16.7%" in text and "1 (50%)" in text  # pooled: 1 error in 6 words; 1 of 2 segments to people
