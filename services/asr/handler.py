"""Topics audio.segments.v1 and transcripts.redecode.v1 -> transcripts.draft.v1: thin adapters
over ``drafting`` (and ``coalesce`` for a poll of several segments)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray
from sqlalchemy.orm import Session

from protos import audio_pb2, common_pb2, transcripts_pb2
from services.asr.coalesce import Piece, coalesce_runs
from services.asr.drafting import SpeechModels, draft_segment, draft_segments, redecode_segment
from services.asr.recordings import lock_recording
from shared.audio import from_pcm16
from shared.kafka.consumer import BatchHandler, Handler, Inbound, InvalidMessage, require
from shared.kafka.outbox import Outbound
from shared.logging import get_logger
from shared.records import record_and_publish
from shared.service import ServiceContext
from shared.topics import TRANSCRIPTS_DRAFT

log = get_logger(__name__)


def make_handler(ctx: ServiceContext, models: SpeechModels) -> Handler:
    def handle_segment(session: Session, inbound: Inbound[audio_pb2.AudioSegment]) -> list[Outbound]:
        segment = inbound.message
        if _is_end_marker(segment):
            lock_recording(session, segment.context.recording_id).ended = segment.end_reason
            return []  # the recording's end marker: nothing to transcribe
        samples = _segment_audio(ctx, segment.audio, f"AudioSegment {segment.segment_id!r}")
        with models.lock:
            draft = draft_segment(ctx, models, session, segment, samples)
        return [_publish_draft(session, draft, "drafted", inbound.message_id)]

    return handle_segment


def make_batch_handler(ctx: ServiceContext, models: SpeechModels, coalesce_max_s: float) -> BatchHandler:
    """A poll's segments: a recording's consecutive ones in one Whisper decode (``coalesce``), so
    a service that fell behind decodes its backlog as the bare library decodes a file. Each
    segment still gets its own draft and record. Any error (a bad segment, a failed decode)
    raises, and the consumer takes the batch record by record through ``make_handler``."""

    def handle_segments(
        session: Session, inbounds: Sequence[Inbound[audio_pb2.AudioSegment]]
    ) -> list[list[Outbound]]:
        segments = [inbound.message for inbound in inbounds]
        # Every segment checked and its audio read before the first decode: a bad one fails fast.
        audio = [
            None if _is_end_marker(s) else _segment_audio(ctx, s.audio, f"AudioSegment {s.segment_id!r}")
            for s in segments
        ]
        pieces = [
            Piece(s.context.recording_id, s.index, s.start_s, s.end_s, s.context.language_hint, a is not None)
            for s, a in zip(segments, audio, strict=True)
        ]
        outputs: list[list[Outbound]] = [[] for _ in inbounds]
        for run in coalesce_runs(pieces, coalesce_max_s):
            first = segments[run[0]]
            samples = [a for a in (audio[i] for i in run) if a is not None]
            if not samples:  # an end marker (always alone in its run)
                lock_recording(session, first.context.recording_id).ended = first.end_reason
                continue
            if len(run) > 1:
                log.info(
                    "segments decoded together", recording_id=first.context.recording_id, segments=len(run)
                )
            with models.lock:
                drafts = draft_segments(ctx, models, session, [segments[i] for i in run], samples)
            for i, draft in zip(run, drafts, strict=True):
                outputs[i] = [_publish_draft(session, draft, "drafted", inbounds[i].message_id)]
        return outputs

    return handle_segments


def wants_rest_of_burst(inbounds: Sequence[Inbound[audio_pb2.AudioSegment]]) -> bool:
    """The consumer's ``linger`` hook: True while a recording's latest segment in the poll says
    more follow at once (``more_queued``: an upload, a stream sent faster than real time), so
    the burst is decoded as one audio instead of its first segment alone (every Whisper call
    pads to a 30 s window). A live stream caught up never sets it, so its drafts never wait."""
    latest: dict[str, audio_pb2.AudioSegment] = {}
    for inbound in inbounds:
        segment = inbound.message
        known = latest.get(segment.context.recording_id)
        if known is None or segment.index > known.index:
            latest[segment.context.recording_id] = segment
    return any(s.more_queued and not s.last for s in latest.values())


def _is_end_marker(segment: audio_pb2.AudioSegment) -> bool:
    """True for the audio-less last segment of a recording; raises on any other invalid one."""
    require(segment, "segment_id", "context.recording_id")
    if segment.audio.uri:
        return False
    if not segment.last:
        raise InvalidMessage(f"AudioSegment {segment.segment_id!r} has no audio and is not an end marker")
    return True


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
