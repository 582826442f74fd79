"""Decode what producers send into 16 kHz mono float32 for the models, with precise errors.

Any container and codec FFmpeg reads (WAV, FLAC, MP3, Ogg/Opus, M4A/AAC...) through PyAV, which
faster-whisper depends on anyway, and raw PCM16 at any rate and channel count. Errors carry a
stable ``code`` so the dead-letter reason and the gRPC status can say what was wrong.
"""

from __future__ import annotations

import io
import wave
from collections.abc import Iterator
from dataclasses import dataclass

import av
import numpy as np
from numpy.typing import NDArray

TARGET_RATE_HZ = 16_000


class AudioError(ValueError):
    code = "audio"


class EmptyAudio(AudioError):
    code = "empty"


class CorruptAudio(AudioError):
    code = "corrupt"


class NotAudio(AudioError):
    code = "not_audio"


class AudioTooLong(AudioError):
    code = "too_long"


@dataclass(frozen=True)
class DecodedAudio:
    samples: NDArray[np.float32]  # mono, TARGET_RATE_HZ, in [-1, 1]
    source_rate_hz: int
    source_channels: int
    codec: str
    container: str

    @property
    def duration_s(self) -> float:
        return len(self.samples) / TARGET_RATE_HZ


def _resampled(frames: Iterator[av.AudioFrame], max_duration_s: float) -> NDArray[np.float32]:
    """Resample frames to 16 kHz mono float32, stopping as soon as the limit is passed."""
    resampler = av.AudioResampler(format="flt", layout="mono", rate=TARGET_RATE_HZ)
    parts: list[NDArray[np.float32]] = []
    total = 0
    limit = int(max_duration_s * TARGET_RATE_HZ)

    def take(out_frames: list[av.AudioFrame]) -> None:
        nonlocal total
        for out in out_frames:
            part = out.to_ndarray().reshape(-1).astype(np.float32, copy=False)
            parts.append(part)
            total += len(part)
        if total > limit:
            raise AudioTooLong(f"audio is longer than the limit of {max_duration_s:.0f} s")

    for frame in frames:
        take(resampler.resample(frame))
    take(resampler.resample(None))
    if total == 0:
        raise EmptyAudio("the audio decodes to no samples")
    return np.concatenate(parts)


def decode_container(data: bytes, max_duration_s: float) -> DecodedAudio:
    """Decode a file's bytes (any container FFmpeg knows)."""
    if not data:
        raise EmptyAudio("no bytes were sent")
    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            if not container.streams.audio:
                kinds = ", ".join(sorted({str(s.type) for s in container.streams})) or "no streams"
                raise NotAudio(f"{container.format.name} input has no audio stream ({kinds})")
            stream = container.streams.audio[0]
            codec = stream.codec_context.name
            rate, channels = stream.codec_context.sample_rate, stream.codec_context.channels
            samples = _resampled(container.decode(stream), max_duration_s)
            return DecodedAudio(samples, rate, channels, codec, container.format.name)
    except av.error.InvalidDataError as exc:
        raise NotAudio(f"not a readable audio file: {exc}") from None
    except av.error.FFmpegError as exc:
        raise CorruptAudio(f"the audio could not be decoded: {exc}") from None


def decode_pcm16(data: bytes, sample_rate_hz: int, channels: int, max_duration_s: float) -> DecodedAudio:
    """Decode raw little-endian 16-bit PCM, interleaved when there are several channels."""
    if not data:
        raise EmptyAudio("no bytes were sent")
    if sample_rate_hz <= 0 or channels <= 0:
        raise AudioError(f"PCM16 needs sample_rate_hz > 0 and channels > 0, got {sample_rate_hz}, {channels}")
    frame_bytes = 2 * channels
    if len(data) % frame_bytes:
        raise CorruptAudio(
            f"PCM16 with {channels} channel(s) needs a multiple of {frame_bytes} bytes, got {len(data)}"
        )
    if sample_rate_hz == TARGET_RATE_HZ and channels == 1:  # already what the models take
        samples = from_pcm16(data)
        if len(samples) > max_duration_s * TARGET_RATE_HZ:
            raise AudioTooLong(f"audio is longer than the limit of {max_duration_s:.0f} s")
        return DecodedAudio(samples, sample_rate_hz, channels, "pcm_s16le", "raw")
    pcm = np.frombuffer(data, dtype="<i2").reshape(1, -1)
    frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout=_layout(channels))
    frame.sample_rate = sample_rate_hz
    samples = _resampled(iter([frame]), max_duration_s)
    return DecodedAudio(samples, sample_rate_hz, channels, "pcm_s16le", "raw")


def _layout(channels: int) -> str:
    return {1: "mono", 2: "stereo"}.get(channels, f"{channels}c")


def to_pcm16(samples: NDArray[np.float32]) -> bytes:
    """16 kHz mono float32 to PCM16 bytes, the form segments are stored in."""
    # The same 32768 scale both ways, so audio that arrived as PCM16 round-trips exactly.
    return np.clip(np.round(samples * 32768.0), -32768, 32767).astype("<i2").tobytes()


def to_wav(samples: NDArray[np.float32]) -> bytes:
    """16 kHz mono float32 as a PCM16 WAV file, for people's players and for uploads."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(TARGET_RATE_HZ)
        wav.writeframes(to_pcm16(samples))
    return buffer.getvalue()


def from_pcm16(data: bytes) -> NDArray[np.float32]:
    """PCM16 bytes (as segments are stored) back to float32 in [-1, 1]."""
    return np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0
