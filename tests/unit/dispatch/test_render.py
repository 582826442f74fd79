"""What ``voxloop work show`` draws: uncertain words marked, neighbours dimmed, reasons shown."""

from __future__ import annotations

from rich.console import Console

from protos import common_pb2, dispatch_pb2, events_pb2, transcripts_pb2
from services.dispatch import render


def _segment(start_s: float = 1.0) -> common_pb2.TranscriptSegment:
    return common_pb2.TranscriptSegment(
        segment_id="s",
        start_s=start_s,
        end_s=start_s + 1.0,
        words=[
            common_pb2.Word(text="sure", probability=0.9, speaker="A"),
            common_pb2.Word(text="maybe", probability=0.3, speaker="A"),
            common_pb2.Word(text="reply", probability=0.95, speaker="B"),
        ],
    )


def _shown(task: dispatch_pb2.Task, now: float = 0.0) -> str:
    console = Console(record=True, width=120)
    console.print(render.task_view(task, now=now))
    return console.export_text()


def test_uncertain_words_are_marked_and_turns_split() -> None:
    text = render.words_text(_segment())
    assert text.plain == "A: sure maybe\nB: reply"
    marked = [text.plain[s.start : s.end] for s in text.spans if s.style == render.UNCERTAIN_STYLE]
    assert marked == ["maybe"]
    neighbour = render.words_text(_segment(), dim=True)
    assert not [s for s in neighbour.spans if s.style == render.UNCERTAIN_STYLE]


def test_task_view_shows_neighbours_in_order_reasons_and_lease() -> None:
    task = dispatch_pb2.Task(
        task_id="t",
        kind=events_pb2.TASK_KIND_CORRECT,
        state=events_pb2.TASK_STATE_CLAIMED,
        segment=_segment(5.0),
        context_segments=[
            common_pb2.TranscriptSegment(start_s=8.0, end_s=9.0, text="after it"),
            common_pb2.TranscriptSegment(start_s=2.0, end_s=4.0, text="before it"),
        ],
        review_reasons=["wrong speaker"],
        rejections=2,
    )
    task.lease_expires_at.FromSeconds(100)
    shown = _shown(task, now=40.0)
    assert shown.index("before it") < shown.index("sure maybe") < shown.index("after it")
    assert "sent back (2 times):" in shown and "- wrong speaker" in shown
    assert "uncertain (p < 0.5): maybe 0.30" in shown and "lease: 1 min 0 s left" in shown
    assert "lease expired" in _shown(task, now=200.0)


def test_diff_keeps_its_brackets() -> None:
    diff = render.diff_text("-[is] +[was]\n~[a] 1.60-1.95 -> 1.60-1.98")
    assert diff.plain == "-[is] +[was]\n~[a] 1.60-1.95 -> 1.60-1.98"
    assert [str(s.style) for s in diff.spans] == ["red strike", "green", "yellow"]


def test_label_review_shows_the_model_labels_and_why_it_is_unsure() -> None:
    text = "Anna Berg wants order 4417"
    annotation = transcripts_pb2.AnnotatedTranscript(
        segment=common_pb2.TranscriptSegment(segment_id="s", text=text),
        pipeline="en_core_web_sm",
        trained_pipeline=True,
        review_reasons=["intent: order_status 0.40 vs complaint 0.35"],
    )
    annotation.entities.add(label="PERSON", start_char=0, end_char=9, confidence=0.6, source="model:ner")
    annotation.entities.add(
        label="CARDINAL", start_char=22, end_char=26, confidence=0.9, source="rule:digits"
    )
    annotation.entities.add(
        label="ORG", start_char=5, end_char=15, confidence=0.2, source="model:ner"
    )  # overlaps
    annotation.sentiment.add(label="neutral", confidence=0.55)
    annotation.sentiment.add(label="negative", confidence=0.45)
    annotation.intent.add(label="order_status", confidence=0.4)
    annotation.speaker_sentiment.add(
        speaker="A", sentiment=[transcripts_pb2.LabelScore(label="neutral", confidence=0.6)]
    )
    task = dispatch_pb2.Task(
        task_id="s:label:3",
        kind=events_pb2.TASK_KIND_LABEL_REVIEW,
        segment=annotation.segment,
        annotation=annotation,
    )
    shown = _shown(task)
    assert "label · " in shown and "labels to check (en_core_web_sm)" in shown
    assert "Anna Berg[PERSON] wants order 4417[CARDINAL]" in shown  # the overlapping ORG is listed, not drawn
    assert "0:9:PERSON  'Anna Berg'  0.60 model:ner" in shown and "5:15:ORG  'Berg wants'" in shown
    assert "sentiment: neutral 0.55 · negative 0.45" in shown and "A: neutral 0.60" in shown
    assert "intent: order_status 0.40" in shown
    assert "unsure: intent: order_status 0.40 vs complaint 0.35" in shown
    assert "labels to check" not in _shown(dispatch_pb2.Task(task_id="t", kind=events_pb2.TASK_KIND_CORRECT))
