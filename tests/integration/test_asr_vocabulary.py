"""A domain's approved vocabulary reaches the ASR service over the real broker, and that
domain's next draft (and re-decode) is decoded with the terms as hotwords.

Real whisper-base, a real SQLite database and the embedded broker; the speech is one sentence
synthesised with espeak-ng, with two invented brand names Whisper base mishears on its own.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest
from sqlalchemy import func, select

from protos import audio_pb2, common_pb2, events_pb2, transcripts_pb2
from services.asr.__main__ import MIGRATIONS, build
from services.asr.settings import AsrSettings
from services.asr.vocabulary import AsrVocabulary
from shared.audio import TARGET_RATE_HZ, decode_container, to_pcm16
from shared.db.tables import InboxEntry
from shared.kafka import codec
from shared.kafka.admin import ensure_topics
from shared.kafka.consumer import ConsumerConfig, ConsumerWorker, Handler, Inbound
from shared.kafka.outbox import make_producer
from shared.service import ServiceContext, build_context
from shared.settings import load_settings
from shared.topics import ASR_VOCABULARY, AUDIO_SEGMENTS, TRANSCRIPTS_REDECODE
from tests.samples import synthesised_speech

pytestmark = pytest.mark.integration

SENTENCE = "Please restart your Zentrix router and open the Quorvia app."


def segment(ctx: ServiceContext, wav: Path, recording_id: str, domain: str) -> audio_pb2.AudioSegment:
    samples = decode_container(wav.read_bytes(), 60.0).samples
    stored = ctx.blobs.put(to_pcm16(samples), suffix=".pcm")
    duration_s = len(samples) / TARGET_RATE_HZ
    return audio_pb2.AudioSegment(
        context=common_pb2.RecordingContext(
            recording_id=recording_id,
            stream_id=recording_id,
            tenant_id="t",
            language_hint="en",
            domain=domain,
        ),
        segment_id=f"{recording_id}:000000",
        start_s=0.0,
        end_s=duration_s,
        audio=common_pb2.AudioRef(
            uri=stored.uri,
            sha256=stored.sha256,
            encoding="pcm_s16le",
            sample_rate_hz=TARGET_RATE_HZ,
            channels=1,
            duration_s=duration_s,
            size_bytes=stored.size_bytes,
        ),
        speech_s=duration_s,
    )


def draft_of(
    ctx: ServiceContext, handler: Handler, topic: str, message: object
) -> transcripts_pb2.DraftTranscript:
    with ctx.sessions.begin() as session:
        (out,) = handler(session, Inbound(message, codec.new_id(), "t", topic, 0, 0, b"k"))
    assert isinstance(out.message, transcripts_pb2.DraftTranscript)
    return out.message


def test_a_vocabulary_update_puts_the_domains_terms_into_its_next_drafts(tmp_path: Path, broker: str) -> None:
    run = uuid.uuid4().hex[:8]
    domain = f"support-{run}"
    settings = load_settings(
        AsrSettings,
        data_dir=tmp_path,
        database_url=f"sqlite:///{tmp_path / 'asr.db'}",
        diarize=False,
        kafka_bootstrap=broker,
    )
    definition = build(settings)  # the service's own wiring: models and subscriptions
    ctx = build_context(settings, [MIGRATIONS])
    subscriptions = {s.topic: s for s in definition.subscriptions(ctx)}
    on_segment, on_redecode = (
        subscriptions[AUDIO_SEGMENTS.name].handler,
        subscriptions[TRANSCRIPTS_REDECODE.name].handler,
    )
    wav = synthesised_speech(SENTENCE, "en-us", tmp_path)

    before = draft_of(ctx, on_segment, AUDIO_SEGMENTS.name, segment(ctx, wav, f"rec-{run}-1", domain))
    assert "Zentrix" not in before.segment.text and "Quorvia" not in before.segment.text, before.segment.text
    assert before.provenance.parameters["vocabulary_version"] == "0"

    ensure_topics(broker, [ASR_VOCABULARY.name, ASR_VOCABULARY.name + ".dlq"])
    producer = make_producer(broker, "test")
    worker = ConsumerWorker(
        ConsumerConfig(bootstrap=broker, group_id=f"asr-{run}", service="asr", instance_id="0"),
        [subscriptions[ASR_VOCABULARY.name]],
        ctx.sessions,
    )
    worker.start()
    try:
        for version, terms in ((2, ["Zentrix", "Quorvia"]), (1, ["Stale"])):  # an older one arrives late
            update = events_pb2.VocabularyUpdate(
                domain=domain,
                language="en",
                version=version,
                terms=[events_pb2.VocabularyTerm(term=t, occurrences=3, recordings=2) for t in terms],
            )
            producer.send(
                ASR_VOCABULARY.name,
                key=domain.encode(),
                value=codec.encode(update),
                headers=codec.make_headers(update, f"{run}-v{version}", "t", "test"),
            )
        producer.flush()
        deadline = time.monotonic() + 60
        kept: tuple[int, list[str]] | None = None
        while time.monotonic() < deadline:
            time.sleep(0.5)
            with ctx.sessions() as session:
                row = session.get(AsrVocabulary, (domain, "en"))
                kept = (row.version, list(row.terms)) if row else None
            if kept and kept[0] == 2 and worker_done(ctx, run):
                break
    finally:
        worker.stop()
        producer.close()
    assert kept == (2, ["Zentrix", "Quorvia"])

    after = draft_of(ctx, on_segment, AUDIO_SEGMENTS.name, segment(ctx, wav, f"rec-{run}-2", domain))
    assert "Zentrix" in after.segment.text and "Quorvia" in after.segment.text, after.segment.text
    assert after.provenance.parameters["vocabulary_version"] == "2"
    assert after.provenance.parameters["hotwords"] == '"Zentrix, Quorvia"'
    # The safe re-decode of that domain's flagged draft uses the same vocabulary.
    redecoded = draft_of(
        ctx,
        on_redecode,
        TRANSCRIPTS_REDECODE.name,
        transcripts_pb2.RedecodeRequest(draft=before, profile="safe"),
    )
    assert redecoded.version == 2 and redecoded.provenance.parameters["vocabulary_version"] == "2"
    assert "Zentrix" in redecoded.segment.text, redecoded.segment.text
    # Another domain is decoded without it.
    other = draft_of(
        ctx, on_segment, AUDIO_SEGMENTS.name, segment(ctx, wav, f"rec-{run}-3", f"medical-{run}")
    )
    assert other.provenance.parameters["vocabulary_version"] == "0" and "Zentrix" not in other.segment.text


def worker_done(ctx: ServiceContext, run: str) -> bool:
    """Both updates handled (the stale one too), so the assertion sees the final state."""
    with ctx.sessions() as session:
        handled = session.scalar(
            select(func.count()).select_from(InboxEntry).where(InboxEntry.message_id.like(f"{run}-v%"))
        )
    return handled == 2
