"""Topic audio.segments.v1 -> transcripts.draft.v1.

PLACEHOLDER until the ASR issue: no model runs yet. The draft carries the segment's ids, times
and the producer's language hint, with empty text and provenance model "none". What is real
already: validation, the hop's state in the database, publishing through the outbox.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from protos import audio_pb2, common_pb2, transcripts_pb2
from shared.kafka.consumer import Handler, Inbound, require
from shared.kafka.outbox import Outbound
from shared.records import record_and_publish
from shared.service import ServiceContext
from shared.topics import TRANSCRIPTS_DRAFT


def draft_for(ctx: ServiceContext, segment: audio_pb2.AudioSegment) -> transcripts_pb2.DraftTranscript:
    require(segment, "segment_id", "context.recording_id", "audio.uri")
    return transcripts_pb2.DraftTranscript(
        context=segment.context,
        segment=common_pb2.TranscriptSegment(
            segment_id=segment.segment_id,
            index=segment.index,
            start_s=segment.start_s,
            end_s=segment.end_s,
            language=segment.context.language_hint,
        ),
        audio=segment.audio,
        version=1,
        provenance=ctx.provenance(model_name="none", model_version="placeholder"),
    )


def make_handler(ctx: ServiceContext) -> Handler:
    def handle_segment(session: Session, inbound: Inbound[audio_pb2.AudioSegment]) -> list[Outbound]:
        draft = draft_for(ctx, inbound.message)
        return [
            record_and_publish(
                session,
                topic=TRANSCRIPTS_DRAFT.name,
                segment_id=draft.segment.segment_id,
                recording_id=draft.context.recording_id,
                state="drafted",
                message=draft,
                source_message_id=inbound.message_id,
            )
        ]

    return handle_segment
