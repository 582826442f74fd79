"""`voxloop bench asr`: the services against bare faster-whisper, on the same audio, in one run.

Throughput is audio seconds per wall second. The bare library gets the whole recording in one
``WhisperModel.transcribe`` call with the service's decoding options; the services get the same
audio streamed as 0.5 s PCM16 chunks into audio.chunks.v1 (published as fast as the broker takes
them), or uploaded as one WAV file, and are timed from the first chunk sent to the last draft read
back from transcripts.draft.v1, so ingest's decoding, voice-activity cutting, the broker, the
databases and the outbox are all inside the measurement.

The ASR-only runs are interleaved: each round decodes with the bare library (sequential, then
batched) and then sends the audio through the running services (streamed, then uploaded), so a
bare round and a services round are minutes apart at most, never a whole phase. A shared
virtual machine's speed drifts with what the host takes from it (``shared.stack.usage``); every
round records that, and the CPU each process spent, and the report gives the ratio of the
medians beside the median of the rounds' own ratios. Diarization is measured on its own (bare
pyannote pipeline, and the services with it on). Latency: the audio is streamed at real-time pace
and each draft is timed from the moment the chunk holding its last word was sent.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import statistics
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import grpc
import numpy as np
from kafka import KafkaProducer
from numpy.typing import NDArray

from protos import audio_pb2, common_pb2, ingest_pb2, ingest_pb2_grpc, transcripts_pb2
from shared.audio import TARGET_RATE_HZ, to_wav
from shared.kafka import codec
from shared.stack import stack
from shared.stack.demo import follow_drafts, sample_recording, speech_chunks
from shared.stack.probe import Received
from shared.stack.processes import StackState
from shared.stack.usage import Usage, metered
from shared.topics import AUDIO_CHUNKS, AUDIO_SEGMENTS, TRANSCRIPTS_DRAFT

CHUNK_S = 0.5
Progress = Callable[[str], None]
BARE, BATCHED = "bare faster-whisper", "bare faster-whisper, batched"
STREAMED, UPLOADED = (
    "services, ASR only, streamed in 0.5 s chunks",
    "services, ASR only, uploaded as one file",
)


@dataclass(frozen=True)
class Measurement:
    name: str
    audio_s: float
    wall_s: float
    detail: str = ""

    @property
    def throughput(self) -> float:
        """Audio seconds per wall second (the inverse of the real-time factor)."""
        return self.audio_s / self.wall_s

    @property
    def rtf(self) -> float:
        return self.wall_s / self.audio_s


@dataclass(frozen=True)
class Round:
    """One round of one run (``number`` counts the interleaved rounds), with what the machine did
    meanwhile: CPU seconds the host stole, and CPU by process."""

    run: str
    number: int
    wall_s: float
    stolen_s: float
    stolen_share: float  # of all cores' time while it ran
    cpu_s: dict[str, float]

    @classmethod
    def of(cls, run: str, number: int, wall_s: float, usage: Usage) -> Round:
        cpu = {k: round(v, 2) for k, v in usage.cpu_s.items()}
        return cls(run, number, wall_s, round(usage.stolen_s, 2), round(usage.stolen_share, 3), cpu)


@dataclass
class BenchmarkReport:
    machine: dict[str, str]
    settings: dict[str, str]
    measurements: list[Measurement] = field(default_factory=list)
    rounds: list[Round] = field(default_factory=list)
    latency_s: list[float] = field(default_factory=list)

    def get(self, name: str) -> Measurement:
        return next(m for m in self.measurements if m.name == name)

    def ratios(self) -> dict[str, float]:
        """Throughput against bare sequential decoding: of the medians, and (``_paired``) the
        median over rounds of each round's ratio, both sides measured minutes apart."""
        bare = self.get(BARE).throughput
        out = {}
        for key, name in (
            ("services_asr_streamed_vs_bare", STREAMED),
            ("services_asr_uploaded_vs_bare", UPLOADED),
            ("batched_vs_sequential", BATCHED),
        ):
            if any(m.name == name for m in self.measurements):
                out[key] = self.get(name).throughput / bare
                paired = paired_ratios(self.rounds, BARE, name)
                if paired:
                    out[f"{key}_paired"] = statistics.median(paired)
        return out

    def latency(self) -> dict[str, float]:
        if not self.latency_s:
            return {}
        ordered = sorted(self.latency_s)
        p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
        return {"p50_s": statistics.median(ordered), "p95_s": p95, "max_s": ordered[-1], "n": len(ordered)}

    def to_json(self) -> dict[str, Any]:
        return {
            "machine": self.machine,
            "settings": self.settings,
            "measurements": [
                {**asdict(m), "throughput": round(m.throughput, 3), "rtf": round(m.rtf, 4)}
                for m in self.measurements
            ],
            "ratios": {k: round(v, 3) for k, v in self.ratios().items()},
            "rounds": [asdict(r) | {"wall_s": round(r.wall_s, 3)} for r in self.rounds],
            "latency_end_of_utterance_to_draft": {k: round(v, 3) for k, v in self.latency().items()},
            "latency_samples_s": [round(x, 3) for x in self.latency_s],
        }


