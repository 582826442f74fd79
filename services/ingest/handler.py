"""Topic audio.chunks.v1 -> audio.segments.v1.

PLACEHOLDER until the ASR issue: each chunk becomes one segment as it is, with no reordering,
decoding, resampling or voice-activity cutting. What is real already: validation, the original
bytes kept in the blob store, the hop's state in the database, publishing through the outbox.
The domain pieces that will replace the placeholder exist and are tested on their own:
``audio.py`` (decoding any format to 16 kHz mono) and ``reassembly.py`` (order, duplicates, gaps).
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from protos import audio_pb2, common_pb2
from shared.kafka.consumer import Handler, Inbound, InvalidMessage, require
from shared.kafka.outbox import Outbound
from shared.records import record_and_publish
from shared.service import ServiceContext
from shared.topics import AUDIO_SEGMENTS

ENCODING_NAMES = {
    audio_pb2.AUDIO_ENCODING_PCM_S16LE: "pcm_s16le",
    audio_pb2.AUDIO_ENCODING_CONTAINER: "container",
}


def segment_id_for(stream_id: str, sequence: int) -> str:
    """Deterministic, so a chunk delivered twice maps to the same segment."""
    return f"{stream_id}:{sequence:06d}"


def chunk_to_segment(ctx: ServiceContext, chunk: audio_pb2.AudioChunk) -> audio_pb2.AudioSegment:
    require(chunk, "stream_id", "data")
    if chunk.sequence < 0:
        raise InvalidMessage(f"AudioChunk.sequence must be >= 0, got {chunk.sequence}")
    if chunk.encoding == audio_pb2.AUDIO_ENCODING_PCM_S16LE and (
        chunk.sample_rate_hz <= 0 or chunk.channels <= 0
    ):
        raise InvalidMessage("PCM16 chunks need sample_rate_hz > 0 and channels > 0")
    stored = ctx.blobs.put(chunk.data, suffix=".pcm" if chunk.encoding == 1 else ".bin")
    ref = common_pb2.AudioRef(
        uri=stored.uri,
        sha256=stored.sha256,
        encoding=ENCODING_NAMES.get(chunk.encoding, "unknown"),
        sample_rate_hz=chunk.sample_rate_hz,
        channels=chunk.channels,
        size_bytes=stored.size_bytes,
    )
    context = common_pb2.RecordingContext()
    context.CopyFrom(chunk.context)
    context.stream_id = chunk.stream_id
    context.recording_id = context.recording_id or chunk.stream_id
    return audio_pb2.AudioSegment(
        context=context,
        segment_id=segment_id_for(chunk.stream_id, chunk.sequence),
        index=chunk.sequence,
        audio=ref,
        original=ref,
        last=chunk.final,
        provenance=ctx.provenance(),
    )


def make_handler(ctx: ServiceContext) -> Handler:
    def handle_chunk(session: Session, inbound: Inbound[audio_pb2.AudioChunk]) -> list[Outbound]:
        segment = chunk_to_segment(ctx, inbound.message)
        return [
            record_and_publish(
                session,
                topic=AUDIO_SEGMENTS.name,
                segment_id=segment.segment_id,
                recording_id=segment.context.recording_id,
                state="segmented",
                message=segment,
                source_message_id=inbound.message_id,
            )
        ]

    return handle_chunk
