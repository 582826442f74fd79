"""The main job: a real recording streamed in chunks through all six services, traced hop by hop."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, TypeVar

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
from shared.stack.recordings import DemoRecording
from shared.topics import (
    AUDIO_CHUNKS,
    AUDIO_SEGMENTS,
    TRAINING_EXAMPLES,
    TRANSCRIPTS_DRAFT,
    TRANSCRIPTS_QA,
    TRANSCRIPTS_VALIDATED,
)

M = TypeVar("M", bound=Message)


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


def stream_sample_to_people(bootstrap: str, stream_id: str, timeout_s: float = 240.0) -> list[Received]:
    """pyannote's sample streamed in 0.5 s chunks as an English medical call (the gate sends every
    medical segment to people); returns once its verdicts are on transcripts.qa.v1."""
    context = common_pb2.RecordingContext(
        recording_id=stream_id, stream_id=stream_id, tenant_id="acme", domain="medical", language_hint="en"
    )
    publish(
        bootstrap,
        AUDIO_CHUNKS.name,
        speech_chunks(sample_recording().samples, stream_id, context=context),
        key=stream_id,
    )
    verdicts = collect(
        bootstrap,
        [TRANSCRIPTS_QA.name],
        lambda rs: any(segment_id_of(r.message).startswith(stream_id) for r in rs),
        timeout_s,
    )
    return [r for r in verdicts if segment_id_of(r.message).startswith(stream_id)]


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


V = TypeVar("V", transcripts_pb2.DraftTranscript, transcripts_pb2.ValidatedTranscript)


def _newest(messages: list[V]) -> list[V]:
    """The highest version of each segment, in segment order."""
    newest: dict[str, V] = {}
    for m in messages:
        if m.segment.segment_id not in newest or newest[m.segment.segment_id].version < m.version:
            newest[m.segment.segment_id] = m
    return sorted(newest.values(), key=lambda m: m.segment.index)


@dataclass(frozen=True)
class DemoRun:
    """What the flow published about the demo's recordings, and when each was sent."""

    recordings: list[DemoRecording]
    sent_at: dict[str, float]  # stream id -> when its first chunk was published (unix s)
    received: list[Received]

    def of(self, stream_id: str, cls: type[M]) -> list[M]:
        """The stream's messages of one type, as received."""
        mine = f"{stream_id}:"
        return [
            r.message
            for r in self.received
            if isinstance(r.message, cls) and segment_id_of(r.message).startswith(mine)
        ]

    def segments(self, stream_id: str) -> list[audio_pb2.AudioSegment]:
        return sorted(self.of(stream_id, audio_pb2.AudioSegment), key=lambda s: s.index)

    def drafts(self, stream_id: str) -> list[transcripts_pb2.DraftTranscript]:
        return _newest(self.of(stream_id, transcripts_pb2.DraftTranscript))

    def validated(self, stream_id: str) -> list[transcripts_pb2.ValidatedTranscript]:
        return _newest(self.of(stream_id, transcripts_pb2.ValidatedTranscript))

    def _times(self, stream_id: str, topic: str) -> list[float]:
        mine = f"{stream_id}:"
        return [
            r.received_at
            for r in self.received
            if r.topic == topic and segment_id_of(r.message).startswith(mine)
        ]

    def first_at(self, stream_id: str, topic: str) -> float | None:
        return min(self._times(stream_id, topic), default=None)

    def last_at(self, stream_id: str, topic: str) -> float | None:
        return max(self._times(stream_id, topic), default=None)

    @property
    def stream_id(self) -> str:
        return self.recordings[0].stream_id

    @property
    def first_segment_id(self) -> str:
        segments = self.segments(self.stream_id)
        return segments[0].segment_id if segments else ""


Progress = Callable[[list[Received]], None]


def _follow(
    bootstrap: str,
    stream_ids: Sequence[str],
    outputs: tuple[str, ...],
    timeout_s: float,
    on_update: Progress | None = None,
) -> list[Received]:
    """What the flow published about these streams, until ingest has sent each one's last segment
    and every voiced segment has arrived on each of ``outputs``."""
    prefixes = tuple(f"{s}:" for s in stream_ids)

    def mine(r: Received) -> bool:
        return segment_id_of(r.message).startswith(prefixes)

    def done_one(received: list[Received], prefix: str) -> bool:
        segments = [
            r.message
            for r in received
            if r.topic == AUDIO_SEGMENTS.name and segment_id_of(r.message).startswith(prefix)
        ]
        if not any(getattr(s, "last", False) for s in segments):
            return False
        voiced = {s.segment_id for s in segments if s.audio.uri}  # type: ignore[attr-defined]
        return all(
            voiced <= {segment_id_of(r.message) for r in received if r.topic == topic} for topic in outputs
        )

    def done(received: list[Received]) -> bool:
        if on_update is not None:
            on_update([r for r in received if mine(r)])
        return all(done_one(received, prefix) for prefix in prefixes)

    topics = list(dict.fromkeys([AUDIO_SEGMENTS.name, TRANSCRIPTS_DRAFT.name, *outputs]))
    return [r for r in collect(bootstrap, topics, done, timeout_s) if mine(r)]


def follow_recordings(
    bootstrap: str, stream_ids: Sequence[str], timeout_s: float, on_update: Progress | None = None
) -> list[Received]:
    """Until every voiced segment of these streams has its validated transcript and its example."""
    return _follow(
        bootstrap, stream_ids, (TRANSCRIPTS_VALIDATED.name, TRAINING_EXAMPLES.name), timeout_s, on_update
    )


def follow_recording(bootstrap: str, stream_id: str, timeout_s: float) -> list[Received]:
    """Until every voiced segment has its validated transcript and its training example."""
    return follow_recordings(bootstrap, [stream_id], timeout_s)


def follow_drafts(bootstrap: str, stream_id: str, timeout_s: float) -> list[Received]:
    """Until asr has drafted every voiced segment (when only ingest and asr run: evaluation,
    benchmark, tests)."""
    return _follow(bootstrap, [stream_id], (TRANSCRIPTS_DRAFT.name,), timeout_s)


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


def reference_answers(recordings: Sequence[DemoRecording]) -> Answer:
    """A linguist who knows every demo recording's reference: the task's recording picks it."""
    by_stream = {r.stream_id: reference_answer(r.reference) for r in recordings}

    def answer(task: dispatch_pb2.Task) -> str:
        return by_stream.get(task.context.recording_id, as_drafted)(task)

    return answer


def run_demo(
    bootstrap: str,
    recordings: Sequence[DemoRecording],
    timeout_s: float = 300.0,
    on_update: Progress | None = None,
) -> DemoRun:
    """Stream each recording in 0.5 s chunks, as live producers would, side by side, and follow
    them until every segment is validated (those the gate sends to people go through a crew)."""
    sent_at = {}
    for recording in recordings:
        chunks = speech_chunks(recording.samples, recording.stream_id, context=recording.context)
        sent_at[recording.stream_id] = time.time()
        publish(bootstrap, AUDIO_CHUNKS.name, chunks, key=recording.stream_id)
    received = follow_recordings(bootstrap, [r.stream_id for r in recordings], timeout_s, on_update)
    return DemoRun(list(recordings), sent_at, received)
