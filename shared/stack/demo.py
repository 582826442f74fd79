"""The main job: a real recording streamed in chunks through all six services, traced hop by hop."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import grpc
import numpy as np
from google.protobuf.message import Message
from numpy.typing import NDArray

from protos import (
    annotate_pb2,
    annotate_pb2_grpc,
    asr_pb2,
    asr_pb2_grpc,
    audio_pb2,
    common_pb2,
    dispatch_pb2,
    dispatch_pb2_grpc,
    feedback_pb2,
    feedback_pb2_grpc,
    ingest_pb2,
    ingest_pb2_grpc,
    quality_pb2,
    quality_pb2_grpc,
    transcripts_pb2,
)
from services.dispatch.client import DispatchClient
from services.dispatch.simulate import Answer, CrewStats, as_drafted, enrol, run_crew
from shared.audio import TARGET_RATE_HZ, DecodedAudio, decode_container, to_pcm16
from shared.stack.probe import Received, collect, publish, segment_id_of
from shared.topics import (
    AUDIO_CHUNKS,
    AUDIO_SEGMENTS,
    TRAINING_EXAMPLES,
    TRANSCRIPTS_DRAFT,
    TRANSCRIPTS_VALIDATED,
)


def sample_recording() -> DecodedAudio:
    """pyannote.audio's own sample (30 s, two English speakers on the phone), found through the
    installed distribution's files: real speech for the demo without any download."""
    path = Path(str(metadata.distribution("pyannote.audio").locate_file("pyannote/audio/sample/sample.wav")))
    return decode_container(path.read_bytes(), max_duration_s=60.0)


def speech_chunks(
    samples: NDArray[np.float32],
    stream_id: str,
    chunk_s: float = 0.5,
    context: common_pb2.RecordingContext | None = None,
) -> list[audio_pb2.AudioChunk]:
    """16 kHz mono audio as a producer streams it: PCM16 chunks of ``chunk_s``, the last final."""
    step = int(chunk_s * TARGET_RATE_HZ)
    parts = [samples[i : i + step] for i in range(0, len(samples), step)]
    context = context or common_pb2.RecordingContext(
        recording_id=stream_id, tenant_id="demo", domain="general"
    )
    return [
        audio_pb2.AudioChunk(
            stream_id=stream_id,
            sequence=i,
            final=i == len(parts) - 1,
            data=to_pcm16(part),
            encoding=audio_pb2.AUDIO_ENCODING_PCM_S16LE,
            sample_rate_hz=TARGET_RATE_HZ,
            channels=1,
            context=context,
        )
        for i, part in enumerate(parts)
    ]


def demo_chunk(stream_id: str | None = None, domain: str = "general") -> audio_pb2.AudioChunk:
    """One short recording in one final chunk: 6 s of the sample ("Oh, hello. I didn't know you
    were there. Neither did I ..."), for tests of the plumbing that need a real draft quickly.
    ``domain`` picks the routing rule: "medical" always goes to a person."""
    stream_id = stream_id or f"demo-{uuid.uuid4().hex[:8]}"
    clip = sample_recording().samples[int(8.3 * TARGET_RATE_HZ) : int(14.3 * TARGET_RATE_HZ)]
    context = common_pb2.RecordingContext(
        recording_id=stream_id, tenant_id="demo", language_hint="en", domain=domain
    )
    return speech_chunks(clip, stream_id, chunk_s=len(clip) / TARGET_RATE_HZ, context=context)[0]


@dataclass(frozen=True)
class Hop:
    service: str
    rpc: str
    found: bool
    detail: str


def trace_hops(grpc_ports: dict[str, int], token: str, stream_id: str, segment_id: str) -> list[Hop]:
    """Ask each service, over its own gRPC API, what it recorded for the segment."""
    metadata = (("authorization", f"Bearer {token}"),)
    calls: list[tuple[str, str, Any, Message, str]] = [
        (
            "ingest",
            "GetStream",
            ingest_pb2_grpc.IngestServiceStub,
            ingest_pb2.GetStreamRequest(stream_id=stream_id),
            "GetStream",
        ),
        (
            "asr",
            "GetDraft",
            asr_pb2_grpc.AsrServiceStub,
            asr_pb2.GetDraftRequest(segment_id=segment_id),
            "GetDraft",
        ),
        (
            "quality",
            "GetVerdict",
            quality_pb2_grpc.QualityServiceStub,
            quality_pb2.GetVerdictRequest(segment_id=segment_id),
            "GetVerdict",
        ),
        (
            "dispatch",
            "GetTask",
            dispatch_pb2_grpc.DispatchServiceStub,
            dispatch_pb2.GetTaskRequest(segment_id=segment_id),
            "GetTask",
        ),
        (
            "annotate",
            "GetAnnotation",
            annotate_pb2_grpc.AnnotateServiceStub,
            annotate_pb2.GetAnnotationRequest(segment_id=segment_id),
            "GetAnnotation",
        ),
        (
            "feedback",
            "GetExample",
            feedback_pb2_grpc.FeedbackServiceStub,
            feedback_pb2.GetExampleRequest(segment_id=segment_id),
            "GetExample",
        ),
    ]
    hops = []
    for service, rpc, stub_cls, request, method in calls:
        with grpc.insecure_channel(f"127.0.0.1:{grpc_ports[service]}") as channel:
            stub = stub_cls(channel)
            try:
                reply: Message = getattr(stub, method)(request, metadata=metadata, timeout=5)
                hops.append(Hop(service, rpc, True, _summary(reply)))
            except grpc.RpcError as exc:
                hops.append(Hop(service, rpc, False, f"{exc.code().name}: {exc.details()}"))
    return hops


