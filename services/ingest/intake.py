"""From chunks to segments: the one path the topic, the gRPC stream and the upload all take.

Each call runs inside the caller's transaction (consumer loop or ``ServiceContext.unit_of_work``)
and returns the segments to publish, so stream state and outbox commit together:

chunk -> validate -> ``StreamAssembly`` (order, duplicates, gaps) -> original bytes to the blob
store -> the contiguous run of chunks decoded to 16 kHz mono -> ``Segmenter`` (cuts on pauses)
-> each completed cut stored as PCM16 and published on audio.segments.v1 at once.

Raw PCM16 streams are cut while they are still running; a container format (WAV, MP3, Ogg...)
split into chunks can only be decoded once all its chunks are in, so it is cut at the end.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import select
from sqlalchemy.orm import Session

from protos import audio_pb2, common_pb2, ingest_pb2
from services.ingest.reassembly import ChunkOutcome, StreamAssembly, StreamState
from services.ingest.segmenter import Cut, Segmenter, SegmenterConfig
from services.ingest.settings import IngestSettings
from services.ingest.streams import FAILED, IngestChunk, IngestStream, chunk_digests, chunk_uris, lock_stream
from shared.audio import TARGET_RATE_HZ, AudioError, decode_container, decode_pcm16, to_pcm16
from shared.db.tables import bulk_insert
from shared.kafka.outbox import Outbound
from shared.logging import get_logger
from shared.records import record_and_publish
from shared.service import ServiceContext
from shared.topics import AUDIO_SEGMENTS

log = get_logger(__name__)

PCM = audio_pb2.AUDIO_ENCODING_PCM_S16LE
CONTAINER = audio_pb2.AUDIO_ENCODING_CONTAINER
AHEAD_OF_CLOCK_S = 5.0  # audio received this far ahead of the time since the first chunk: a burst
STATE_TO_PROTO = {
    StreamState.RECEIVING: ingest_pb2.STREAM_STATE_RECEIVING,
    StreamState.COMPLETE: ingest_pb2.STREAM_STATE_COMPLETE,
    StreamState.GAP: ingest_pb2.STREAM_STATE_GAP,
    StreamState.TIMED_OUT: ingest_pb2.STREAM_STATE_TIMED_OUT,
    FAILED: ingest_pb2.STREAM_STATE_FAILED,
}


class ChunkRejected(ValueError):
    """A chunk that cannot be taken; ``kind`` picks the gRPC status, ``fails_stream`` whether the
    whole stream is unusable from now on (its audio cannot be decoded, or is too long)."""

    def __init__(self, kind: str, reason: str, fails_stream: bool = False) -> None:
        super().__init__(reason)
        self.kind = kind  # invalid | audio | conflict | late
        self.fails_stream = fails_stream


@dataclass(frozen=True)
class IntakeConfig:
    max_recording_s: float
    stream_timeout_s: float
    gap_grace_s: float
    segmenter: SegmenterConfig

    @classmethod
    def from_settings(cls, s: IngestSettings) -> IntakeConfig:
        return cls(
            max_recording_s=s.max_recording_s,
            stream_timeout_s=s.stream_timeout_s,
            gap_grace_s=s.gap_grace_s,
            segmenter=SegmenterConfig(
                threshold=s.vad_threshold,
                min_silence_s=s.min_silence_s,
                min_segment_s=s.min_segment_s,
                max_segment_s=s.max_segment_s,
                speech_pad_s=s.speech_pad_s,
                min_speech_s=s.min_speech_s,
            ),
        )


def segment_id_for(stream_id: str, index: int) -> str:
    """Deterministic, so reprocessing a stream gives its segments the same ids."""
    return f"{stream_id}:{index:06d}"


def validate_chunk(chunk: audio_pb2.AudioChunk) -> None:
    where = f"AudioChunk(stream_id={chunk.stream_id!r}, sequence={chunk.sequence})"
    if not chunk.stream_id:
        raise ChunkRejected("invalid", "AudioChunk.stream_id is required but empty")
    if chunk.sequence < 0:
        raise ChunkRejected("invalid", f"{where}: sequence must be >= 0")
    if not chunk.data:
        raise ChunkRejected("invalid", f"{where}: data is empty (an empty chunk carries no audio)")
    if chunk.encoding not in (PCM, CONTAINER):
        raise ChunkRejected("invalid", f"{where}: encoding must be PCM_S16LE or CONTAINER")
    if chunk.encoding == PCM:
        if chunk.sample_rate_hz <= 0 or chunk.channels <= 0:
            raise ChunkRejected("invalid", f"{where}: PCM16 needs sample_rate_hz > 0 and channels > 0")
        if len(chunk.data) % (2 * chunk.channels):
            raise ChunkRejected(
                "audio",
                f"{where}: corrupt PCM16, {len(chunk.data)} bytes is not a whole number of "
                f"{chunk.channels}-channel 16-bit frames",
                fails_stream=True,
            )


def _new_stream(chunk: audio_pb2.AudioChunk, trace_id: str) -> IngestStream:
    context = common_pb2.RecordingContext()
    context.CopyFrom(chunk.context)
    context.stream_id = chunk.stream_id
    context.recording_id = context.recording_id or chunk.stream_id
    return IngestStream(
        stream_id=chunk.stream_id,
        recording_id=context.recording_id,
        trace_id=trace_id,
        context=context.SerializeToString(),
        encoding=chunk.encoding,
        sample_rate_hz=chunk.sample_rate_hz,
        channels=chunk.channels,
        mime_type=chunk.mime_type,
        state=StreamState.RECEIVING.value,
        error="",
        assembly={},
        segmenter_state=None,
        segmenter_next=0,
        chunks_received=0,
        segments_published=0,
        duration_s=0.0,
        original_uri="",
        original_sha256="",
    )


def receive_chunk(
    ctx: ServiceContext,
    config: IntakeConfig,
    session: Session,
    chunk: audio_pb2.AudioChunk,
    trace_id: str,
    source_message_id: str,
    now_s: float | None = None,
) -> tuple[ChunkOutcome, list[Outbound]]:
    """Take one chunk; return what happened to it and the segments it completed."""
    outcomes, out = receive_chunks(ctx, config, session, [chunk], trace_id, source_message_id, now_s)
    return outcomes[0], out


def receive_chunks(
    ctx: ServiceContext,
    config: IntakeConfig,
    session: Session,
    chunks: Sequence[audio_pb2.AudioChunk],
    trace_id: str,
    source_message_id: str,
    now_s: float | None = None,
    queued: bool = False,
) -> tuple[list[ChunkOutcome], list[Outbound]]:
    """Take several chunks of one stream at once (a poll's worth from the topic): one row lock,
    one pass of the voice-activity model over all of them, one state write. Any rejected chunk
    raises ``ChunkRejected`` for the whole call, so the caller can take them one by one.
    ``queued``: more input was already waiting behind these chunks (``AudioSegment.more_queued``)."""
    now_s = time.time() if now_s is None else now_s
    for chunk in chunks:
        validate_chunk(chunk)
        if chunk.stream_id != chunks[0].stream_id:
            raise ValueError("receive_chunks takes chunks of one stream")
    row = lock_stream(session, chunks[0].stream_id)
    if row is None:
        row = _new_stream(chunks[0], trace_id)
        session.add(row)
    for chunk in chunks:
        _check_format(row, chunk)
    if row.state == FAILED:
        raise ChunkRejected("late", f"stream {row.stream_id!r} failed earlier: {row.error}")
    assembly = row.load_assembly()
    outcomes: list[ChunkOutcome] = []
    fresh: dict[int, bytes] = {}
    digests = chunk_digests(session, row.stream_id, (c.sequence for c in chunks))  # stored, then these
    stored_rows: list[dict[str, str | int]] = []
    for chunk in chunks:
        digest = hashlib.sha256(chunk.data).hexdigest()
        known = digests.get(chunk.sequence)
        outcome = assembly.add(chunk.sequence, digest, chunk.final, now_s, known)
        outcomes.append(outcome)
        if outcome is ChunkOutcome.DUPLICATE:
            log.info("duplicate chunk ignored", stream_id=chunk.stream_id, sequence=chunk.sequence)
            continue
        if outcome is not ChunkOutcome.ACCEPTED:
            raise ChunkRejected(
                "late" if outcome in (ChunkOutcome.LATE, ChunkOutcome.AFTER_FINAL) else "conflict",
                f"stream {chunk.stream_id!r} chunk {chunk.sequence}: {outcome.value} "
                f"(stream state {row.state}, final sequence {assembly.final_sequence})",
            )
        stored = ctx.blobs.put(chunk.data, suffix=".pcm" if chunk.encoding == PCM else ".bin")
        stored_rows.append(
            {"stream_id": row.stream_id, "sequence": chunk.sequence, "sha256": digest, "uri": stored.uri}
        )
        row.chunks_received += 1
        fresh[chunk.sequence], digests[chunk.sequence] = chunk.data, digest
    if stored_rows:  # one INSERT for the poll's chunks
        session.execute(bulk_insert(IngestChunk), stored_rows)
    if not fresh:
        return outcomes, []  # only redeliveries: nothing changed
    out = _advance(ctx, config, session, row, assembly, source_message_id, now_s, fresh, queued)
    row.store_assembly(assembly)
    return outcomes, out


def _check_format(row: IngestStream, chunk: audio_pb2.AudioChunk) -> None:
    theirs = (chunk.encoding, chunk.sample_rate_hz, chunk.channels)
    ours = (row.encoding, row.sample_rate_hz, row.channels)
    if theirs != ours:
        raise ChunkRejected(
            "conflict",
            f"stream {chunk.stream_id!r} chunk {chunk.sequence}: format (encoding, rate, channels) "
            f"{theirs} differs from the stream's {ours}",
        )


class SegmenterCache:
    """The segmenters of live PCM streams, kept in memory between chunks.

    A segmenter's state holds the pending audio (up to ``max_segment_s``, ~1 MB), too much to
    rewrite in the database for every 0.5 s chunk. It is written at checkpoints instead (a cut,
    every ``CHECKPOINT_CHUNKS`` chunks, the end of the stream). On a miss (a restart, another
    replica took the partition, a rolled-back transaction: the cached position no longer matches
    the database's) the segmenter is rebuilt from the checkpoint and the chunks fed since are
    replayed from the blob store; the VAD is deterministic, so the replay reaches the same state,
    and the cuts it repeats were published already.
    """

    def __init__(self, max_streams: int = 1024) -> None:
        self._items: OrderedDict[str, tuple[int, Segmenter]] = OrderedDict()
        self._max_streams = max_streams
        self._lock = threading.Lock()

    def take(self, stream_id: str, next_to_emit: int) -> Segmenter | None:
        with self._lock:
            item = self._items.pop(stream_id, None)
        return item[1] if item is not None and item[0] == next_to_emit else None

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def put(self, stream_id: str, next_to_emit: int, segmenter: Segmenter) -> None:
        with self._lock:
            self._items[stream_id] = (next_to_emit, segmenter)
            while len(self._items) > self._max_streams:
                self._items.popitem(last=False)  # the oldest stream rebuilds if it ever resumes


CHECKPOINT_CHUNKS = 20
SEGMENTERS = SegmenterCache()


def _pcm_samples(config: IntakeConfig, row: IngestStream, pcm: bytes) -> NDArray[np.float32]:
    return decode_pcm16(pcm, row.sample_rate_hz, row.channels, config.max_recording_s).samples


def _segmenter_at(
    ctx: ServiceContext, config: IntakeConfig, session: Session, row: IngestStream, next_to_emit: int
) -> Segmenter:
    """The stream's segmenter after feeding every sequence below ``next_to_emit``."""
    cached = SEGMENTERS.take(row.stream_id, next_to_emit)
    if cached is not None:
        return cached
    segmenter = Segmenter(config.segmenter, row.segmenter_state)
    if row.encoding == PCM:
        for uri in chunk_uris(session, row.stream_id, row.segmenter_next, next_to_emit):
            segmenter.feed(_pcm_samples(config, row, ctx.blobs.get(uri)))  # cuts already published
    return segmenter


def _checkpoint(row: IngestStream, segmenter: Segmenter, next_to_emit: int, force: bool) -> None:
    if force or next_to_emit - row.segmenter_next >= CHECKPOINT_CHUNKS:
        row.segmenter_state = segmenter.to_bytes()
        row.segmenter_next = next_to_emit


def _advance(
    ctx: ServiceContext,
    config: IntakeConfig,
    session: Session,
    row: IngestStream,
    assembly: StreamAssembly,
    source_message_id: str,
    now_s: float,
    fresh: dict[int, bytes],
    queued: bool = False,
) -> list[Outbound]:
    """Decode the chunks that are now in order, cut, and finish the stream when it is whole.
    ``fresh``: the chunks just received, so they are not read back from the blob store."""
    segmenter = _segmenter_at(ctx, config, session, row, assembly.next_to_emit)
    ready = assembly.take_ready()
    cuts: list[Cut] = []
    try:
        if row.encoding == PCM:
            uris = (
                []
                if set(ready) <= set(fresh)
                else chunk_uris(session, row.stream_id, ready[0], ready[-1] + 1)
            )
            blobs = dict(zip(range(ready[0], ready[-1] + 1), uris, strict=True)) if uris else {}
            pcm = b"".join(fresh[q] if q in fresh else ctx.blobs.get(blobs[q]) for q in ready)
            if pcm:  # every ready chunk in one pass: the cuts are the same as chunk by chunk
                cuts += segmenter.feed(_pcm_samples(config, row, pcm))
            row.duration_s = segmenter.total_samples / TARGET_RATE_HZ
            if row.duration_s > config.max_recording_s:
                raise ChunkRejected(
                    "audio",
                    f"stream {row.stream_id!r} is longer than the limit of {config.max_recording_s:.0f} s",
                    fails_stream=True,
                )
        elif assembly.final_sequence is not None and assembly.next_to_emit > assembly.final_sequence:
            data = b"".join(ctx.blobs.get(uri) for uri in chunk_uris(session, row.stream_id))
            decoded = decode_container(data, config.max_recording_s)
            row.duration_s = decoded.duration_s
            row.sample_rate_hz, row.channels = decoded.source_rate_hz, decoded.source_channels
            stored = ctx.blobs.put(data, suffix=f".{decoded.container.split(',')[0]}")
            row.original_uri, row.original_sha256 = stored.uri, stored.sha256
            row.mime_type = row.mime_type or decoded.codec
            cuts += segmenter.feed(decoded.samples)
    except AudioError as exc:
        raise ChunkRejected(
            "audio", f"stream {row.stream_id!r}: {exc.code}: {exc}", fails_stream=True
        ) from exc

    # A stream whose audio runs well ahead of the clock is being sent faster than real time (a
    # file streamed, a buffer flushed): its next chunks are moments away, even when none waits yet.
    queued = queued or row.duration_s - (now_s - assembly.first_chunk_at_s) > AHEAD_OF_CLOCK_S
    state = assembly.state(now_s, config.gap_grace_s, config.stream_timeout_s)
    if state is StreamState.COMPLETE:
        cuts += segmenter.finish()
        if row.encoding == PCM:
            _store_pcm_original(ctx, session, row)
    _checkpoint(row, segmenter, assembly.next_to_emit, force=bool(cuts) or state is not StreamState.RECEIVING)
    if state is StreamState.RECEIVING:
        SEGMENTERS.put(row.stream_id, assembly.next_to_emit, segmenter)
    row.state = state.value
    return _publish(
        ctx, config, session, row, cuts, source_message_id, end_reason=_end_reason(state), queued=queued
    )


def _end_reason(state: StreamState) -> str:
    return "" if state is StreamState.RECEIVING else state.value


def _store_pcm_original(ctx: ServiceContext, session: Session, row: IngestStream) -> None:
    """Keep the whole stream as received (raw PCM16 at its own rate) once it is complete."""
    data = b"".join(ctx.blobs.get(uri) for uri in chunk_uris(session, row.stream_id))
    stored = ctx.blobs.put(data, suffix=".pcm")
    row.original_uri, row.original_sha256 = stored.uri, stored.sha256


def original_ref(row: IngestStream) -> common_pb2.AudioRef:
    return common_pb2.AudioRef(
        uri=row.original_uri,
        sha256=row.original_sha256,
        encoding="pcm_s16le" if row.encoding == PCM else row.mime_type,
        sample_rate_hz=row.sample_rate_hz,
        channels=row.channels,
        duration_s=row.duration_s,
    )


def _publish(
    ctx: ServiceContext,
    config: IntakeConfig,
    session: Session,
    row: IngestStream,
    cuts: list[Cut],
    source_message_id: str,
    end_reason: str,
    queued: bool = False,
) -> list[Outbound]:
    """One message per cut; when the stream ended, the last one says so (an end marker without
    audio when the tail held no speech), so ASR and downstream know the recording is over. All
    but the last cut are ``more_queued``, and the last too while input is ``queued``."""
    if not cuts and not end_reason:
        return []
    context = common_pb2.RecordingContext.FromString(row.context)
    provenance = ctx.provenance(**{k: str(v) for k, v in asdict(config.segmenter).items()})
    segments = [
        audio_pb2.AudioSegment(
            context=context,
            segment_id=segment_id_for(row.stream_id, cut.index),
            index=cut.index,
            start_s=cut.start_s,
            end_s=cut.end_s,
            audio=_store_cut(ctx, cut),
            original=original_ref(row),
            speech_s=cut.speech_s,
            voice_activity=[
                common_pb2.SpeechSpan(start_s=a / TARGET_RATE_HZ, end_s=b / TARGET_RATE_HZ)
                for a, b in cut.voiced
            ],
            provenance=provenance,
        )
        for cut in cuts
    ]
    if end_reason:
        if not segments:
            index = row.segments_published
            segments.append(
                audio_pb2.AudioSegment(
                    context=context,
                    segment_id=segment_id_for(row.stream_id, index),
                    index=index,
                    start_s=row.duration_s,
                    end_s=row.duration_s,
                    original=original_ref(row),
                    provenance=provenance,
                )
            )
        segments[-1].last = True
        segments[-1].end_reason = end_reason
        log.info(
            "stream ended",
            stream_id=row.stream_id,
            state=end_reason,
            duration_s=round(row.duration_s, 2),
            segments=row.segments_published + len(segments),
        )
    for n, s in enumerate(segments):
        s.more_queued = n < len(segments) - 1 or (queued and not s.last)
    row.segments_published += len(segments)
    return [
        record_and_publish(
            session,
            topic=AUDIO_SEGMENTS.name,
            segment_id=s.segment_id,
            recording_id=row.recording_id,
            state="segmented",
            message=s,
            source_message_id=source_message_id,
        )
        for s in segments
    ]


def _store_cut(ctx: ServiceContext, cut: Cut) -> common_pb2.AudioRef:
    pcm = to_pcm16(cut.samples)
    stored = ctx.blobs.put(pcm, suffix=".pcm")
    return common_pb2.AudioRef(
        uri=stored.uri,
        sha256=stored.sha256,
        encoding="pcm_s16le",
        sample_rate_hz=TARGET_RATE_HZ,
        channels=1,
        duration_s=len(cut.samples) / TARGET_RATE_HZ,
        size_bytes=stored.size_bytes,
    )


def mark_failed(session: Session, chunk: audio_pb2.AudioChunk, trace_id: str, reason: str) -> None:
    """Record that a stream is unusable; run in its own transaction after a rejection."""
    row = lock_stream(session, chunk.stream_id)
    if row is None:
        row = _new_stream(chunk, trace_id)
        session.add(row)
    row.state = FAILED
    row.error = reason


def expire_stream(
    ctx: ServiceContext, config: IntakeConfig, session: Session, stream_id: str, now_s: float
) -> list[Outbound]:
    """End a stream that stopped short: GAP (final came, chunks missing) or TIMED_OUT (no final).

    What arrived in order before the gap is still transcribed; the chunks after it stay in the
    blob store, listed in the stream's row, so nothing is lost.
    """
    row = lock_stream(session, stream_id)
    if row is None or row.ended:
        return []
    assembly = row.load_assembly()
    state = assembly.state(now_s, config.gap_grace_s, config.stream_timeout_s)
    if state is StreamState.RECEIVING:
        return []
    segmenter = _segmenter_at(ctx, config, session, row, assembly.next_to_emit)
    cuts = segmenter.finish() if row.encoding == PCM else []
    _checkpoint(row, segmenter, assembly.next_to_emit, force=True)
    row.state = state.value
    row.error = f"missing chunks {assembly.missing()}" if state is StreamState.GAP else "no final chunk"
    row.store_assembly(assembly)
    log.warning("stream expired", stream_id=stream_id, state=state.value, error=row.error)
    return _publish(ctx, config, session, row, cuts, f"expire-{stream_id}", end_reason=state.value)


def receiving_stream_ids(session: Session) -> list[str]:
    return list(session.scalars(select(IngestStream.stream_id).where(IngestStream.state == "receiving")))


def stream_status(row: IngestStream) -> ingest_pb2.StreamStatus:
    return ingest_pb2.StreamStatus(
        stream_id=row.stream_id,
        recording_id=row.recording_id,
        state=STATE_TO_PROTO.get(row.state, ingest_pb2.STREAM_STATE_UNSPECIFIED),
        chunks_received=row.chunks_received,
        missing_sequences=row.load_assembly().missing(),
        segments_published=row.segments_published,
        duration_s=row.duration_s,
        error=row.error,
        original=original_ref(row) if row.original_uri else None,
    )
