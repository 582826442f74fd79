"""Character offsets in a segment's text <-> its words, times and speakers.

Whisper's words carry their own spacing and punctuation (" Smith,"), and a person's correction
may differ from the words in spacing or case; so each word is found in the text in order, from
where the previous one ended, and an entity takes every word whose characters it touches.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from protos import common_pb2, transcripts_pb2
from services.annotate.entities import PERSONAL, Span


@dataclass(frozen=True)
class WordSpan:
    index: int
    start_char: int
    end_char: int


def locate_words(text: str, words: Sequence[common_pb2.Word]) -> list[WordSpan]:
    """Where each word's text lies in ``text``; a word that cannot be found is left out."""
    found: list[WordSpan] = []
    cursor = 0
    folded = text.casefold()
    for index, word in enumerate(words):
        needle = word.text.strip()
        if not needle:
            continue
        at = text.find(needle, cursor)
        if at < 0:
            at = folded.find(needle.casefold(), cursor)
        if at < 0:
            continue
        found.append(WordSpan(index, at, at + len(needle)))
        cursor = at + len(needle)
    return found


def to_entity(
    span: Span,
    text: str,
    segment: common_pb2.TranscriptSegment,
    located: Sequence[WordSpan],
) -> transcripts_pb2.Entity:
    """The entity with the words it touches, their time span and their most common speaker.

    With no words (a text-only segment) the entity gets the segment's span and speaker."""
    touched = [w for w in located if w.start_char < span.end_char and w.end_char > span.start_char]
    entity = transcripts_pb2.Entity(
        label=span.label,
        text=text[span.start_char : span.end_char],
        start_char=span.start_char,
        end_char=span.end_char,
        confidence=span.confidence,
        source=span.source,
        personal_data=span.label in PERSONAL,
    )
    if touched:
        first, last = segment.words[touched[0].index], segment.words[touched[-1].index]
        entity.start_word, entity.end_word = touched[0].index, touched[-1].index + 1
        entity.start_s, entity.end_s = first.start_s, last.end_s
        speakers = Counter(segment.words[w.index].speaker for w in touched if segment.words[w.index].speaker)
        entity.speaker = speakers.most_common(1)[0][0] if speakers else segment.speaker
    else:
        entity.start_s, entity.end_s, entity.speaker = segment.start_s, segment.end_s, segment.speaker
    return entity


def speaker_texts(
    text: str, segment: common_pb2.TranscriptSegment, located: Sequence[WordSpan]
) -> dict[str, str]:
    """Each speaker's words in the segment, as text, when more than one speaker spoke in it."""
    if len({w.speaker for w in segment.words}) < 2:
        return {}
    by_speaker: dict[str, list[str]] = {}
    for w in located:
        speaker = segment.words[w.index].speaker
        if speaker:
            by_speaker.setdefault(speaker, []).append(text[w.start_char : w.end_char])
    return {s: " ".join(ws) for s, ws in by_speaker.items()} if len(by_speaker) > 1 else {}


def redact(
    segment: common_pb2.TranscriptSegment, entities: Sequence[transcripts_pb2.Entity]
) -> common_pb2.TranscriptSegment:
    """A copy with every personal-data entity replaced by ``[LABEL]`` in the text and its words."""
    personal = [e for e in entities if e.personal_data]
    if not personal:
        return segment
    redacted = common_pb2.TranscriptSegment()
    redacted.CopyFrom(segment)
    text = segment.text
    for entity in sorted(personal, key=lambda e: e.start_char, reverse=True):
        text = text[: entity.start_char] + f"[{entity.label}]" + text[entity.end_char :]
    redacted.text = text
    for entity in personal:
        if entity.end_word > entity.start_word:
            for i in range(entity.start_word, entity.end_word):
                word = redacted.words[i]
                lead = word.text[: len(word.text) - len(word.text.lstrip())]
                word.text = lead + f"[{entity.label}]"
    return redacted