def _summary(message: Message) -> str:
    """A few telling fields of a reply, enum values by name."""
    keep = ("state", "route", "reasons", "pipeline", "split", "version", "chunks_received")
    parts = []
    for field, value in message.ListFields():
        if field.name not in keep:
            continue
        if field.enum_type is not None:
            value = field.enum_type.values_by_number[value].name
        elif field.name == "reasons":
            value = "; ".join(value)
        parts.append(f"{field.name}={value}")
    return ", ".join(parts) or message.DESCRIPTOR.name


@dataclass(frozen=True)
class DemoRun:
    stream_id: str
    segments: list[audio_pb2.AudioSegment]  # as ingest cut them
    drafts: list[transcripts_pb2.DraftTranscript]  # as asr transcribed them, in segment order
    received: list[Received]

    @property
    def first_segment_id(self) -> str:
        return self.segments[0].segment_id if self.segments else ""


def _follow(bootstrap: str, stream_id: str, outputs: tuple[str, ...], timeout_s: float) -> list[Received]:
    """What the flow published about one stream, until ingest has sent its last segment and every
    voiced segment has arrived on each of ``outputs``."""

    def mine(r: Received) -> bool:
        return segment_id_of(r.message).startswith(f"{stream_id}:")

    def done(received: list[Received]) -> bool:
        segments = [r.message for r in received if r.topic == AUDIO_SEGMENTS.name and mine(r)]
        if not any(getattr(s, "last", False) for s in segments):
            return False
        voiced = {s.segment_id for s in segments if s.audio.uri}  # type: ignore[attr-defined]
        return all(
            voiced <= {segment_id_of(r.message) for r in received if r.topic == topic} for topic in outputs
        )

    topics = list(dict.fromkeys([AUDIO_SEGMENTS.name, TRANSCRIPTS_DRAFT.name, *outputs]))
    return [r for r in collect(bootstrap, topics, done, timeout_s) if mine(r)]


def follow_recording(bootstrap: str, stream_id: str, timeout_s: float) -> list[Received]:
    """Until every voiced segment has its validated transcript and its training example."""
    return _follow(bootstrap, stream_id, (TRANSCRIPTS_VALIDATED.name, TRAINING_EXAMPLES.name), timeout_s)


def follow_drafts(bootstrap: str, stream_id: str, timeout_s: float) -> list[Received]:
    """Until asr has drafted every voiced segment (when only ingest and asr run: evaluation,
    benchmark, tests)."""
    return _follow(bootstrap, stream_id, (TRANSCRIPTS_DRAFT.name,), timeout_s)


def reference_answer(reference: Sequence[tuple[float, float, str]], fallback: Answer = as_drafted) -> Answer:
    """A linguist who knows the reference transcript: (start_s, end_s, text) turns in recording
    time; a task gets the turns whose middle falls inside its segment."""

    def answer(task: dispatch_pb2.Task) -> str:
        seg = task.segment
        picked = [text for start, end, text in reference if seg.start_s <= (start + end) / 2 < seg.end_s]
        return " ".join(picked) or fallback(task)

    return answer


@contextmanager
def linguist_crew(
    dispatch_target: str, admin_token: str, answer: Answer = as_drafted, prefix: str = "sim"
) -> Iterator[CrewStats]:
    """An annotator and a reviewer (every language) working the dispatch queue in the
    background, through the client library, until the block ends. One annotator on purpose: of
    a double-blind pair only one half gets done, so each segment is corrected (and validated)
    once, which is what the end-to-end tests count."""
    admin = DispatchClient(dispatch_target, admin_token)
    crew = [
        enrol(admin, dispatch_target, f"{prefix}-annotator", ["annotator"], ["*"], answer=answer),
        enrol(admin, dispatch_target, f"{prefix}-reviewer", ["reviewer"], ["*"]),
    ]
    admin.close()
    stop = threading.Event()
    stats = CrewStats()
    worker = threading.Thread(
        target=run_crew, args=(crew, stop.is_set, 86_400.0), kwargs={"stats": stats}, name="crew", daemon=True
    )
    worker.start()
    try:
        yield stats
    finally:
        stop.set()
        worker.join(30)
        for person in crew:
            person.client.close()


def sample_reference() -> list[tuple[float, float, str]]:
    from services.asr.eval_sample import SampleReference

    return [(s.start_s, s.end_s, s.text) for s in SampleReference.load().segments]


def run_demo(bootstrap: str, timeout_s: float = 180.0) -> DemoRun:
    """Stream pyannote's sample in 0.5 s chunks, as a live producer would, and follow it until
    every segment is validated (those the gate sends to people go through a linguist crew)."""
    stream_id = f"demo-{uuid.uuid4().hex[:8]}"
    chunks = speech_chunks(sample_recording().samples, stream_id)
    publish(bootstrap, AUDIO_CHUNKS.name, chunks, key=stream_id)
    received = follow_recording(bootstrap, stream_id, timeout_s)
    segments = [r.message for r in received if isinstance(r.message, audio_pb2.AudioSegment)]
    drafts = [r.message for r in received if isinstance(r.message, transcripts_pb2.DraftTranscript)]
    return DemoRun(
        stream_id,
        sorted(segments, key=lambda s: s.index),
        sorted(drafts, key=lambda d: d.segment.index),
        received,
    )
