"""Topic audio.chunks.v1 -> audio.segments.v1: a thin adapter over ``intake.receive_chunk``."""

from __future__ import annotations

from sqlalchemy.orm import Session

from protos import audio_pb2
from services.ingest.intake import ChunkRejected, IntakeConfig, mark_failed, receive_chunk
from shared.kafka.consumer import Handler, Inbound, InvalidMessage
from shared.kafka.outbox import Outbound
from shared.service import ServiceContext


def make_handler(ctx: ServiceContext, config: IntakeConfig) -> Handler:
    def handle_chunk(session: Session, inbound: Inbound[audio_pb2.AudioChunk]) -> list[Outbound]:
        chunk = inbound.message
        try:
            _, out = receive_chunk(ctx, config, session, chunk, inbound.trace_id, inbound.message_id)
        except ChunkRejected as exc:
            # The chunk goes to audio.chunks.v1.dlq with the reason; a stream it makes unusable
            # is marked failed in that same transaction, so GetStream says why.
            reason = str(exc)  # ``exc`` is unbound once this block ends; the callback runs later
            on_dead_letter = (
                (lambda s: mark_failed(s, chunk, inbound.trace_id, reason)) if exc.fails_stream else None
            )
            raise InvalidMessage(f"{exc.kind}: {exc}", on_dead_letter) from exc
        return out

    return handle_chunk