def paired_ratios(rounds: list[Round], bare: str, other: str) -> list[float]:
    """Per round number holding both runs: bare wall / other wall (the same audio both sides,
    so the ratio of their throughputs)."""
    walls = {(r.run, r.number): r.wall_s for r in rounds}
    numbers = sorted({r.number for r in rounds})
    return [walls[bare, n] / walls[other, n] for n in numbers if (bare, n) in walls and (other, n) in walls]


def machine_facts(device: str) -> dict[str, str]:
    facts = {
        "host": platform.node(),
        "cpu": platform.processor() or platform.machine(),
        "cores": str(os.cpu_count()),
        "python": platform.python_version(),
        "device": device,
    }
    try:
        import ctranslate2

        facts["ctranslate2"] = ctranslate2.__version__
        facts["cuda_devices"] = str(ctranslate2.get_cuda_device_count())
    except Exception as exc:  # a machine without CUDA libraries still benchmarks on the CPU
        facts["ctranslate2"] = f"unavailable: {exc}"
    return facts


def bench_audio(repeats: int) -> NDArray[np.float32]:
    """pyannote's 30 s two-speaker call, ``repeats`` times in a row: real speech, long enough
    for steady-state numbers."""
    return np.concatenate([sample_recording().samples] * repeats)


class BareWhisper:
    """faster-whisper as a user of the library would run it: one model, the whole recording in
    one call, with the service's decoding options."""

    def __init__(self, model_path: Path, device: str, compute_type: str, beam_size: int) -> None:
        from faster_whisper import BatchedInferencePipeline, WhisperModel

        self.model = WhisperModel(str(model_path), device=device, compute_type=compute_type)
        self.batched = BatchedInferencePipeline(self.model)
        self.beam_size = beam_size

    def decode(self, audio: NDArray[np.float32], batch_size: int = 0) -> float:
        """Wall seconds of one decode of ``audio`` (``batch_size`` > 0: the batched pipeline)."""
        started = time.perf_counter()
        if batch_size:
            segments, _ = self.batched.transcribe(
                audio, beam_size=self.beam_size, word_timestamps=True, vad_filter=True, batch_size=batch_size
            )
        else:
            segments, _ = self.model.transcribe(
                audio, beam_size=self.beam_size, word_timestamps=True, vad_filter=True
            )
        for _ in segments:  # the generator decodes as it is consumed
            pass
        return time.perf_counter() - started


def median_of(name: str, audio_s: float, walls: list[float], detail: str = "") -> Measurement:
    rounds = ", ".join(f"{w:.2f}" for w in walls)
    note = f"median of {len(walls)} rounds ({rounds} s)" if len(walls) > 1 else ""
    return Measurement(name, audio_s, statistics.median(walls), "; ".join(x for x in (detail, note) if x))


def time_bare_diarization(audio: NDArray[np.float32], models_dir: Path | None, device: str) -> float:
    from services.asr.diarizer import Diarizer

    diarizer = Diarizer(models_dir, torch_threads=1 if device == "cpu" else 4, device=device)
    diarizer.diarize(audio[: TARGET_RATE_HZ * 10])  # warm-up
    started = time.perf_counter()
    diarizer.diarize(audio)
    return time.perf_counter() - started


