"""Real files in every accepted format, encoded with FFmpeg (PyAV), and the bad inputs."""

from __future__ import annotations

import numpy as np
import pytest

from shared.audio import (
    TARGET_RATE_HZ,
    AudioError,
    AudioTooLong,
    CorruptAudio,
    EmptyAudio,
    NotAudio,
    decode_container,
    decode_pcm16,
    to_pcm16,
)
from tests.audio_files import encode as encode_file


def tone(seconds: float, rate: int, channels: int, hz: float = 440.0) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    mono = 0.5 * np.sin(2 * np.pi * hz * t)
    return np.repeat(mono[None, :], channels, axis=0).astype(np.float32)


def encode(fmt: str, codec: str, seconds: float = 2.0, rate: int = 44_100, channels: int = 2) -> bytes:
    """Encode a tone to a real file with FFmpeg's own encoders."""
    return encode_file(tone(seconds, rate, channels), rate, fmt, codec)


@pytest.mark.parametrize(
    ("fmt", "codec", "rate", "channels"),
    [
        ("wav", "pcm_s16le", 44_100, 2),
        ("flac", "flac", 22_050, 1),
        ("mp3", "libmp3lame", 44_100, 2),
        ("ogg", "libopus", 48_000, 2),
        ("ipod", "aac", 32_000, 1),
    ],
    ids=["wav", "flac", "mp3", "ogg-opus", "m4a-aac"],
)
def test_formats_decode_to_16k_mono(fmt: str, codec: str, rate: int, channels: int) -> None:
    decoded = decode_container(encode(fmt, codec, 2.0, rate, channels), max_duration_s=60)
    assert decoded.source_rate_hz == rate and decoded.source_channels == channels
    assert decoded.samples.dtype == np.float32
    assert decoded.duration_s == pytest.approx(2.0, abs=0.1)  # codecs pad a few ms
    # The 440 Hz tone survives: the strongest frequency of the decoded audio is still 440 Hz.
    spectrum = np.abs(np.fft.rfft(decoded.samples[TARGET_RATE_HZ // 2 : TARGET_RATE_HZ]))
    peak_hz = np.argmax(spectrum) * TARGET_RATE_HZ / (TARGET_RATE_HZ // 2)
    assert peak_hz == pytest.approx(440, abs=4)


def test_pcm16_any_rate_and_channels() -> None:
    stereo = (tone(1.0, 8_000, 2).T * 32767).astype("<i2").tobytes()
    decoded = decode_pcm16(stereo, 8_000, 2, max_duration_s=60)
    assert decoded.duration_s == pytest.approx(1.0, abs=0.01)
    assert len(to_pcm16(decoded.samples)) == 2 * len(decoded.samples)


@pytest.mark.parametrize(
    ("call", "error", "needle"),
    [
        (lambda: decode_container(b"", 60), EmptyAudio, "no bytes"),
        (
            lambda: decode_container(b"this is a text file, not audio at all" * 20, 60),
            NotAudio,
            "not a readable",
        ),
        (lambda: decode_container(encode("wav", "pcm_s16le", 5.0), 2), AudioTooLong, "limit of 2 s"),
        (lambda: decode_pcm16(b"\x00\x01\x02", 16_000, 1, 60), CorruptAudio, "multiple of 2 bytes"),
        (lambda: decode_pcm16(b"\x00\x01", 0, 1, 60), AudioError, "sample_rate_hz > 0"),
        (lambda: decode_pcm16(b"", 16_000, 1, 60), EmptyAudio, "no bytes"),
    ],
    ids=["empty", "text", "too-long", "odd-pcm", "no-rate", "empty-pcm"],
)
def test_bad_input_is_named(call, error: type[AudioError], needle: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(error, match=needle) as raised:
        call()
    assert raised.value.code


def test_truncated_file_is_an_error_not_silence() -> None:
    flac = encode("flac", "flac", 2.0, 16_000, 1)
    with pytest.raises(AudioError):
        decode_container(flac[:200], 60)
