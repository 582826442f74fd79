"""Synthetic sounds for the hallucination benchmark: noise, tones, chords, keypad digits, and
sounds cut from real speech (clipped bits, the call backwards). Levels are dBFS RMS unless a
peak is named; every generator takes its own ``numpy`` generator, so a seed fixes the sound."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from shared.audio import TARGET_RATE_HZ

RATE = TARGET_RATE_HZ
DTMF_HZ = ((697, 1209), (697, 1336), (697, 1477), (770, 1209), (770, 1336), (770, 1477),
           (852, 1209), (852, 1336), (852, 1477), (941, 1209), (941, 1336), (941, 1477))  # fmt: skip
Audio = NDArray[np.float32]
Signal = NDArray[np.float64]
Rng = np.random.Generator


def pcm16(audio: NDArray[np.floating]) -> Audio:
    """As ingest stores audio: PCM16, read back as k / 32768."""
    return (np.clip(np.round(audio * 32768.0), -32768, 32767) / 32768.0).astype(np.float32)


def db(level_db: float) -> float:
    return float(10 ** (level_db / 20))


def at_rms(audio: NDArray[np.floating], level_dbfs: float) -> Signal:
    rms = float(np.sqrt(np.mean(np.square(audio, dtype=np.float64)))) or 1.0
    return np.asarray(audio, np.float64) * db(level_dbfs) / rms


def white(rng: Rng, n: int, level_dbfs: float) -> Signal:
    return at_rms(rng.standard_normal(n), level_dbfs)


def pink(rng: Rng, n: int, level_dbfs: float) -> Signal:
    """1/f power: white noise shaped in the frequency domain (flat below 20 Hz)."""
    spectrum = np.fft.rfft(rng.standard_normal(n)) / np.sqrt(np.maximum(np.fft.rfftfreq(n, 1 / RATE), 20.0))
    return at_rms(np.fft.irfft(spectrum, n), level_dbfs)


def tone(freq_hz: Signal | float, n: int, peak: float) -> Signal:
    """A sine of constant or changing frequency (the phase is the running sum of frequency)."""
    return peak * np.sin(2 * np.pi * np.cumsum(np.broadcast_to(np.asarray(freq_hz, np.float64), (n,))) / RATE)


def faded(audio: Signal, fade_s: float = 0.005) -> Signal:
    ramp = np.linspace(0.0, 1.0, min(int(fade_s * RATE), len(audio) // 2))
    out = audio.copy()
    out[: len(ramp)] *= ramp
    out[len(out) - len(ramp) :] *= ramp[::-1]
    return out


def place(length_s: float, parts: list[tuple[float, Signal]]) -> Signal:
    """Sounds added into a silent clip at their start times (s)."""
    out = np.zeros(int(length_s * RATE))
    for start_s, part in parts:
        at = int(start_s * RATE)
        if at < len(out):
            out[at : at + len(part)] += part[: len(out) - at]
    return out


def harmonic_note(freq_hz: float, n: int, rng: Rng) -> Signal:
    """A plucked-string-like note: six harmonics at 1/k, an exponential decay."""
    note = sum((tone(freq_hz * k, n, 1 / k) for k in range(1, 7)), np.zeros(n))
    return faded(note * np.exp(-np.arange(n) / RATE * rng.uniform(1.5, 4.0)), 0.01)


def chords(rng: Rng, length_s: float, melody: bool) -> Signal:
    """Major and minor triads, one each 0.6-1.5 s, a melody of quavers on top or not; -20 dBFS."""
    parts: list[tuple[float, Signal]] = []
    t = 0.0
    while t < length_s - 0.3:
        chord_s, root = float(rng.uniform(0.6, 1.5)), 110 * 2 ** (rng.integers(0, 12) / 12)
        steps = (0, 4, 7) if rng.random() < 0.5 else (0, 3, 7)
        parts += [(t, harmonic_note(root * 2 ** (s / 12), int(chord_s * RATE), rng)) for s in steps]
        for k in range(int(chord_s / 0.25) if melody else 0):
            note = root * 4 * 2 ** (rng.choice([0, 2, 4, 5, 7, 9, 11]) / 12)
            parts.append((t + 0.25 * k, 0.7 * harmonic_note(note, RATE // 4, rng)))
        t += chord_s
    return at_rms(place(length_s, parts), -20.0)


def dtmf(rng: Rng, length_s: float) -> Signal:
    """Bursts of 4-11 keypad digits (80-200 ms, 80-250 ms apart) over a -60 dBFS line."""
    parts: list[tuple[float, Signal]] = []
    t = float(rng.uniform(0.3, 1.5))
    while t < length_s - 2.5:
        for _ in range(rng.integers(4, 12)):
            low, high = DTMF_HZ[rng.integers(0, len(DTMF_HZ))]
            n = int(rng.uniform(0.08, 0.2) * RATE)
            parts.append((t, faded(tone(low, n, 0.2) + tone(high, n, 0.25))))
            t += n / RATE + float(rng.uniform(0.08, 0.25))
        t += float(rng.uniform(1.0, 3.0))
    return place(length_s, parts) + white(rng, int(length_s * RATE), -60.0)


def speech_bits(sample: Audio, rng: Rng, length_s: float) -> Signal:
    """Bits of the call too short to hold a word (40-120 ms), amplified and hard-clipped, one
    every 0.5-3 s: crackle with a voice's spectrum."""
    parts: list[tuple[float, Signal]] = []
    gain, ceiling = float(rng.uniform(8, 20)), float(rng.uniform(0.3, 0.7))
    for t in np.arange(rng.uniform(0.3, 2.0), length_s - 0.5, rng.uniform(0.5, 3.0)):
        start = int(rng.uniform(8.5, 29.5) * RATE)  # inside the call's speech
        bit = sample[start : start + int(rng.uniform(0.04, 0.12) * RATE)].astype(np.float64)
        parts.append((float(t), np.clip(faded(bit) * gain, -ceiling, ceiling)))
    return place(length_s, parts)


def noise_bursts(rng: Rng, length_s: float) -> Signal:
    """6-30 bursts of 10-300 ms of loud noise, hard-clipped: pops and crackle on a line."""
    parts: list[tuple[float, Signal]] = []
    for t in np.sort(rng.uniform(0.2, length_s - 0.5, int(rng.integers(6, 30)))):
        burst = white(rng, int(rng.uniform(0.01, 0.3) * RATE), -10) * rng.uniform(2, 8)
        parts.append((float(t), np.clip(faded(burst), -0.8, 0.8)))
    return place(length_s, parts)


def backwards(sample: Audio, rng: Rng, noisy: bool) -> tuple[Signal, str]:
    """3-5 s of the call played backwards: a voice, to the VAD too, but not one word. Short:
    Whisper falls back through every temperature on it, each time writing a page of invention."""
    length_s = float(rng.uniform(3.0, 5.0))
    start = int(rng.uniform(7.0, 30.0 - length_s) * RATE)
    audio = sample[start : start + int(length_s * RATE)][::-1].astype(np.float64)
    noise = pink(rng, len(audio), -45) if noisy else np.zeros(len(audio))
    described = f"{length_s:.1f} s of the call from {start / RATE:.1f} s, backwards"
    return audio + noise, described + (", pink noise at -45 dBFS" if noisy else "")
