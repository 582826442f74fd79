"""Topic transcripts.validated.v1 -> training.examples.v1, and the example kept for snapshots,
vocabulary mining and retraining (a lower or equal version than the one kept is ignored);
topic quality.alerts.v1 (drift) -> training.retrain.v1; the loop that looks for enough new
material on a timer."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict

from sqlalchemy.orm import Session

from protos import events_pb2, transcripts_pb2
from services.feedback import asr_retraining
from services.feedback.classifier_retraining import retrain_classifiers
from services.feedback.examples import example_for, top_label
from services.feedback.settings import FeedbackSettings
from services.feedback.store import ExampleRow
from services.feedback.vocabulary import mine_example
from shared.kafka.consumer import Handler, Inbound
from shared.kafka.outbox import Outbound
from shared.logging import get_logger
from shared.records import record_and_publish
from shared.service import ServiceContext
from shared.topics import TRAINING_EXAMPLES

log = get_logger(__name__)


def keep_example(session: Session, example: events_pb2.TrainingExample) -> ExampleRow | None:
    """Insert or replace the segment's example; None when this or a newer version is kept."""
    row = session.get(ExampleRow, example.segment_id)
    if row is not None and row.version >= example.version:
        return None
    if row is None:
        row = ExampleRow(segment_id=example.segment_id)
        session.add(row)
    row.version = example.version
    row.recording_id = example.context.recording_id
    row.tenant_id = example.tenant_id
    row.domain = example.domain
    row.language = example.language
    row.speaker_id = example.speaker_id
    row.duration_s = max(example.end_s - example.start_s, 0.0)
    row.draft_text = example.source_text
    row.text = example.target_text
    row.corrected = example.quality.corrected
    row.labels_reviewed = example.labels_reviewed
    row.sentiment = top_label(example.sentiment)
    row.intent = top_label(example.intent)
    row.gold = example.gold
    row.evaluation = example.evaluation
    row.at = time.time()
    row.payload = example.SerializeToString()
    return row


def make_handler(ctx: ServiceContext, settings: FeedbackSettings) -> Handler:
    def handle_validated(
        session: Session, inbound: Inbound[transcripts_pb2.ValidatedTranscript]
    ) -> list[Outbound]:
        example = example_for(inbound.message, ctx.provenance())
        row = keep_example(session, example)
        if row is None:
            return []
        session.flush()  # the row is in the database for mining's queries
        mine_example(session, row, settings.vocabulary_min_occurrences, settings.vocabulary_min_recordings)
        return [
            record_and_publish(
                session,
                topic=TRAINING_EXAMPLES.name,
                segment_id=example.segment_id,
                recording_id=example.context.recording_id,
                state="exported",
                message=example,
                source_message_id=inbound.message_id,
                version=example.version,
            )
        ]

    return handle_validated


def make_alert_handler(ctx: ServiceContext, settings: FeedbackSettings) -> Handler:
    def handle_alert(session: Session, inbound: Inbound[events_pb2.QualityAlert]) -> list[Outbound]:
        return asr_retraining.on_drift(
            session,
            inbound.message,
            settings.resolved_datasets_dir,
            settings.asr_retrain_hours,
            ctx.provenance(),
        )

    return handle_alert


def make_loop(ctx: ServiceContext, settings: FeedbackSettings) -> Callable[[], None]:
    """One pass: enough corrected speech for an ASR retraining request? Enough reviewed labels
    to retrain a classifier?"""

    def loop() -> None:
        with ctx.unit_of_work() as (session, outbound):
            outbound += asr_retraining.check_corrected_hours(
                session, settings.resolved_datasets_dir, settings.asr_retrain_hours, ctx.provenance()
            )
        if settings.classifier_retraining:
            for outcome in retrain_classifiers(ctx, settings.models_dir, settings.classifier_min_new_labels):
                log.info("classifier retrained", **asdict(outcome))

    return loop
