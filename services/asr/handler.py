"""Topics audio.segments.v1 and transcripts.redecode.v1 -> transcripts.draft.v1: thin adapters
over ``drafting``."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from sqlalchemy.orm import Session

from protos import audio_pb2, common_pb2, transcripts_pb2
from services.asr.drafting import SpeechModels, draft_segment, redecode_segment
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
        samples = _segment_audio(ctx, segment.audio, f"AudioSegment {segment.segment_id!r}")
        with models.lock:
            draft = draft_segment(ctx, models, session, segment, samples)
        return [_publish_draft(session, draft, "drafted", inbound.message_id)]

    return handle_segment


def make_redecode_handler(ctx: ServiceContext, models: SpeechModels) -> Handler:
    def handle_redecode(
        session: Session, inbound: Inbound[transcripts_pb2.RedecodeRequest]
    ) -> list[Outbound]:
        request = inbound.message
        require(request, "draft.segment.segment_id", "draft.context.recording_id", "draft.audio.uri")
        where = f"RedecodeRequest for {request.draft.segment.segment_id!r}"
        samples = _segment_audio(ctx, request.draft.audio, where)
        with models.lock:
            draft = redecode_segment(ctx, models, session, request, samples)
        return [_publish_draft(session, draft, "redecoded", inbound.message_id)]

    return handle_redecode


def _segment_audio(ctx: ServiceContext, audio: common_pb2.AudioRef, where: str) -> NDArray[np.float32]:
    if audio.encoding != "pcm_s16le" or audio.sample_rate_hz != 16_000:
        raise InvalidMessage(
            f"{where}: audio must be 16 kHz pcm_s16le, got {audio.encoding!r} at {audio.sample_rate_hz} Hz"
        )
    return from_pcm16(ctx.blobs.get(audio.uri))


def _publish_draft(
    session: Session, draft: transcripts_pb2.DraftTranscript, state: str, source_message_id: str
) -> Outbound:
    return record_and_publish(
        session,
        topic=TRANSCRIPTS_DRAFT.name,
        segment_id=draft.segment.segment_id,
        recording_id=draft.context.recording_id,
        state=state,
        message=draft,
        source_message_id=source_message_id,
        version=draft.version,
    )
