"""Topics transcripts.qa.v1 (auto-accepted), transcripts.corrected.v1 and labels.reviewed.v1:
thin adapters over ``publish``. The two trusted topics are labelled a poll at a time (one
``nlp.pipe`` call), and record by record when a batch fails, so dead letters work as usual."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy.orm import Session

from protos import events_pb2, transcripts_pb2
from services.annotate.labeller import Labeller
from services.annotate.publish import Trusted, take_review, take_trusted
from services.annotate.settings import AnnotateSettings
from shared.kafka.consumer import BatchHandler, Handler, Inbound, InvalidMessage, require
from shared.kafka.outbox import Outbound
from shared.service import ServiceContext

ToTrusted = Callable[[Inbound[Any]], Trusted | None]
Prepare = Callable[[Sequence[Inbound[Any]]], None]


def from_verdict(inbound: Inbound[transcripts_pb2.QaVerdict]) -> Trusted | None:
    verdict = inbound.message
    require(verdict, "draft.segment.segment_id", "context.recording_id")
    if verdict.route != transcripts_pb2.ROUTE_AUTO_ACCEPT:
        return None  # a person will correct it; it comes back on transcripts.corrected.v1
    return Trusted.accepted(inbound.message_id, verdict)


def from_corrected(inbound: Inbound[transcripts_pb2.CorrectedTranscript]) -> Trusted | None:
    require(inbound.message, "segment.segment_id", "context.recording_id")
    return Trusted.corrected(inbound.message_id, inbound.message)


def make_trusted_handlers(
    ctx: ServiceContext, labeller: Labeller, settings: AnnotateSettings, to_trusted: ToTrusted
) -> tuple[Handler, BatchHandler, Prepare]:
    def handle_batch(session: Session, inbounds: Sequence[Inbound[Any]]) -> list[list[Outbound]]:
        taken = [(n, to_trusted(inbound)) for n, inbound in enumerate(inbounds)]
        items = [(n, item) for n, item in taken if item is not None]
        provenance = ctx.provenance(model_name="spacy", model_version=labeller.versions())
        labelled = take_trusted(session, [item for _, item in items], labeller, settings, provenance)
        out: list[list[Outbound]] = [[] for _ in inbounds]
        for (n, _), messages in zip(items, labelled, strict=True):
            out[n] = messages
        return out

    def handle_one(session: Session, inbound: Inbound[Any]) -> list[Outbound]:
        return handle_batch(session, [inbound])[0]

    def prepare(inbounds: Sequence[Inbound[Any]]) -> None:
        """The consumer's next poll: its texts go to the NLP process while this one is handled."""
        segments = []
        for inbound in inbounds:
            try:
                item = to_trusted(inbound)
            except InvalidMessage:
                continue  # dead-lettered when its turn comes
            if item is not None and not item.verdict.gold:
                segments.append(item.segment)
        labeller.prefetch(segments)

    return handle_one, handle_batch, prepare


def make_review_handler(settings: AnnotateSettings) -> Handler:
    def handle_review(session: Session, inbound: Inbound[transcripts_pb2.LabelReview]) -> list[Outbound]:
        require(inbound.message, "segment_id", "context.recording_id", "reviewed_by")
        return take_review(session, inbound.message_id, inbound.message, settings)

    return handle_review


def make_promotion_handler(labeller: Labeller) -> Handler:
    """Topic models.promoted.v1: reload what changed. Only one replica of a consumer group gets
    the message; the others see the same CURRENT on their next ``refresh`` tick."""

    def handle_promotion(session: Session, inbound: Inbound[events_pb2.ModelPromotion]) -> list[Outbound]:
        require(inbound.message, "model", "language", "version")
        labeller.refresh()
        return []

    return handle_promotion