def _send(producer: KafkaProducer, chunk: audio_pb2.AudioChunk) -> None:
    message_id = codec.new_id()
    producer.send(
        AUDIO_CHUNKS.name,
        key=chunk.stream_id.encode(),
        value=codec.encode(chunk),
        headers=codec.make_headers(chunk, message_id, message_id, "bench"),
    )


def stream_through_services(
    bootstrap: str, audio: NDArray[np.float32], stream_id: str, realtime: bool, timeout_s: float
) -> tuple[float, list[float], list[Received]]:
    """Stream chunks (at once, or paced like a live source); return the first send time, each
    chunk's send time, and what the services published about the stream."""
    chunks = speech_chunks(audio, stream_id, CHUNK_S)
    sent_at: list[float] = [0.0] * len(chunks)
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=0)

    def produce() -> None:
        start = time.time()
        for i, chunk in enumerate(chunks):
            if realtime:  # chunk i holds [i*0.5, (i+1)*0.5) s: a live source has it at its end
                time.sleep(max(0.0, start + (i + 1) * CHUNK_S - time.time()))
            _send(producer, chunk)
            if realtime:
                producer.flush()
            sent_at[i] = time.time()
        producer.flush()

    started = time.time()
    sender = threading.Thread(target=produce, daemon=True)
    sender.start()
    received = follow_drafts(bootstrap, stream_id, timeout_s)
    sender.join()
    producer.close()
    return started, sent_at, received


def upload_through_services(
    state: StackState, audio: NDArray[np.float32], stream_id: str, timeout_s: float
) -> tuple[float, list[float], list[Received]]:
    """The whole recording as one WAV file through IngestService.UploadRecording."""
    ingest = next(p for p in state.services if p.name == "ingest")
    metadata = (("authorization", f"Bearer {stack.admin_token(Path(state.home))}"),)
    request = ingest_pb2.UploadRecordingRequest(
        context=common_pb2.RecordingContext(recording_id=stream_id, stream_id=stream_id),
        data=to_wav(audio),
        mime_type="audio/wav",
    )

    def upload() -> None:
        with grpc.insecure_channel(f"127.0.0.1:{ingest.grpc_port}") as channel:
            ingest_pb2_grpc.IngestServiceStub(channel).UploadRecording(  # type: ignore[no-untyped-call]
                request, metadata=metadata, timeout=timeout_s
            )

    started = time.time()
    sender = threading.Thread(target=upload, daemon=True)
    sender.start()
    received = follow_drafts(state.bootstrap, stream_id, timeout_s)
    sender.join()
    return started, [], received


def utterance_latencies(sent_at: list[float], received: list[Received]) -> list[float]:
    """Per draft: read time minus the send time of the chunk that held its last word."""
    latencies = []
    for r in received:
        if r.topic != TRANSCRIPTS_DRAFT.name:
            continue
        draft: transcripts_pb2.DraftTranscript = r.message  # type: ignore[assignment]
        if not draft.segment.words:
            continue
        chunk = min(int(draft.segment.words[-1].end_s / CHUNK_S), len(sent_at) - 1)
        latencies.append(r.received_at - sent_at[chunk])
    return latencies


@contextmanager
def running_services(home: Path, audio: NDArray[np.float32], env: dict[str, str]) -> Iterator[StackState]:
    """Ingest + asr on fresh databases (a stream id seen before would be a duplicate), warmed up
    as the bare library is: consumer groups joined, first inference done."""
    shutil.rmtree(home, ignore_errors=True)
    state = stack.up(home, stack.StackPorts.free(), services=("ingest", "asr"), extra_env=env)
    try:
        warm_up = f"warm-up-{uuid.uuid4().hex[:8]}"
        stream_through_services(state.bootstrap, audio[: 10 * TARGET_RATE_HZ], warm_up, False, 300)
        yield state
    finally:
        stack.down(home)


