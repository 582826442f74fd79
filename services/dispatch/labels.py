"""Label reviews: a segment whose labels the annotate service was unsure of becomes a label-review
task; the linguist's checked entities, sentiment and intent go out on labels.reviewed.v1.

    transcripts.annotated.v1 (needs_label_review) --> label review (annotator)
        --SubmitLabels--> labels.reviewed.v1 (keyed by recording; annotate consumes it)

One task per segment and annotated version: a redelivered or republished version opens nothing,
and a higher version closes the waiting task of a lower one. Each function returns the messages
to publish through the outbox.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from protos import common_pb2, transcripts_pb2
from services.dispatch import rules
from services.dispatch.rules import DONE, ESCALATED, LABEL_REVIEW, QUEUED, Person
from services.dispatch.store import DispatchAnnotation, DispatchSegment, DispatchTask
from services.dispatch.tasks import (
    SYSTEM,
    QueueConfig,
    Refused,
    change,
    fresh,
    held,
    kind_name,
    open_task,
    placement,
)
from shared.kafka.outbox import Outbound
from shared.topics import LABELS_REVIEWED

# Entity labels as spaCy names them (PERSON, ORG, GPE, ...) and as tenants add their own (ORDER_ID).
ENTITY_LABEL = re.compile(r"^[A-Z][A-Z_]{1,31}$")
WAITING = (QUEUED, ESCALATED)  # nobody holds these: a newer version may close them


def label_task_id(segment_id: str, version: int) -> str:
    return f"{segment_id}:label:{version}"


def accept_annotated(
    session: Session, annotated: transcripts_pb2.AnnotatedTranscript, config: QueueConfig, trace_id: str = ""
) -> list[Outbound]:
    """A label-review task for an annotation that needs one; nothing for a version already
    tasked, or for a version older than one already tasked. Either way a newer version closes
    the waiting label reviews of older ones (its labels are the ones that count)."""
    segment, version = annotated.segment, annotated.version
    task_id = label_task_id(segment.segment_id, version)
    if annotated.needs_label_review and session.get(DispatchTask, task_id) is not None:
        return []  # the same version again (annotate republished it): already tasked
    earlier = session.scalars(
        select(DispatchTask)
        .where(DispatchTask.segment_id == segment.segment_id, DispatchTask.kind == LABEL_REVIEW)
        .with_for_update()
    ).all()
    if any(t.base_version > version for t in earlier):
        return []  # arrived late: a newer version's labels are already tasked
    reason = f"superseded by version {version}"
    out = [
        change(
            session,
            old,
            SYSTEM,
            "superseded",
            reason,
            state=DONE,
            assignee="",
            lease_expires_at=0.0,
            reasons=[reason],
        )
        for old in earlier
        if old.state in WAITING and old.base_version < version
    ]
    if not annotated.needs_label_review:
        return out
    task = fresh(
        **placement(annotated.context, segment, _risk_tier(session, segment.segment_id), config),
        task_id=task_id,
        kind=LABEL_REVIEW,
        tier=rules.TIER_OF_KIND[LABEL_REVIEW],
        base_version=version,
        trace_id=trace_id,
    )
    session.add(
        DispatchAnnotation(
            task_id=task_id,
            segment_id=segment.segment_id,
            version=version,
            annotation=annotated.SerializeToString(),
            created_at=task.created_at,
        )
    )
    why = "; ".join(annotated.review_reasons) or "the model is unsure"
    out.append(open_task(session, task, f"labels to check: {why}"))
    return out


def _risk_tier(session: Session, segment_id: str) -> str:
    """The quality gate's risk tier for the segment (a split part's: its whole's), else medium."""
    known = session.get(DispatchSegment, segment_id)
    if known is None and "/" in segment_id:
        known = session.get(DispatchSegment, segment_id.rsplit("/", 1)[0])
    if known is None:
        return "medium"
    return transcripts_pb2.QaVerdict.FromString(known.verdict).risk_tier or "medium"


def annotation_of(session: Session, task_id: str) -> transcripts_pb2.AnnotatedTranscript | None:
    row = session.get(DispatchAnnotation, task_id)
    return transcripts_pb2.AnnotatedTranscript.FromString(row.annotation) if row is not None else None


def _one_of(field: str, chosen: str, scores: Sequence[transcripts_pb2.LabelScore]) -> None:
    labels = [s.label for s in scores]
    if not labels and chosen:
        raise Refused(
            "INVALID_ARGUMENT", f"{field} {chosen!r} given, but the annotation has no {field} labels"
        )
    if labels and chosen not in labels:
        raise Refused(
            "INVALID_ARGUMENT",
            f"{field} {chosen!r} is not one of the annotation's labels: {', '.join(labels)}",
        )


