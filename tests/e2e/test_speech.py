"""Real speech through ingest and asr over the real broker: streams, uploads, gRPC, bad input.

The acceptance of the ASR issue: pyannote.audio's own sample (a real 30 s telephone
conversation) streamed in 0.5 s chunks into audio.chunks.v1 comes out as drafts with two
speakers; three languages end to end; every kind of bad input gets a precise reason.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import numpy as np
import pytest

from protos import asr_pb2, asr_pb2_grpc, audio_pb2, common_pb2, events_pb2, ingest_pb2, ingest_pb2_grpc
from services.asr.evaluation import normalise_text, wer
from shared.audio import TARGET_RATE_HZ, decode_container
from shared.stack import stack
from shared.stack.demo import follow_drafts, sample_recording, speech_chunks
from shared.stack.probe import Received, collect, publish
from shared.stack.processes import StackState
from shared.topics import AUDIO_CHUNKS, AUDIO_SEGMENTS, TRANSCRIPTS_DRAFT
from tests.audio_files import encode
from tests.e2e.conftest import grpc_port
from tests.samples import SPOKEN_TEXTS, pyannote_sample, synthesised_speech

pytestmark = pytest.mark.e2e

SAMPLE = sample_recording().samples
ENV = {
    "INGEST_GAP_GRACE_S": "2",
    "INGEST_STREAM_TIMEOUT_S": "25",  # long enough for the first test to look at a running stream
    "INGEST_MAX_RECORDING_S": "120",
    "INGEST_SWEEP_INTERVAL_S": "0.5",
}


@pytest.fixture(scope="module")
def speech_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackState]:
    """Only the two services under test: what they publish is what is checked."""
    home = tmp_path_factory.mktemp("stack")
    state = stack.up(home, stack.StackPorts.free(), services=("ingest", "asr"), extra_env=ENV)
    yield state
    stack.down(home)


def metadata_for(state: StackState) -> tuple[tuple[str, str]]:
    return (("authorization", f"Bearer {stack.admin_token(Path(state.home))}"),)


def drafts_of(received: list[Received]) -> list[common_pb2.TranscriptSegment]:
    drafts = [r.message.segment for r in received if r.topic == TRANSCRIPTS_DRAFT.name]  # type: ignore[attr-defined]
    return sorted(drafts, key=lambda s: s.index)


def follow(bootstrap: str, stream_id: str) -> list[Received]:
    return follow_drafts(bootstrap, stream_id, timeout_s=240)


def test_streamed_telephone_call_becomes_a_draft_with_two_speakers(speech_stack: StackState) -> None:
    # The call twice in a row (60 s): long enough for the default segmenting (a segment closes at
    # a pause once it is 20 s long) to publish a segment, and its draft, mid-stream.
    chunks = speech_chunks(np.concatenate([SAMPLE, SAMPLE]), "call-1")
    publish(speech_stack.bootstrap, AUDIO_CHUNKS.name, chunks[:80], key="call-1")  # the first 40 s
    early = collect(
        speech_stack.bootstrap,
        [TRANSCRIPTS_DRAFT.name],
        lambda rs: any(r.message.context.stream_id == "call-1" for r in rs),  # type: ignore[attr-defined]
        timeout_s=120,
    )
    assert early, "no draft while the stream was running"
    with grpc.insecure_channel(f"127.0.0.1:{grpc_port(speech_stack, 'ingest')}") as channel:
        running = ingest_pb2_grpc.IngestServiceStub(channel).GetStream(
            ingest_pb2.GetStreamRequest(stream_id="call-1"), metadata=metadata_for(speech_stack)
        )
    assert running.state == ingest_pb2.STREAM_STATE_RECEIVING
    publish(speech_stack.bootstrap, AUDIO_CHUNKS.name, chunks[80:], key="call-1")

    drafts = drafts_of(follow(speech_stack.bootstrap, "call-1"))
    words = [w for d in drafts for w in d.words]
    speakers = {w.speaker for w in words}
    assert len(speakers - {""}) == 2, f"speakers {speakers}"
    assert {d.language for d in drafts} == {"en"}
    assert all(d.language_probability > 0.5 for d in drafts)
    text = " ".join(d.text for d in drafts)
    reference = pyannote_sample().reference_text()
    result = wer(f"{reference} {reference}", text)
    assert result.wer <= 0.25, f"WER {result.wer:.3f}: {text}"
    for d in drafts:
        assert d.start_s <= d.words[0].start_s and d.words[-1].end_s <= d.end_s + 0.5
        assert d.avg_logprob < 0 and 0 <= d.no_speech_prob <= 1 and d.compression_ratio > 0
        assert all(0 <= w.probability <= 1 for w in d.words)
    times = [w.start_s for w in words]
    assert times == sorted(times)


def test_out_of_order_duplicated_chunks_give_the_same_draft(speech_stack: StackState) -> None:
    chunks = speech_chunks(SAMPLE[16_000 * 6 : 16_000 * 18], "shuffled")
    rng = np.random.default_rng(3)
    delivered = [chunks[i] for i in rng.permutation(len(chunks))] + chunks[:5]
    publish(speech_stack.bootstrap, AUDIO_CHUNKS.name, delivered, key="shuffled")
    text = " ".join(d.text for d in drafts_of(follow(speech_stack.bootstrap, "shuffled")))
    assert "new jersey" in normalise_text(text, "en")


def test_gap_and_timeout_are_explicit_end_states(speech_stack: StackState) -> None:
    gappy = [c for c in speech_chunks(SAMPLE[: 16_000 * 15], "gappy") if c.sequence != 20]
    endless = speech_chunks(SAMPLE[: 16_000 * 15], "endless")[:-1]
    publish(speech_stack.bootstrap, AUDIO_CHUNKS.name, gappy, key="gappy")
    publish(speech_stack.bootstrap, AUDIO_CHUNKS.name, endless, key="endless")
    ended = collect(
        speech_stack.bootstrap,
        [AUDIO_SEGMENTS.name],
        lambda rs: (
            {r.message.context.stream_id for r in rs if r.message.last}  # type: ignore[attr-defined]
            >= {"gappy", "endless"}
        ),
        timeout_s=60,
    )
    reasons = {r.message.context.stream_id: r.message.end_reason for r in ended if r.message.last}  # type: ignore[attr-defined]
    assert reasons["gappy"] == "gap" and reasons["endless"] == "timed_out"
    with grpc.insecure_channel(f"127.0.0.1:{grpc_port(speech_stack, 'ingest')}") as channel:
        stub = ingest_pb2_grpc.IngestServiceStub(channel)
        gap = stub.GetStream(
            ingest_pb2.GetStreamRequest(stream_id="gappy"), metadata=metadata_for(speech_stack)
        )
        timed_out = stub.GetStream(
            ingest_pb2.GetStreamRequest(stream_id="endless"), metadata=metadata_for(speech_stack)
        )
    assert gap.state == ingest_pb2.STREAM_STATE_GAP and list(gap.missing_sequences) == [20]
    assert timed_out.state == ingest_pb2.STREAM_STATE_TIMED_OUT


def test_bad_chunks_go_to_the_dead_letter_topic_with_their_reason(speech_stack: StackState) -> None:
    bad = {
        "bad-text": audio_pb2.AudioChunk(
            stream_id="bad-text",
            final=True,
            data=b"not audio " * 100,
            encoding=audio_pb2.AUDIO_ENCODING_CONTAINER,
        ),
        "bad-pcm": audio_pb2.AudioChunk(
            stream_id="bad-pcm",
            final=True,
            data=b"\x01\x02\x03",
            encoding=audio_pb2.AUDIO_ENCODING_PCM_S16LE,
            sample_rate_hz=16_000,
            channels=1,
        ),
        "bad-long": audio_pb2.AudioChunk(
            stream_id="bad-long",
            final=True,
            data=encode(np.zeros((1, 16_000 * 121), np.float32), TARGET_RATE_HZ, "flac", "flac"),
            encoding=audio_pb2.AUDIO_ENCODING_CONTAINER,
        ),
    }
    for stream_id, chunk in bad.items():
        publish(speech_stack.bootstrap, AUDIO_CHUNKS.name, [chunk], key=stream_id)
    letters = collect(
        speech_stack.bootstrap,
        [AUDIO_CHUNKS.dead_letter],
        lambda rs: len({r.message.key for r in rs} & {k.encode() for k in bad}) == len(bad),  # type: ignore[attr-defined]
        timeout_s=60,
    )
    reasons = {r.message.key.decode(): r.message.reason for r in letters}  # type: ignore[attr-defined]
    assert "not_audio" in reasons["bad-text"]
    assert "corrupt PCM16" in reasons["bad-pcm"]
    assert "too_long" in reasons["bad-long"]
    assert all(isinstance(r.message, events_pb2.DeadLetter) and r.message.value for r in letters)
    with grpc.insecure_channel(f"127.0.0.1:{grpc_port(speech_stack, 'ingest')}") as channel:
        status = ingest_pb2_grpc.IngestServiceStub(channel).GetStream(
            ingest_pb2.GetStreamRequest(stream_id="bad-text"), metadata=metadata_for(speech_stack)
        )
    assert status.state == ingest_pb2.STREAM_STATE_FAILED and "not_audio" in status.error


def test_upload_and_grpc_stream_take_the_same_path(speech_stack: StackState) -> None:
    mp3 = encode(np.repeat(SAMPLE[None], 2, axis=0), TARGET_RATE_HZ, "mp3", "libmp3lame")
    with grpc.insecure_channel(f"127.0.0.1:{grpc_port(speech_stack, 'ingest')}") as channel:
        stub = ingest_pb2_grpc.IngestServiceStub(channel)
        receipt = stub.UploadRecording(
            ingest_pb2.UploadRecordingRequest(
                context=common_pb2.RecordingContext(recording_id="upload-1", language_hint="en"),
                data=mp3,
                mime_type="audio/mpeg",
            ),
            metadata=metadata_for(speech_stack),
        )
        assert receipt.status.state == ingest_pb2.STREAM_STATE_COMPLETE
        assert receipt.status.original.channels == 2
        streamed = stub.StreamAudio(
            iter(speech_chunks(SAMPLE[16_000 * 6 : 16_000 * 18], "grpc-stream")),
            metadata=metadata_for(speech_stack),
        )
        assert streamed.status.state == ingest_pb2.STREAM_STATE_COMPLETE
        with pytest.raises(grpc.RpcError) as corrupt:
            stub.UploadRecording(
                ingest_pb2.UploadRecordingRequest(data=mp3[: len(mp3) // 50] + b"\xff" * 4096),
                metadata=metadata_for(speech_stack),
            )
        assert corrupt.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        with pytest.raises(grpc.RpcError) as empty:
            stub.UploadRecording(
                ingest_pb2.UploadRecordingRequest(data=b""), metadata=metadata_for(speech_stack)
            )
        assert empty.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "empty" in (
            empty.value.details() or ""
        )
    uploaded = drafts_of(follow(speech_stack.bootstrap, "upload-1"))
    assert len({w.speaker for d in uploaded for w in d.words} - {""}) == 2
    grpc_streamed = drafts_of(follow(speech_stack.bootstrap, "grpc-stream"))
    assert "new jersey" in normalise_text(" ".join(d.text for d in grpc_streamed), "en")


def test_transcribe_call_answers_for_a_single_file(speech_stack: StackState) -> None:
    wav = pyannote_sample().wav.read_bytes()
    with grpc.insecure_channel(f"127.0.0.1:{grpc_port(speech_stack, 'asr')}") as channel:
        stub = asr_pb2_grpc.AsrServiceStub(channel)
        reply = stub.Transcribe(
            asr_pb2.TranscribeRequest(data=wav, diarize=True),
            metadata=metadata_for(speech_stack),
            timeout=120,
        )
        with pytest.raises(grpc.RpcError) as bad:
            stub.Transcribe(
                asr_pb2.TranscribeRequest(data=b"\x00" * 100), metadata=metadata_for(speech_stack)
            )
    assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert reply.language == "en" and abs(reply.duration_s - 30.0) < 0.1
    assert wer(pyannote_sample().reference_text(), " ".join(s.text for s in reply.segments)).wer <= 0.22
    assert len({w.speaker for s in reply.segments for w in s.words} - {""}) == 2
    assert reply.provenance.model_name.startswith("faster-whisper/") and reply.provenance.model_version


@pytest.mark.parametrize("language", sorted(SPOKEN_TEXTS))
def test_other_languages_are_detected_and_transcribed(
    speech_stack: StackState, language: str, tmp_path: Path
) -> None:
    voice, text = SPOKEN_TEXTS[language]
    audio = decode_container(synthesised_speech(text, voice, tmp_path).read_bytes(), 60)
    stream_id = f"lang-{language}"
    publish(speech_stack.bootstrap, AUDIO_CHUNKS.name, speech_chunks(audio.samples, stream_id), key=stream_id)
    drafts = drafts_of(follow(speech_stack.bootstrap, stream_id))
    assert {d.language for d in drafts} == {language}
    result = wer(text, " ".join(d.text for d in drafts), language)
    assert result.wer <= 0.35, f"{language}: WER {result.wer:.3f}"
