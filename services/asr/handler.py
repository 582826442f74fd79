"""Topic audio.segments.v1 -> transcripts.draft.v1: a thin adapter over ``drafting``."""

from __future__ import annotations

from sqlalchemy.orm import Session

from protos import audio_pb2
from services.asr.drafting import SpeechModels, draft_segment
from services.asr.recordings import lock_recording
from shared.audio import from_pcm16
from shared.kafka.consumer import Handler, Inbound, InvalidMessage, require
from shared.kafka.outbox import Outbound
from shared.records import record_and_publish
from shared.service import ServiceContext
from shared.topics import TRANSCRIPTS_DRAFT


def make_handler(ctx: ServiceContext, models: SpeechModels) -> Handler:
    def handle_segment(session: Session, inbound: Inbound[audio_pb2.AudioSegment]) -> list[Outbound]:
        segment = inbound.message
        require(segment, "segment_id", "context.recording_id")
        if not segment.audio.uri:
            if not segment.last:
                raise InvalidMessage(
                    f"AudioSegment {segment.segment_id!r} has no audio and is not an end marker"
                )
            lock_recording(session, segment.context.recording_id).ended = segment.end_reason
            return []  # the recording's end marker: nothing to transcribe
        if segment.audio.encoding != "pcm_s16le" or segment.audio.sample_rate_hz != 16_000:
            raise InvalidMessage(
                f"AudioSegment {segment.segment_id!r}: audio must be 16 kHz pcm_s16le, got "
                f"{segment.audio.encoding!r} at {segment.audio.sample_rate_hz} Hz"
            )
        samples = from_pcm16(ctx.blobs.get(segment.audio.uri))
        with models.lock:
            draft = draft_segment(ctx, models, session, segment, samples)
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
