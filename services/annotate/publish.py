"""From a trusted transcript to ``transcripts.annotated.v1`` and ``transcripts.validated.v1``.

A segment is trusted when the quality gate auto-accepted it or a person corrected it (and a
reviewer approved). Its labels are published at once on the annotated topic; the validated
transcript follows when every gate has passed: at once when the labeller is sure, after a
person's label review (``labels.reviewed.v1``) when not. The segment's row holds the validated
transcript built so far, unredacted, in state ``awaiting_label_review`` or ``validated``.

Consumers keep a segment's highest version: a message whose version is not above the one this
service already took is dropped (a redelivery, the second half of a double-blind pair).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from protos import common_pb2, transcripts_pb2
from services.annotate.entities import Span
from services.annotate.labeller import Labeller, Labels
from services.annotate.mapping import locate_words, redact, to_entity
from services.annotate.settings import AnnotateSettings
from services.annotate.store import ReviewedLabels
from shared.db.tables import SegmentRecord
from shared.kafka.consumer import InvalidMessage
from shared.kafka.outbox import Outbound
from shared.records import SegmentState, load_records, save_segment_states
from shared.topics import TRANSCRIPTS_ANNOTATED, TRANSCRIPTS_VALIDATED

AWAITING, VALIDATED = "awaiting_label_review", "validated"


@dataclass(frozen=True)
class Trusted:
    """A segment that passed the quality gate or human correction, with how it got there."""

    message_id: str
    context: common_pb2.RecordingContext
    segment: common_pb2.TranscriptSegment
    draft: common_pb2.TranscriptSegment
    verdict: transcripts_pb2.QaVerdict
    version: int
    history: Sequence[common_pb2.VersionRef] = ()
    corrected_by: str = ""
    reviewed_by: str = ""
    split_of: str = ""
    merged_segment_ids: Sequence[str] = field(default_factory=tuple)

    @classmethod
    def accepted(cls, message_id: str, verdict: transcripts_pb2.QaVerdict) -> Trusted:
        draft = verdict.draft
        ref = common_pb2.VersionRef(version=draft.version, kind="draft", provenance=draft.provenance)
        return cls(message_id, verdict.context, draft.segment, draft.segment, verdict, draft.version, (ref,))

    @classmethod
    def corrected(cls, message_id: str, c: transcripts_pb2.CorrectedTranscript) -> Trusted:
        return cls(
            message_id, c.context, c.segment, c.draft, c.verdict, c.version, tuple(c.history),
            c.corrected_by, c.reviewed_by, c.split_of, tuple(c.merged_segment_ids),
        )  # fmt: skip


def _is_new(known: dict[str, SegmentRecord | None], item: Trusted) -> bool:
    record = known[item.segment.segment_id]
    return record is None or record.version < item.version


def _validated(
    item: Trusted, labels: Labels, provenance: common_pb2.Provenance
) -> transcripts_pb2.ValidatedTranscript:
    validated = transcripts_pb2.ValidatedTranscript(
        context=item.context,
        segment=item.segment,
        entities=labels.entities,
        sentiment=labels.sentiment,
        intent=labels.intent,
        route=item.verdict.route,
        confidence=item.verdict.confidence,
        versions=list(item.history),
        # An auto-accepted segment is its own draft: not sent twice.
        draft=None if item.draft is item.segment else item.draft,
        provenance=provenance,
        speaker_sentiment=labels.speaker_sentiment,
        pipeline=labels.pipeline,
        trained_pipeline=labels.trained_pipeline,
        risk_tier=item.verdict.risk_tier,
        quality_reasons=item.verdict.reasons,
        policy_version=item.verdict.policy_version,
        corrected_by=item.corrected_by,
        reviewed_by=item.reviewed_by,
        version=item.version,
        split_of=item.split_of,
        merged_segment_ids=item.merged_segment_ids,
        # The draft's audio: a split or merged correction keeps the audio it was cut from.
        audio=item.verdict.draft.audio,
        audio_start_s=item.verdict.draft.segment.start_s,
        draft_provenance=item.verdict.draft.provenance,
        decode_profile=item.verdict.draft.decode_profile,
        classifier_version=labels.classifier_version,
    )
    return validated


def _finish_validated(
    validated: transcripts_pb2.ValidatedTranscript, settings: AnnotateSettings, message_id: str
) -> tuple[SegmentState, Outbound]:
    """The validated transcript's row to store (unredacted) and its message to publish, redacted
    when the tenant asks for it."""
    validated.versions.append(
        common_pb2.VersionRef(version=validated.version, kind="validated", provenance=validated.provenance)
    )
    state = SegmentState(
        validated.segment.segment_id,
        validated.context.recording_id,
        VALIDATED,
        validated,
        message_id,
        validated.version,
    )
    published = validated
    if settings.profile(validated.context.tenant_id).redact:
        published = transcripts_pb2.ValidatedTranscript()
        published.CopyFrom(validated)
        published.segment.CopyFrom(redact(validated.segment, validated.entities))
        published.redacted = True
    return state, Outbound(TRANSCRIPTS_VALIDATED.name, published, key=validated.context.recording_id)


def take_trusted(
    session: Session,
    items: Sequence[Trusted],
    labeller: Labeller,
    settings: AnnotateSettings,
    provenance: common_pb2.Provenance,
) -> list[list[Outbound]]:
    """Label a batch of trusted segments; each item's messages, in the items' order."""
    newest: dict[str, int] = {}  # segment -> the item with its highest version in this batch
    for i, item in enumerate(items):
        best = newest.get(item.segment.segment_id)
        if not item.verdict.gold and (best is None or items[best].version < item.version):
            newest[item.segment.segment_id] = i
    known = load_records(session, newest)
    fresh = sorted(i for i in newest.values() if _is_new(known, items[i]))
    labelled = labeller.label([items[i].segment for i in fresh], [items[i].context.tenant_id for i in fresh])
    out: list[list[Outbound]] = [[] for _ in items]
    states = []
    for i, labels in zip(fresh, labelled, strict=True):
        item = items[i]
        annotated = labels.annotated(
            context=item.context, segment=item.segment, version=item.version, provenance=provenance
        )
        out[i].append(Outbound(TRANSCRIPTS_ANNOTATED.name, annotated, key=item.context.recording_id))
        validated = _validated(item, labels, provenance)
        if labels.review_reasons:
            states.append(
                SegmentState(
                    item.segment.segment_id,
                    item.context.recording_id,
                    AWAITING,
                    validated,
                    item.message_id,
                    item.version,
                )
            )
        else:
            state, message = _finish_validated(validated, settings, item.message_id)
            states.append(state)
            out[i].append(message)
    save_segment_states(session, states, known)
    return out


def _reviewed_entities(
    review: transcripts_pb2.LabelReview, segment: common_pb2.TranscriptSegment
) -> list[transcripts_pb2.Entity]:
    text, located = segment.text, locate_words(segment.text, segment.words)
    entities = []
    for n, e in enumerate(review.entities):
        if not 0 <= e.start_char < e.end_char <= len(text) or not e.label:
            raise InvalidMessage(
                f"LabelReview.entities[{n}] ({e.start_char}..{e.end_char} {e.label!r}) does not fit the text"
            )
        span = Span(e.start_char, e.end_char, e.label, f"review:{review.reviewed_by}", 1.0)
        entities.append(to_entity(span, text, segment, located))
    return entities


def _chosen(
    scores: Sequence[transcripts_pb2.LabelScore], label: str, field_name: str
) -> list[transcripts_pb2.LabelScore]:
    if not label:
        return list(scores)
    if label not in {s.label for s in scores}:
        raise InvalidMessage(f"LabelReview.{field_name} {label!r} is not one of {[s.label for s in scores]}")
    return [transcripts_pb2.LabelScore(label=label, confidence=1.0)] + [
        transcripts_pb2.LabelScore(label=s.label, confidence=0.0) for s in scores if s.label != label
    ]


def take_review(
    session: Session, message_id: str, review: transcripts_pb2.LabelReview, settings: AnnotateSettings
) -> list[Outbound]:
    """A person's labels replace the model's; the validated transcript is published and the
    reviewed labels are kept as training data."""
    record = session.get(SegmentRecord, review.segment_id)
    if record is not None and (record.version > review.version or record.state == VALIDATED):
        return []  # a newer transcript came meanwhile, or this review was already applied
    if record is None or record.version != review.version:
        raise InvalidMessage(
            f"no labels of segment {review.segment_id!r} version {review.version} await review here"
        )
    validated = transcripts_pb2.ValidatedTranscript()
    validated.ParseFromString(record.payload)
    model_sentiment = validated.sentiment[0].label if validated.sentiment else ""
    model_intent = validated.intent[0].label if validated.intent else ""
    entities = _reviewed_entities(review, validated.segment)
    sentiment = _chosen(validated.sentiment, review.sentiment, "sentiment")
    intent = _chosen(validated.intent, review.intent, "intent")
    del validated.entities[:], validated.sentiment[:], validated.intent[:]
    validated.entities.extend(entities)
    validated.sentiment.extend(sentiment)
    validated.intent.extend(intent)
    validated.labels_reviewed = True
    validated.labels_reviewed_by = review.reviewed_by
    session.add(
        ReviewedLabels(
            segment_id=review.segment_id,
            version=review.version,
            recording_id=validated.context.recording_id,
            tenant_id=validated.context.tenant_id,
            language=validated.segment.language,
            text=validated.segment.text,
            sentiment=sentiment[0].label if sentiment else "",
            intent=intent[0].label if intent else "",
            model_sentiment=model_sentiment,
            model_intent=model_intent,
            entities=[[e.start_char, e.end_char, e.label] for e in entities],
            reviewed_by=review.reviewed_by,
            task_id=review.task_id,
            at=time.time(),
        )
    )
    state, message = _finish_validated(validated, settings, message_id)
    save_segment_states(session, [state], {review.segment_id: record})
    return [message]
