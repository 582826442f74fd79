from typing import ClassVar

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class IngestSettings(ServiceSettings):
    service_name: ClassVar[str] = "ingest"
    model_config = SettingsConfigDict(env_prefix="INGEST_")

    grpc_port: int = Field(50051, ge=0, le=65535)
    metrics_port: int = Field(9101, ge=-1, le=65535)

    max_recording_s: float = Field(4 * 3600.0, gt=0)  # longer recordings are rejected as too long
    # A stream without its final chunk for this long is TIMED_OUT; a stream whose final chunk came
    # but with chunks missing before it waits gap_grace_s for them, then is a GAP.
    stream_timeout_s: float = Field(300.0, gt=0)
    gap_grace_s: float = Field(30.0, ge=0)
    sweep_interval_s: float = Field(1.0, gt=0)

    # Cutting on pauses (Silero VAD, bundled with faster-whisper). Long segments keep Whisper
    # efficient (every decode pads to a 30 s window); short ones give live drafts sooner.
    vad_threshold: float = Field(0.5, gt=0, lt=1)
    # 0.3 s: telephone turn-taking rarely pauses longer (pyannote's sample has one 0.3 s pause
    # after 8 s of speech and none of 0.4 s), and min_segment_s keeps segments long anyway.
    min_silence_s: float = Field(0.3, gt=0)
    # 20 s: every Whisper decode pads to a 30 s window, so short segments cost throughput. On
    # 120 s of the sample, 8 s gave 6 segments decoded in 1.32x the time of one whole-file
    # pass, 20 s gave 4 in 1.06x. Lower it for quicker live drafts.
    min_segment_s: float = Field(20.0, ge=0)
    max_segment_s: float = Field(30.0, gt=1, le=60)
    speech_pad_s: float = Field(0.2, ge=0)
    min_speech_s: float = Field(0.25, ge=0)
