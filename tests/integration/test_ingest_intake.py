"""Ingest's intake on real speech, a real database (SQLite and PostgreSQL) and the real VAD:
order, duplicates, gaps, timeouts, every accepted format, and every kind of bad input."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import text

from protos import audio_pb2, ingest_pb2
from services.ingest.__main__ import MIGRATIONS
from services.ingest.intake import (
    SEGMENTERS,
    ChunkRejected,
    IntakeConfig,
    expire_stream,
    mark_failed,
    receive_chunk,
    receive_chunks,
    stream_status,
)
from services.ingest.reassembly import ChunkOutcome, StreamAssembly
from services.ingest.settings import IngestSettings
from services.ingest.streams import IngestStream
from shared.audio import TARGET_RATE_HZ, from_pcm16
from shared.db.engine import make_engine
from shared.db.migrate import upgrade
from shared.service import ServiceContext, build_context
from shared.stack.demo import sample_recording, speech_chunks
from tests.audio_files import encode, resampled

pytestmark = pytest.mark.integration

SAMPLE = sample_recording().samples


@pytest.fixture
def ctx(tmp_path: Path, db_url: str) -> ServiceContext:
    settings = IngestSettings(data_dir=tmp_path / "data", database_url=db_url)
    return build_context(settings, [MIGRATIONS])


@pytest.fixture
def config() -> IntakeConfig:
    return IntakeConfig.from_settings(IngestSettings(stream_timeout_s=60, gap_grace_s=5))


def send(
    ctx: ServiceContext, config: IntakeConfig, chunk: audio_pb2.AudioChunk, now_s: float | None = None
) -> tuple[ChunkOutcome, list[audio_pb2.AudioSegment]]:
    with ctx.unit_of_work() as (session, outbound):
        outcome, out = receive_chunk(ctx, config, session, chunk, "trace", "msg", now_s)
        outbound.extend(out)
    return outcome, [o.message for o in out]  # type: ignore[misc]


def send_all(
    ctx: ServiceContext, config: IntakeConfig, chunks: Iterable[audio_pb2.AudioChunk]
) -> list[audio_pb2.AudioSegment]:
    return [s for c in chunks for s in send(ctx, config, c)[1]]


def status(ctx: ServiceContext, stream_id: str) -> ingest_pb2.StreamStatus:
    with ctx.sessions() as session:
        row = session.get(IngestStream, stream_id)
        assert row is not None
        return stream_status(row)


def spans(segments: list[audio_pb2.AudioSegment]) -> list[tuple[float, float]]:
    return [(round(s.start_s, 3), round(s.end_s, 3)) for s in segments if s.audio.uri]


def test_streamed_speech_is_cut_on_pauses_and_published_while_running(
    ctx: ServiceContext, config: IntakeConfig
) -> None:
    twice = np.concatenate([SAMPLE, SAMPLE])  # 60 s: the default 20 s minimum closes one mid-stream
    chunks = speech_chunks(twice, "live")
    before_final = send_all(ctx, config, chunks[:-1])
    assert before_final, "segments must be published while the stream is still running"
    assert status(ctx, "live").state == ingest_pb2.STREAM_STATE_RECEIVING
    segments = before_final + send(ctx, config, chunks[-1])[1]

    assert [s.index for s in segments] == list(range(len(segments)))
    assert segments[-1].last and segments[-1].end_reason == "complete"
    assert not any(s.last for s in segments[:-1])
    voiced = [s for s in segments if s.audio.uri]
    assert all(s.end_s - s.start_s <= config.segmenter.max_segment_s + 1e-6 for s in voiced)
    assert all(a.end_s <= b.start_s for a, b in zip(voiced, voiced[1:], strict=False))
    # The reference transcript's speech (6.7 s to the end) is covered.
    assert voiced[0].start_s < 6.8 and voiced[-1].end_s > 58.0
    for s in voiced:  # each segment's stored audio is exactly the stream's audio there
        audio = from_pcm16(ctx.blobs.get(s.audio.uri))
        assert s.audio.sample_rate_hz == TARGET_RATE_HZ and s.audio.channels == 1
        start = round(s.start_s * TARGET_RATE_HZ)
        np.testing.assert_allclose(audio, twice[start : start + len(audio)], atol=1 / 16_000)

    final = status(ctx, "live")
    assert final.state == ingest_pb2.STREAM_STATE_COMPLETE
    assert final.chunks_received == len(chunks) and final.segments_published == len(segments)
    assert abs(final.duration_s - len(twice) / TARGET_RATE_HZ) < 0.01
    original = b"".join(c.data for c in chunks)
    assert ctx.blobs.get(final.original.uri) == original, "the recording as received is kept"


def test_segments_say_when_more_of_their_recording_follows_at_once(
    ctx: ServiceContext, config: IntakeConfig
) -> None:
    """``more_queued``: on every cut of a file but its last; on a stream's cuts while its audio
    runs ahead of the clock (sent faster than real time) or the caller says input waits behind
    them; never on a live stream that is caught up, nor on a last segment."""
    three = np.concatenate([SAMPLE, SAMPLE, SAMPLE])
    upload = audio_pb2.AudioChunk(
        stream_id="file",
        final=True,
        data=encode(three[None], TARGET_RATE_HZ, "wav", "pcm_s16le"),
        encoding=audio_pb2.AUDIO_ENCODING_CONTAINER,
    )
    whole = send(ctx, config, upload)[1]
    assert len(whole) >= 3 and whole[-1].last
    assert [s.more_queued for s in whole] == [True] * (len(whole) - 1) + [False]

    def stream(stream_id: str, paced: bool, queued: bool) -> list[audio_pb2.AudioSegment]:
        """Chunk n at 0.5 (n + 1) s after the start when ``paced`` (a live source), else now;
        the segments cut before the final chunk in ``cut_before_final``."""
        out: list[audio_pb2.AudioSegment] = []
        chunks = speech_chunks(three, stream_id)
        started = time.time()
        for n, chunk in enumerate(chunks):
            cut_before_final[:] = out
            now_s = started + 0.5 * (n + 1) if paced else None
            with ctx.unit_of_work() as (session, outbound):
                published = receive_chunks(
                    ctx, config, session, [chunk], "t", "m", now_s, queued=queued and n < len(chunks) - 1
                )[1]
                outbound.extend(published)
            out += [o.message for o in published]  # type: ignore[misc]
        return out

    cut_before_final: list[audio_pb2.AudioSegment] = []
    live = stream("live", paced=True, queued=False)
    assert cut_before_final and not any(s.more_queued for s in cut_before_final), "caught up"
    for burst in (stream("fast", paced=False, queued=False), stream("behind", paced=True, queued=True)):
        assert spans(burst) == spans(live)
        assert [s.more_queued for s in burst] == [True] * (len(burst) - 1) + [False]


def test_out_of_order_and_duplicate_chunks_give_the_same_segments(
    ctx: ServiceContext, config: IntakeConfig
) -> None:
    in_order = send_all(ctx, config, speech_chunks(SAMPLE, "ordered"))
    chunks = speech_chunks(SAMPLE, "shuffled")
    rng = random.Random(7)
    delivered = chunks + rng.sample(chunks, 12)  # a dozen redeliveries
    rng.shuffle(delivered)
    outcomes = []
    segments = []
    for chunk in delivered:
        outcome, out = send(ctx, config, chunk)
        outcomes.append(outcome)
        segments += out
    assert outcomes.count(ChunkOutcome.DUPLICATE) == 12
    assert spans(segments) == spans(in_order)
    assert status(ctx, "shuffled").state == ingest_pb2.STREAM_STATE_COMPLETE


def test_conflicting_and_late_chunks_are_rejected_with_reasons(
    ctx: ServiceContext, config: IntakeConfig
) -> None:
    chunks = speech_chunks(SAMPLE[: 16_000 * 3], "conflict")
    send(ctx, config, chunks[0])
    changed = audio_pb2.AudioChunk()
    changed.CopyFrom(chunks[0])
    changed.data = bytes(len(changed.data))
    with pytest.raises(ChunkRejected, match="conflict") as conflict:
        send(ctx, config, changed)
    assert conflict.value.kind == "conflict" and not conflict.value.fails_stream
    send_all(ctx, config, chunks[1:])
    with pytest.raises(ChunkRejected, match="late|after_final") as late:
        send(ctx, config, speech_chunks(SAMPLE[: 16_000 * 4], "conflict")[-1])
    assert late.value.kind == "late"


def test_a_missing_chunk_is_reported_as_a_gap(ctx: ServiceContext, config: IntakeConfig) -> None:
    chunks = speech_chunks(SAMPLE, "gappy")
    segments = send_all(ctx, config, [c for c in chunks if c.sequence != 30])
    now = time.time()  # the last chunk's arrival: the grace period runs from here
    assert status(ctx, "gappy").state == ingest_pb2.STREAM_STATE_RECEIVING  # waiting for chunk 30
    assert list(status(ctx, "gappy").missing_sequences) == [30]
    with ctx.unit_of_work() as (session, outbound):
        outbound += expire_stream(ctx, config, session, "gappy", now + config.gap_grace_s + 1)
        expired = [o.message for o in outbound]
    gap = status(ctx, "gappy")
    assert gap.state == ingest_pb2.STREAM_STATE_GAP and list(gap.missing_sequences) == [30]
    assert "30" in gap.error
    last = expired[-1]
    assert last.last and last.end_reason == "gap"  # type: ignore[attr-defined]
    # What came before the gap was transcribable; nothing after it is passed off as silence.
    assert all(s.end_s <= 15.0 + 1e-6 for s in segments + expired)  # type: ignore[attr-defined]
    with pytest.raises(ChunkRejected):
        send(ctx, config, chunks[30])


def test_a_stream_that_never_ends_times_out(ctx: ServiceContext, config: IntakeConfig) -> None:
    chunks = speech_chunks(SAMPLE[: 16_000 * 12], "endless")
    now = time.time()
    send_all(ctx, config, chunks[:-1])  # the final chunk never comes
    with ctx.unit_of_work() as (session, outbound):
        assert expire_stream(ctx, config, session, "endless", now + 1) == []  # not yet
    with ctx.unit_of_work() as (session, outbound):
        outbound += expire_stream(ctx, config, session, "endless", now + config.stream_timeout_s + 1)
        expired = [o.message for o in outbound]
    assert status(ctx, "endless").state == ingest_pb2.STREAM_STATE_TIMED_OUT
    assert expired[-1].last and expired[-1].end_reason == "timed_out"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("fmt", "codec", "rate", "channels"),
    [
        ("wav", "pcm_s16le", 44_100, 2),
        ("flac", "flac", 22_050, 1),
        ("mp3", "libmp3lame", 44_100, 2),
        ("ogg", "libopus", 48_000, 1),
        ("ipod", "aac", 8_000, 1),  # .m4a
    ],
)
def test_every_container_becomes_the_same_segments(
    ctx: ServiceContext, config: IntakeConfig, fmt: str, codec: str, rate: int, channels: int
) -> None:
    audio = resampled(SAMPLE, TARGET_RATE_HZ, rate)
    data = encode(np.repeat(audio[None], channels, axis=0), rate, fmt, codec)
    # Split into three chunks: a container is decoded once all of it is in.
    third = len(data) // 3 + 1
    parts = [data[i : i + third] for i in range(0, len(data), third)]
    chunks = [
        audio_pb2.AudioChunk(
            stream_id=f"file-{fmt}",
            sequence=i,
            final=i == len(parts) - 1,
            data=part,
            encoding=audio_pb2.AUDIO_ENCODING_CONTAINER,
        )
        for i, part in enumerate(parts)
    ]
    segments = send_all(ctx, config, reversed(chunks))
    voiced = [s for s in segments if s.audio.uri]
    assert voiced and segments[-1].last
    assert voiced[0].start_s < 7.0 and voiced[-1].end_s > 27.0
    final = status(ctx, f"file-{fmt}")
    assert final.state == ingest_pb2.STREAM_STATE_COMPLETE
    assert abs(final.duration_s - 30.0) < 0.2
    assert final.original.sample_rate_hz == rate and final.original.channels == channels
    assert ctx.blobs.get(final.original.uri) == data


def chunk_of(
    data: bytes, encoding: int = audio_pb2.AUDIO_ENCODING_CONTAINER, **fields: int
) -> audio_pb2.AudioChunk:
    return audio_pb2.AudioChunk(
        stream_id="bad", sequence=0, final=True, data=data, encoding=encoding, **fields
    )  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("chunk", "kind", "message", "fails_stream"),
    [
        (chunk_of(b""), "invalid", "data is empty", False),
        (
            chunk_of(b"\x01\x02\x03", audio_pb2.AUDIO_ENCODING_PCM_S16LE, sample_rate_hz=16_000, channels=1),
            "audio",
            "corrupt PCM16",
            True,
        ),
        (chunk_of(b"\x00\x00", audio_pb2.AUDIO_ENCODING_PCM_S16LE), "invalid", "sample_rate_hz", False),
        (chunk_of(b"\x00\x00", audio_pb2.AUDIO_ENCODING_UNSPECIFIED), "invalid", "encoding", False),
        (
            chunk_of(b"Dear linguist, this is a text file and not audio at all." * 20),
            "audio",
            "not_audio",
            True,
        ),
        (chunk_of(b"RIFF\x24\x08\x00\x00WAVEfmt " + bytes(range(256)) * 8), "audio", "not_audio", True),
    ],
    ids=["empty", "odd-pcm", "pcm-without-rate", "no-encoding", "text-file", "corrupt-wav"],
)
def test_bad_input_is_rejected_precisely_and_fails_only_its_stream(
    ctx: ServiceContext,
    config: IntakeConfig,
    chunk: audio_pb2.AudioChunk,
    kind: str,
    message: str,
    fails_stream: bool,
) -> None:
    with pytest.raises(ChunkRejected, match=message) as rejected:
        send(ctx, config, chunk)
    assert rejected.value.kind == kind and rejected.value.fails_stream is fails_stream
    if fails_stream:
        with ctx.unit_of_work() as (session, _):
            mark_failed(session, chunk, "trace", str(rejected.value))
        failed = status(ctx, "bad")
        assert failed.state == ingest_pb2.STREAM_STATE_FAILED and str(rejected.value) == failed.error
    # Another stream is not disturbed.
    assert send_all(ctx, config, speech_chunks(SAMPLE[16_000 * 6 : 16_000 * 15], "fine"))


def test_too_long_recordings_are_rejected(ctx: ServiceContext) -> None:
    short = IntakeConfig.from_settings(IngestSettings(max_recording_s=10))
    with pytest.raises(ChunkRejected, match="too_long|longer than") as rejected:
        send_all(ctx, short, speech_chunks(SAMPLE, "long"))
    assert rejected.value.fails_stream
    wav = encode(SAMPLE[None], TARGET_RATE_HZ, "wav", "pcm_s16le")
    with pytest.raises(ChunkRejected, match="too_long"):
        send(ctx, short, chunk_of(wav))


def test_a_restart_mid_stream_rebuilds_the_segmenter_and_cuts_the_same(
    ctx: ServiceContext, config: IntakeConfig
) -> None:
    """The in-memory segmenter is only a cache: lost (a restart, another replica), it is rebuilt
    from the database checkpoint plus the chunks in the blob store, and nothing changes."""
    twice = np.concatenate([SAMPLE, SAMPLE])
    reference = spans(send_all(ctx, config, speech_chunks(twice, "steady")))
    chunks = speech_chunks(twice, "restarted")
    segments = []
    for i, chunk in enumerate(chunks):
        if i in (37, 61, 90):  # between checkpoints, after a cut, anywhere
            SEGMENTERS.clear()  # what a new process starts with
        segments += send(ctx, config, chunk)[1]
    assert spans(segments) == reference
    assert [s.index for s in segments] == list(range(len(segments)))


def test_a_rolled_back_chunk_does_not_leave_the_cache_ahead(
    ctx: ServiceContext, config: IntakeConfig
) -> None:
    chunks = speech_chunks(SAMPLE, "rollback")
    send_all(ctx, config, chunks[:10])
    with pytest.raises(RuntimeError), ctx.unit_of_work() as (session, _):
        receive_chunk(ctx, config, session, chunks[10], "trace", "msg")
        raise RuntimeError("the handler failed after intake: the transaction rolls back")
    reference = spans(send_all(ctx, config, speech_chunks(SAMPLE, "clean")))
    assert spans(send_all(ctx, config, chunks[10:])) == reference


def test_streams_from_before_the_chunk_table_carry_over(db_url: str) -> None:
    """Migration 0102 moves the digests and blob URIs kept in a stream's row into one row per chunk."""
    engine = make_engine(db_url)
    upgrade(engine, [MIGRATIONS], target="0101_ingest_streams")
    old_assembly = {
        "digests": {"0": "a" * 64, "1": "b" * 64, "3": "d" * 64},
        "final_sequence": 3,
        "next_to_emit": 2,
        "last_chunk_at_s": 5.0,
        "ended": None,
    }
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO ingest_streams VALUES (:s, 'r', 't', :ctx, 1, 16000, 1, '', 'receiving', '',"
                " :a, :u, NULL, 0, 3, 0, 1.0, '', '', :now, :now)"
            ),
            {
                "s": "old",
                "ctx": b"",
                "a": json.dumps(old_assembly),
                "now": "2026-11-23 00:00:00+00:00",
                "u": json.dumps({"0": "file:///a", "1": "file:///b", "3": "file:///d"}),
            },
        )
    upgrade(engine, [MIGRATIONS])
    with engine.connect() as conn:
        chunks = conn.execute(text("SELECT sequence, sha256, uri FROM ingest_chunks ORDER BY sequence")).all()
        (assembly,) = conn.execute(text("SELECT assembly FROM ingest_streams")).one()
    assert [tuple(c) for c in chunks] == [
        (0, "a" * 64, "file:///a"),
        (1, "b" * 64, "file:///b"),
        (3, "d" * 64, "file:///d"),
    ]
    assembly = json.loads(assembly) if isinstance(assembly, str) else assembly
    assert assembly["pending"] == [3] and assembly["highest"] == 3 and "digests" not in assembly
    assert StreamAssembly.from_dict("old", assembly).missing() == [2]
