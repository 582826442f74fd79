"""The main job at this stage: one recording chunk through all six services, traced hop by hop."""

from __future__ import annotations

import math
import struct
import uuid
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf.message import Message

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
)
from services.ingest.handler import segment_id_for
from shared.stack.probe import Received, collect, publish, segment_id_of
from shared.topics import AUDIO_CHUNKS, TRAINING_EXAMPLES, TRANSCRIPTS_VALIDATED


def tone_pcm16(seconds: float = 1.0, hz: float = 440.0, rate: int = 16_000) -> bytes:
    """A plain tone; real speech arrives with the ASR issue."""
    n = int(seconds * rate)
    return struct.pack(f"<{n}h", *(int(8000 * math.sin(2 * math.pi * hz * i / rate)) for i in range(n)))


def demo_chunk(stream_id: str | None = None) -> audio_pb2.AudioChunk:
    stream_id = stream_id or f"demo-{uuid.uuid4().hex[:8]}"
    return audio_pb2.AudioChunk(
        stream_id=stream_id,
        sequence=0,
        final=True,
        data=tone_pcm16(),
        encoding=audio_pb2.AUDIO_ENCODING_PCM_S16LE,
        sample_rate_hz=16_000,
        channels=1,
        context=common_pb2.RecordingContext(
            recording_id=stream_id, tenant_id="demo", language_hint="en", domain="general"
        ),
    )


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


def run_demo(bootstrap: str, timeout_s: float = 60.0) -> tuple[audio_pb2.AudioChunk, list[Received]]:
    """Publish one chunk; wait for its validated transcript and its training example."""
    chunk = demo_chunk()
    segment_id = segment_id_for(chunk.stream_id, chunk.sequence)
    publish(bootstrap, AUDIO_CHUNKS.name, [chunk], key=chunk.stream_id)

    def arrived(received: list[Received]) -> bool:
        topics = {r.topic for r in received if segment_id_of(r.message) == segment_id}
        return {TRANSCRIPTS_VALIDATED.name, TRAINING_EXAMPLES.name} <= topics

    received = collect(bootstrap, [TRANSCRIPTS_VALIDATED.name, TRAINING_EXAMPLES.name], arrived, timeout_s)
    return chunk, received
