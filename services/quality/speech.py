"""What a draft says and where in the audio somebody spoke: the pieces every check reads.

Times are recording time in seconds, as in the contracts; spans are (start_s, end_s) pairs.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from protos import common_pb2, transcripts_pb2

Span = tuple[float, float]


def draft_text(draft: transcripts_pb2.DraftTranscript) -> str:
    """The segment's text, or its words joined when the text field is empty. Word texts from
    Whisper may carry a leading space; either way one space separates them here."""
    segment = draft.segment
    return segment.text.strip() or " ".join(w.text.strip() for w in segment.words).strip()


def merge_spans(spans: Iterable[Span], pad_s: float = 0.0) -> list[Span]:
    """Sorted, non-overlapping spans, each widened by ``pad_s`` on both sides first."""
    merged: list[Span] = []
    for start, end in sorted((s - pad_s, e + pad_s) for s, e in spans if e >= s):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def overlap_s(start_s: float, end_s: float, merged: Sequence[Span]) -> float:
    """Seconds of [start_s, end_s] covered by ``merged`` (spans that do not overlap each other)."""
    return sum(max(0.0, min(end_s, e) - max(start_s, s)) for s, e in merged)


def speech_spans(draft: transcripts_pb2.DraftTranscript, pad_s: float = 0.0) -> list[Span]:
    """Where somebody spoke: the voice activity, and when diarized the speaker turns too; the
    two models miss different things, so text is only suspect where neither heard anyone."""
    spans = [(s.start_s, s.end_s) for s in draft.voice_activity]
    if draft.diarized:
        spans += [(t.start_s, t.end_s) for t in draft.speaker_turns]
    return merge_spans(spans, pad_s)


def speech_in_segment_s(draft: transcripts_pb2.DraftTranscript) -> float:
    """Seconds of speech inside the segment's own time range."""
    segment = draft.segment
    return overlap_s(segment.start_s, segment.end_s, speech_spans(draft))


def quote(text: str, limit: int = 80) -> str:
    """Text for evidence: quoted, and cut short so a verdict stays readable."""
    text = " ".join(text.split())
    return repr(text if len(text) <= limit else text[: limit - 1] + "…")


def quote_words(words: Sequence[common_pb2.Word], limit: int = 5) -> str:
    """The first words with their times, e.g. "'thanks' (12.40-12.80 s), ... and 3 more"."""
    shown = ", ".join(f"{w.text.strip()!r} ({w.start_s:.2f}-{w.end_s:.2f} s)" for w in words[:limit])
    return shown + (f" and {len(words) - limit} more" if len(words) > limit else "")