def send_once(
    state: StackState, audio: NDArray[np.float32], mode: str, label: str, timeout_s: float
) -> tuple[float, list[float], str]:
    """One recording through the running services: ``mode`` "stream" (0.5 s chunks as fast as
    the broker takes them), "live" (at real-time pace) or "upload" (one UploadRecording call).
    Returns the wall seconds to the last draft, the utterance latencies and what came out."""
    stream_id = f"bench-{uuid.uuid4().hex[:12]}"
    if mode == "upload":
        started, sent_at, received = upload_through_services(state, audio, stream_id, timeout_s)
    else:
        started, sent_at, received = stream_through_services(
            state.bootstrap, audio, stream_id, mode == "live", timeout_s
        )
    drafts = [r for r in received if r.topic == TRANSCRIPTS_DRAFT.name]
    if not drafts:
        raise RuntimeError(f"{label}: no drafts arrived; see the logs in {Path(state.home) / 'logs'}")
    segments = len([r for r in received if r.topic == AUDIO_SEGMENTS.name])
    latencies = utterance_latencies(sent_at, received) if sent_at else []
    return (
        max(r.received_at for r in drafts) - started,
        latencies,
        f"{len(drafts)} drafts from {segments} segments",
    )


def services_run(
    home: Path, audio: NDArray[np.float32], env: dict[str, str], mode: str, label: str, timeout_s: float
) -> tuple[Measurement, list[float]]:
    """One recording through freshly started services (diarization on, live pace)."""
    with running_services(home, audio, env) as state:
        wall, latencies, detail = send_once(state, audio, mode, label, timeout_s)
    return Measurement(label, len(audio) / TARGET_RATE_HZ, wall, detail), latencies


def interleaved_rounds(
    bare: BareWhisper,
    state: StackState,
    audio: NDArray[np.float32],
    rounds: int,
    batch_size: int,
    progress: Progress,
) -> tuple[list[Round], dict[str, str]]:
    """Each round: bare sequential, bare batched, services streamed, services uploaded, back to
    back; the idle services' CPU is counted in the bare runs too. Returns every round and each
    services run's last detail."""
    roots = {p.name: p.pid for p in state.services} | {"broker": state.broker.pid, "benchmark": os.getpid()}
    out: list[Round] = []
    details: dict[str, str] = {}
    for n in range(rounds):
        for label, batch in ((BARE, 0), (BATCHED, batch_size)):
            progress(f"round {n + 1} of {rounds}: {label}")
            with metered(roots) as usage:
                wall = bare.decode(audio, batch)
            out.append(Round.of(label, n, wall, usage))
        for mode, label in (("stream", STREAMED), ("upload", UPLOADED)):
            progress(f"round {n + 1} of {rounds}: {label}")
            with metered(roots) as usage:
                wall, _, details[label] = send_once(state, audio, mode, label, 1800)
            out.append(Round.of(label, n, wall, usage))
    return out, details


def run_benchmark(
    out_dir: Path,
    work_dir: Path,
    repeats: int = 4,
    device: str = "cpu",
    diarization_device: str = "cpu",
    compute_type: str = "int8",
    beam_size: int = 5,
    batch_size: int = 8,
    latency_repeats: int = 6,
    rounds: int = 5,
    models_dir: Path | None = None,
    progress: Progress = lambda _: None,
) -> BenchmarkReport:
    """Every measurement of the ASR issue in one run, written to ``out_dir/asr_benchmark_<device>.*``."""
    from shared.models import locate

    audio = bench_audio(repeats)
    audio_s = len(audio) / TARGET_RATE_HZ
    model_path = locate("whisper-base", models_dir)
    report = BenchmarkReport(
        machine=machine_facts(device),
        settings={
            "model": "whisper-base (CTranslate2)",
            "device": device,
            "compute_type": compute_type,
            "beam_size": str(beam_size),
            "audio": f"pyannote sample x{repeats} ({audio_s:.0f} s)",
            "chunk_s": str(CHUNK_S),
            "diarization_device": diarization_device,
            "rounds": f"{rounds} interleaved (bare, batched, streamed, uploaded in each; medians reported)",
        },
    )
    env = {
        "ASR_DEVICE": device,
        "ASR_COMPUTE_TYPE": compute_type,
        "ASR_BEAM_SIZE": str(beam_size),
        "ASR_DIARIZATION_DEVICE": diarization_device,
        "VOXLOOP_LOG_LEVEL": "WARNING",
    }
    if models_dir is not None:
        env["VOXLOOP_MODELS_DIR"] = str(models_dir)

    progress("loading bare faster-whisper and starting ingest + asr (ASR only)")
    bare = BareWhisper(model_path, device, compute_type, beam_size)
    bare.decode(audio[: TARGET_RATE_HZ * 5])  # warm-up, as the services are warmed up
    with running_services(work_dir / "asr-only", audio, {**env, "ASR_DIARIZE": "false"}) as state:
        report.rounds, details = interleaved_rounds(bare, state, audio, rounds, batch_size, progress)
    del bare
    for label, detail in ((BARE, ""), (BATCHED, f"batch_size={batch_size}"), (STREAMED, ""), (UPLOADED, "")):
        walls = [r.wall_s for r in report.rounds if r.run == label]
        report.measurements.append(median_of(label, audio_s, walls, details.get(label, detail)))
    progress("bare diarization (pyannote + CAM++)")
    report.measurements.append(
        Measurement("bare diarization", audio_s, time_bare_diarization(audio, models_dir, diarization_device))
    )
    progress("ingest + asr services, ASR + diarization")
    measured, _ = services_run(
        work_dir / "with-diarization",
        audio,
        {**env, "ASR_DIARIZE": "true"},
        "stream",
        "services, ASR + diarization, streamed",
        1800,
    )
    report.measurements.append(measured)
    progress(f"latency: {latency_repeats * 30} s streamed at real-time pace")
    live = bench_audio(latency_repeats)
    measured, latencies = services_run(
        work_dir / "live",
        live,
        {**env, "ASR_DIARIZE": "true"},
        "live",
        "services, live stream (real-time pace)",
        1800,
    )
    report.measurements.append(measured)
    report.latency_s = latencies
    write_report(report, out_dir, device)
    return report


