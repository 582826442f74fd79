"""Topic audio.chunks.v1 -> audio.segments.v1: thin adapters over ``intake.receive_chunk(s)``."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from protos import audio_pb2
from services.ingest.intake import ChunkRejected, IntakeConfig, mark_failed, receive_chunks
from shared.kafka.consumer import BatchHandler, Handler, Inbound, InvalidMessage
from shared.kafka.outbox import Outbound
from shared.service import ServiceContext


def make_handler(ctx: ServiceContext, config: IntakeConfig) -> Handler:
    def handle_chunk(session: Session, inbound: Inbound[audio_pb2.AudioChunk]) -> list[Outbound]:
        chunk = inbound.message
        try:
            _, out = receive_chunks(
                ctx, config, session, [chunk], inbound.trace_id, inbound.message_id, queued=inbound.behind > 0
            )
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


def make_batch_handler(ctx: ServiceContext, config: IntakeConfig) -> BatchHandler:
    """A poll's chunks, stream by stream, each stream in one pass; a stream's segments go out
    with the trace of its last chunk in the batch. A rejected chunk raises, and the consumer then
    takes the batch record by record, so the bad one is dead-lettered alone. Records waiting
    behind the batch make its segments ``more_queued`` (they may hold the same streams' next
    chunks: a stream sent faster than real time)."""

    def handle_chunks(
        session: Session, inbounds: Sequence[Inbound[audio_pb2.AudioChunk]]
    ) -> list[list[Outbound]]:
        by_stream: dict[str, list[int]] = {}
        for i, inbound in enumerate(inbounds):
            by_stream.setdefault(inbound.message.stream_id, []).append(i)
        outputs: list[list[Outbound]] = [[] for _ in inbounds]
        for indices in by_stream.values():
            last = inbounds[indices[-1]]
            _, out = receive_chunks(
                ctx,
                config,
                session,
                [inbounds[i].message for i in indices],
                last.trace_id,
                last.message_id,
                queued=inbounds[-1].behind > 0,
            )
            outputs[indices[-1]] = out
        return outputs

    return handle_chunks
