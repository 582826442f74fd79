from typing import ClassVar, Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class AsrSettings(ServiceSettings):
    service_name: ClassVar[str] = "asr"
    model_config = SettingsConfigDict(env_prefix="ASR_")

    grpc_port: int = Field(50052, ge=0, le=65535)
    metrics_port: int = Field(9102, ge=-1, le=65535)
    # A slow decode must not look like a dead consumer. A poll takes up to 8 segments, so a
    # service that fell behind decodes a recording's waiting segments together (coalesce_max_s);
    # caught up, a poll holds one segment and each is drafted as soon as it comes.
    max_poll_records: int = Field(8, ge=1)
    max_poll_interval_ms: int = Field(600_000, ge=1000)
    # Longest audio (s, pauses between segments counted up to 2.5 s each) decoded in one Whisper
    # call when a recording's consecutive segments wait in one poll; 0: always one by one. On
    # 120 s of pyannote's sample, 4 segments one by one cost 18.4-19.0 s, one call 16.8 s.
    coalesce_max_s: float = Field(120.0, ge=0)
    # Longest wait (s) for the next segment of a burst when a poll's latest segment of a
    # recording says more follow at once (AudioSegment.more_queued: an upload, a stream sent
    # faster than real time), so the burst is decoded together; counted from the last segment
    # that came, up to max_poll_records; 0: never wait. Live streams never set it.
    burst_wait_s: float = Field(2.0, ge=0, le=30)

    whisper_model: str = "whisper-base"  # a name from `voxloop models catalog`
    device: Literal["cpu", "cuda", "auto"] = "cpu"
    compute_type: str = "int8"
    beam_size: int = Field(5, ge=1, le=20)
    cpu_threads: int = Field(0, ge=0)  # 0: CTranslate2's default (all cores)
    # Whole files (the Transcribe call): faster-whisper's BatchedInferencePipeline or plain
    # sequential decoding. Batched measured 1.6x faster on the 2-core CPU (results/
    # asr_benchmark_cpu.md) and its WER on pyannote's sample was 16.0% against 19.8%.
    whole_file_mode: Literal["sequential", "batched"] = "batched"
    batch_size: int = Field(8, ge=1, le=64)

    max_transcribe_s: float = Field(3600.0, gt=0)  # longest file the Transcribe call accepts
    diarize: bool = True
    diarization_device: Literal["cpu", "cuda"] = "cpu"
    torch_threads: int = Field(1, ge=1)  # more than one stalls on 2 cores next to CTranslate2
    speaker_link_threshold: float = Field(0.5, ge=-1, le=1)  # CAM++ cosine, same speaker above