def write_report(report: BenchmarkReport, out_dir: Path, device: str) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = out_dir / f"asr_benchmark_{device}.json"
    json_path.write_text(json.dumps(report.to_json(), indent=2) + "\n")
    lines = [
        f"# ASR benchmark ({device})",
        "",
        "Machine: " + ", ".join(f"{k} {v}" for k, v in report.machine.items()),
        "",
        "Settings: " + ", ".join(f"{k} {v}" for k, v in report.settings.items()),
        "",
        "| run | audio s | wall s | throughput (audio s / wall s) | RTF | detail |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for m in report.measurements:
        lines.append(
            f"| {m.name} | {m.audio_s:.1f} | {m.wall_s:.2f} | {m.throughput:.2f} | {m.rtf:.3f} | {m.detail} |"
        )
    lines += [
        "",
        "Ratios of throughput against bare sequential decoding: of the medians above, and (`_paired`)"
        " the median of each round's own ratio.",
        "",
        "| ratio | value |",
        "|---|---:|",
    ]
    lines += [f"| {k} | {v:.3f} |" for k, v in report.ratios().items()]
    if report.rounds:
        names = sorted({k for r in report.rounds for k in r.cpu_s})
        lines += [
            "",
            "Every ASR-only round, in the order run. Stolen: CPU seconds the host took from this"
            " machine meanwhile (/proc/stat), and that as a share of all cores' time. CPU: seconds"
            " each process spent (the benchmark process runs the bare library, and the producer and"
            " reader for the services).",
            "",
            "| round | run | wall s | stolen CPU s | stolen share | "
            + " | ".join(f"CPU s {n}" for n in names)
            + " |",
            "|---:|---|---:|---:|---:|" + "---:|" * len(names),
        ]
        for r in report.rounds:
            cpu = " | ".join(f"{r.cpu_s.get(n, 0.0):.2f}" for n in names)
            stolen = f"{r.stolen_s:.1f} | {r.stolen_share:.2f}"
            lines.append(f"| {r.number + 1} | {r.run} | {r.wall_s:.2f} | {stolen} | {cpu} |")
    latency = report.latency()
    if latency:
        lines += [
            "",
            "Latency from the end of a streamed utterance (the chunk holding its last word sent) to its"
            f" draft read from transcripts.draft.v1: median {latency['p50_s']:.2f} s, 95th percentile"
            f" {latency['p95_s']:.2f} s, max {latency['max_s']:.2f} s over {latency['n']:.0f} drafts.",
        ]
    md_path = out_dir / f"asr_benchmark_{device}.md"
    md_path.write_text("\n".join(lines) + "\n")
    return json_path, md_path