def validate_labels(
    annotation: transcripts_pb2.AnnotatedTranscript,
    entities: Sequence[transcripts_pb2.Entity],
    sentiment: str,
    intent: str,
) -> None:
    """Sentiment and intent from the annotation's label sets; entities named in capitals, inside
    the segment's text, and never overlapping one another."""
    _one_of("sentiment", sentiment, annotation.sentiment)
    _one_of("intent", intent, annotation.intent)
    length = len(annotation.segment.text)
    for i, e in enumerate(entities):
        if not ENTITY_LABEL.match(e.label):
            raise Refused(
                "INVALID_ARGUMENT",
                f"entities[{i}].label {e.label!r} is not a label: capitals and underscores, 2-32 of them",
            )
        if e.start_char < 0:
            raise Refused("INVALID_ARGUMENT", f"entities[{i}].start_char {e.start_char} is negative")
        if e.end_char <= e.start_char:
            raise Refused(
                "INVALID_ARGUMENT",
                f"entities[{i}].end_char {e.end_char} is not after its start_char {e.start_char}",
            )
        if e.end_char > length:
            raise Refused(
                "INVALID_ARGUMENT",
                f"entities[{i}].end_char {e.end_char} is past the end of the text ({length} characters)",
            )
    ordered = sorted(range(len(entities)), key=lambda i: (entities[i].start_char, entities[i].end_char))
    for before, after in zip(ordered, ordered[1:], strict=False):
        a, b = entities[before], entities[after]
        if b.start_char < a.end_char:
            first, second = sorted((before, after))
            raise Refused(
                "INVALID_ARGUMENT",
                f"entities[{second}] ({entities[second].label} {entities[second].start_char}-"
                f"{entities[second].end_char}) overlaps entities[{first}] ({entities[first].label} "
                f"{entities[first].start_char}-{entities[first].end_char})",
            )


def reviewed_entity(
    given: transcripts_pb2.Entity, annotation: transcripts_pb2.AnnotatedTranscript, subject: str
) -> transcripts_pb2.Entity:
    """The entity as published: a model entity kept as it was keeps its word span, times, speaker
    and personal-data mark (what the reviewer set wins); the text is always the segment's slice."""
    out = transcripts_pb2.Entity()
    for model in annotation.entities:
        if (model.label, model.start_char, model.end_char) == (given.label, given.start_char, given.end_char):
            out.CopyFrom(model)
            break
    out.MergeFrom(given)
    out.text = annotation.segment.text[given.start_char : given.end_char]
    out.source = f"review:{subject}"
    return out


def submit_labels(
    session: Session,
    person: Person,
    task_id: str,
    entities: Sequence[transcripts_pb2.Entity],
    sentiment: str,
    intent: str,
    notes: str,
    provenance: common_pb2.Provenance,
) -> tuple[DispatchTask, list[Outbound]]:
    """The holder's checked labels: the task is done and its ``LabelReview`` published."""
    task = held(session, person, task_id, "SubmitLabels")
    if task.kind != LABEL_REVIEW:
        raise Refused(
            "FAILED_PRECONDITION", f"task {task_id} is a {kind_name(task)} task, not a label review"
        )
    annotation = annotation_of(session, task_id)
    if annotation is None:
        raise Refused("FAILED_PRECONDITION", f"task {task_id} has no annotation to review")
    validate_labels(annotation, entities, sentiment, intent)
    review = transcripts_pb2.LabelReview(
        context=annotation.context,
        segment_id=task.segment_id,
        version=task.base_version,
        entities=[
            reviewed_entity(e, annotation, person.subject)
            for e in sorted(entities, key=lambda e: (e.start_char, e.end_char))
        ],
        sentiment=sentiment,
        intent=intent,
        task_id=task.task_id,
        reviewed_by=person.subject,
        notes=notes,
        provenance=provenance,
    )
    review.provenance.actor = person.subject
    summary = f"{len(entities)} entities, sentiment {sentiment or '-'}, intent {intent or '-'}"
    event = change(
        session, task, person.subject, "SubmitLabels", summary, state=DONE, notes=notes, lease_expires_at=0.0
    )
    published = Outbound(LABELS_REVIEWED.name, review, key=task.recording_id, trace_id=task.trace_id or None)
    return task, [event, published]
