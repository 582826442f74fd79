from __future__ import annotations

from pathlib import Path

import pytest

from protos import audio_pb2, transcripts_pb2
from shared.blobstore import BlobNotFound, LocalBlobStore
from shared.kafka import codec
from shared.kafka.consumer import InvalidMessage, require
from shared.topics import ALL_TOPICS, all_topic_names, message_type_for


def test_round_trip_with_headers() -> None:
    chunk = audio_pb2.AudioChunk(stream_id="s", sequence=3, data=b"\x00\x01")
    headers = codec.make_headers(chunk, "m1", "t1", "test")
    assert codec.header(headers, codec.MESSAGE_ID) == "m1"
    assert codec.header(headers, codec.TRACE_ID) == "t1"
    assert codec.decode("audio.chunks.v1", codec.encode(chunk), headers) == chunk


def test_decode_errors_say_what_was_wrong() -> None:
    with pytest.raises(codec.UndecodableMessage, match="empty value"):
        codec.decode("audio.chunks.v1", b"")
    with pytest.raises(codec.UndecodableMessage, match="not a valid voxloop.v1.AudioChunk"):
        codec.decode("audio.chunks.v1", b"\xff\xff\xff")
    draft = transcripts_pb2.DraftTranscript(version=1)
    wrong = codec.make_headers(draft, "m", "t", "p")
    with pytest.raises(codec.UndecodableMessage, match="carries voxloop.v1.AudioChunk"):
        codec.decode("audio.chunks.v1", codec.encode(draft), wrong)


def test_every_topic_has_a_dead_letter_topic_and_type() -> None:
    names = all_topic_names()
    assert len(names) == 2 * len(ALL_TOPICS) == 30
    assert message_type_for("transcripts.validated.v1.dlq").DESCRIPTOR.name == "DeadLetter"
    with pytest.raises(KeyError, match="unknown topic"):
        message_type_for("nope.v1")


def test_require_names_the_missing_field() -> None:
    segment = audio_pb2.AudioSegment(segment_id="x")
    require(segment, "segment_id")
    with pytest.raises(InvalidMessage, match=r"AudioSegment.context.recording_id is required"):
        require(segment, "segment_id", "context.recording_id")


def test_blob_store_is_content_addressed_and_confined(tmp_path: Path) -> None:
    store = LocalBlobStore.from_url(f"file://{tmp_path}/blobs")
    first = store.put(b"audio", ".wav")
    again = store.put(b"audio", ".wav")
    assert first == again and first.uri.endswith(".wav")
    assert store.get(first.uri) == b"audio"
    assert not list((tmp_path / "blobs").rglob(".tmp-*"))
    with pytest.raises(BlobNotFound):
        store.get((tmp_path / "elsewhere.wav").as_uri())
    with pytest.raises(ValueError, match="unsupported blob store URL"):
        LocalBlobStore.from_url("s3://bucket/x")
