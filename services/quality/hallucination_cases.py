"""The hallucination benchmark's audio: real speech, speech with long pauses, and non-speech.

Every case is a clip of at most 30 s at 16 kHz as ingest would publish it (PCM16 values), with
the voice activity ingest would attach and, for speech, the reference text and where it was
spoken. Everything comes from fixed seeds, so every run pushes the same audio through Whisper.

- genuine speech: pyannote.audio's 30 s phone call (real speech, ``sample.stm``, ``sample.rttm``)
  cut by the ingest segmenter at several segment lengths, also quieter and with added noise;
  espeak-ng sentences in German, Spanish and French when espeak-ng is installed.
- speech with pauses: utterances of the call 5-10 s apart, the pauses silent, quietly noisy, or
  filled with what a call has while nobody speaks (hold music, crackle, keypad tones).
- non-speech: digital silence, quiet noise, white and pink noise at several levels, mains hum,
  tones, sweeps, DTMF digits, clipped speech bits and noise bursts too short to hold a word,
  synthetic harmonic chords, and the call's lead-in before anyone speaks.
- speech-like non-speech, beyond the issue's list and scored apart: the call played backwards.
"""

from __future__ import annotations

import itertools
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

import numpy as np

from services.asr.eval_sample import SampleReference
from services.ingest.segmenter import Segmenter, SegmenterConfig, voice_activity
from services.quality.hallucination_signals import (
    RATE,
    Audio,
    Rng,
    Signal,
    at_rms,
    backwards,
    chords,
    db,
    dtmf,
    faded,
    noise_bursts,
    pcm16,
    pink,
    place,
    speech_bits,
    tone,
    white,
)
from services.quality.speech import merge_spans
from shared.audio import decode_container

MAX_CASE_S = 30.0
BASE_SEED = 20_261_123
GENUINE, PAUSES, NON_SPEECH = "genuine speech", "speech with pauses", "non-speech"
# Beyond the list of non-speech: a voice without words, which no VAD can tell from speech.
SPEECH_LIKE = "speech-like non-speech (extra)"
GROUPS = (GENUINE, PAUSES, NON_SPEECH, SPEECH_LIKE)
ACCEPTANCE_GROUPS = (GENUINE, PAUSES, NON_SPEECH)
# The ingest defaults (services/ingest/settings.py), and shorter segments for more speech cases.
INGEST_CUTS = SegmenterConfig(threshold=0.5, min_silence_s=0.3, min_segment_s=20.0, max_segment_s=30.0)
SHORTER_CUTS = (
    replace(INGEST_CUTS, min_segment_s=5.0, max_segment_s=12.0),
    replace(INGEST_CUTS, min_segment_s=8.0, max_segment_s=15.0),
    replace(INGEST_CUTS, min_segment_s=3.0, max_segment_s=8.0),
)
# (espeak-ng voice, text): the texts of tests/samples.py, chosen there because Whisper base
# recognises them well at espeak's rate of 160 words a minute.
ESPEAK_RATE_WPM = 160
ESPEAK_TEXTS = {
    "de": ("de", "Ich habe Ihre Adresse geändert. Die nächste Rechnung über zwanzig Euro kommt an die neue "
           "Adresse in Berlin. Gibt es sonst noch etwas, das ich für Sie tun kann?"),
    "es": ("es", "Buenas tardes, le habla el servicio técnico. Hemos recibido su mensaje y le llamaremos "
           "mañana a las diez. Muchas gracias por su paciencia."),
    "fr": ("fr-fr", "Oui, bien sûr. Je comprends très bien votre question. Vos deux commandes sont en route "
           "et vous allez les recevoir avant la fin de la semaine."),
}  # fmt: skip
Span = tuple[float, float]


@dataclass(frozen=True, eq=False)  # eq=False: an ndarray field
class Case:
    case_id: str
    kind: str  # what the audio is, for the per-kind table
    group: str  # one of GROUPS
    samples: Audio  # 16 kHz mono, PCM16 values
    language: str  # the recording's language: the case's for speech, "en" otherwise
    offset_s: float  # recording time of the first sample
    voice_activity: tuple[Span, ...]  # recording time, as ingest attaches it
    description: str
    reference_text: str = ""
    reference_spans: tuple[Span, ...] = ()  # where somebody spoke, recording time

    @property
    def duration_s(self) -> float:
        return len(self.samples) / RATE

    @property
    def contains_speech(self) -> bool:
        return self.group in (GENUINE, PAUSES)


@dataclass(frozen=True)
class Spoken:
    start_s: float
    end_s: float
    text: str


def speech_like(sample: Audio) -> Iterator[Case]:
    """The call played backwards, clean and in noise."""
    for i in range(2):
        audio, description = backwards(sample, np.random.default_rng([BASE_SEED, 5000 + i]), noisy=i == 1)
        samples = pcm16(audio)
        vad = tuple(voice_activity(samples))
        yield Case(
            f"reversed-speech-{i + 1}", "reversed speech", SPEECH_LIKE, samples, "en", 0.0, vad, description
        )


def non_speech(sample: Audio) -> Iterator[Case]:
    """The non-speech cases, each from its own seed; each clip is its own recording."""
    seeds = itertools.count()

    def rng() -> Rng:
        return np.random.default_rng([BASE_SEED, next(seeds)])

    def n(seconds: float) -> int:
        return int(seconds * RATE)

    made: list[tuple[str, str, str, Signal]] = []  # case id, kind, description, audio
    for s in (5, 10, 20, 30):
        made.append((f"silence-{s}s", "silence", "digital zeros", np.zeros(n(s))))
    quiet = (("white", white, -60), ("white", white, -50), ("pink", pink, -55), ("pink", pink, -45))
    for i, (name, noise, level) in enumerate(quiet):
        made.append(
            (
                f"quiet-{name}-{-level}dB",
                "quiet noise",
                f"{name}, {level} dBFS",
                noise(rng(), n(12 + 4 * i), level),
            )
        )
    for name, noise in (("white", white), ("pink", pink)):
        for i, level in enumerate((-40, -30, -20, -12, -6)):
            made.append(
                (
                    f"{name}-{-level}dB",
                    f"{name} noise",
                    f"{level} dBFS RMS",
                    noise(rng(), n(10 + 5 * i), level),
                )
            )
    for hz, level in ((50, -30), (60, -20)):
        hum = sum((tone(hz * k, n(15), k**-1.5) for k in range(1, 8)), white(rng(), n(15), -75))
        made.append(
            (f"hum-{hz}Hz", "mains hum", f"{hz} Hz and 6 harmonics, {level} dBFS RMS", at_rms(hum, level))
        )
    for hz, level, s in ((440, -20, 10), (1000, -12, 20), (2500, -20, 8), (300, -6, 15)):
        made.append(
            (f"tone-{hz}Hz", "tone", f"{hz} Hz, {level} dBFS RMS, {s} s", at_rms(tone(hz, n(s), 1.0), level))
        )
    beeps = place(20.0, [(t, faded(tone(1000, RATE // 2, 0.3))) for t in np.arange(0.5, 19.5, 1.0)])
    siren = 700 + 500 * np.sin(np.pi * np.arange(n(15)) / RATE)
    made += [
        ("tone-beeping", "tone", "1 kHz beeps, 0.5 s on, 0.5 s off, 20 s", beeps),
        ("sweep-linear", "sweep", "100 Hz - 4 kHz in 10 s", tone(np.linspace(100, 4000, n(10)), n(10), 0.3)),
        ("sweep-log", "sweep", "50 Hz - 8 kHz in 20 s", tone(np.geomspace(50, 8000, n(20)), n(20), 0.3)),
        ("sweep-siren", "sweep", "a siren: 200-1200 Hz, 2 s cycles, 15 s", tone(siren, n(15), 0.3)),
    ]
    for i, s in enumerate((8, 15, 22, 30)):
        made.append((f"dtmf-{i + 1}", "DTMF", f"keypad digits, {s} s", dtmf(rng(), s)))
    for i in range(20):  # Whisper writes text on about half of them
        r = rng()
        length_s = float(r.uniform(8, 25))
        audio = speech_bits(sample, r, length_s) + white(r, n(length_s), -55)
        description = f"40-120 ms bits, {length_s:.1f} s"
        made.append((f"clipped-speech-bits-{i + 1}", "clipped speech bits", description, audio))
    for i in range(3):
        r = rng()
        length_s = float(r.uniform(8, 20))
        audio = noise_bursts(r, length_s) + white(r, n(length_s), -55)
        description = f"10-300 ms bursts, {length_s:.1f} s"
        made.append((f"clipped-noise-bursts-{i + 1}", "clipped noise bursts", description, audio))
    for i, (s, melody) in enumerate(((10, False), (20, True), (30, False), (15, True), (25, True))):
        description = f"synthetic triads{', a melody on top' if melody else ''}, {s} s"
        made.append((f"chords-{i + 1}", "music-like chords", description, chords(rng(), s, melody)))
    lead_in = sample[: n(6.5)].astype(np.float64)  # nobody speaks before 6.68 s (sample.stm)
    made.append(("call-lead-in", "real line noise", "the call's first 6.5 s, before anyone speaks", lead_in))
    for case_id, kind, description, audio in made:
        samples = pcm16(audio)
        yield Case(case_id, kind, NON_SPEECH, samples, "en", 0.0, tuple(voice_activity(samples)), description)


def clip_spans(spans: list[Span], start_s: float, end_s: float) -> tuple[Span, ...]:
    return tuple((max(s, start_s), min(e, end_s)) for s, e in spans if e > start_s and s < end_s)


def segment_cases(
    name: str,
    kind: str,
    recording: Audio,
    configs: tuple[SegmenterConfig, ...],
    spoken: list[Spoken],
    heard: list[Span],
    language: str,
    description: str,
) -> Iterator[Case]:
    """A speech recording cut as ingest cuts it (each config's cuts; a cut within 0.25 s of one
    already taken only once): a case per cut, its reference text every utterance overlapping it,
    whole (so no spoken word is missing from it), where speech is ``heard`` (the transcript's and
    the speaker turns' times: the transcript leaves out some crosstalk), and its voice activity
    the recording's inside the cut."""
    vad, seen = voice_activity(recording, configs[0]), list[Span]()
    for config in configs:
        segmenter = Segmenter(config)
        for cut in segmenter.feed(recording) + segmenter.finish():
            if any(abs(cut.start_s - s) < 0.25 and abs(cut.end_s - e) < 0.25 for s, e in seen):
                continue
            seen.append((cut.start_s, cut.end_s))
            said = [u for u in spoken if u.end_s > cut.start_s and u.start_s < cut.end_s]
            cut_by = (
                f"cut with min_segment_s {config.min_segment_s:g}, max_segment_s {config.max_segment_s:g}"
            )
            yield Case(
                f"{name}-{cut.start_s:04.1f}-{cut.end_s:04.1f}", kind, GENUINE, cut.samples, language,
                cut.start_s, clip_spans(vad, cut.start_s, cut.end_s), f"{description}; {cut_by}",
                " ".join(u.text for u in said), clip_spans(merge_spans(heard), cut.start_s, cut.end_s),
            )  # fmt: skip


def speech_level_dbfs(audio: Audio, spoken: list[Spoken]) -> float:
    voiced = np.concatenate([audio[int(u.start_s * RATE) : int(u.end_s * RATE)] for u in spoken])
    return float(20 * np.log10(np.sqrt(np.mean(np.square(voiced, dtype=np.float64)))))


def call_speech(sample: Audio, spoken: list[Spoken], turns: list[Span]) -> Iterator[Case]:
    """The call cut at several segment lengths; quieter and noisier copies at two of them."""
    level, clean = speech_level_dbfs(sample, spoken), sample.astype(np.float64)
    heard = [(u.start_s, u.end_s) for u in spoken] + turns
    yield from segment_cases(
        "call", "call", sample, (INGEST_CUTS, *SHORTER_CUTS), spoken, heard, "en", "the call"
    )
    noise = [np.random.default_rng([BASE_SEED, 2000 + i]) for i in range(2)]
    variants = (
        ("call-quiet15", "call, 15 dB quieter", clean * db(-15)),
        ("call-quiet25", "call, 25 dB quieter", clean * db(-25)),
        ("call-white20", "call, white noise at 20 dB SNR", clean + white(noise[0], len(clean), level - 20)),
        ("call-pink15", "call, pink noise at 15 dB SNR", clean + pink(noise[1], len(clean), level - 15)),
    )  # fmt: skip
    for name, kind, audio in variants:
        configs = (INGEST_CUTS, SHORTER_CUTS[0])
        yield from segment_cases(name, kind, pcm16(audio), configs, spoken, heard, "en", f"the {kind}")


def espeak_speech() -> Iterator[Case]:
    """espeak-ng sentences (none when it is not installed), clean and quieter in pink noise."""
    if shutil.which("espeak-ng") is None:
        return
    for i, (language, (voice, text)) in enumerate(ESPEAK_TEXTS.items()):
        command = ["espeak-ng", "-v", voice, "-s", str(ESPEAK_RATE_WPM), "--stdout", "--", text]
        speech = decode_container(subprocess.run(command, check=True, capture_output=True).stdout, 60).samples
        clean = np.concatenate([np.zeros(RATE // 2), speech, np.zeros(RATE)])
        loud = np.flatnonzero(np.abs(clean) > 0.01)
        spoken = [Spoken(float(loud[0] / RATE), float(loud[-1] / RATE), text)]
        rng = np.random.default_rng([BASE_SEED, 3000 + i])
        noisy = clean * db(-10) + pink(rng, len(clean), speech_level_dbfs(clean, spoken) - 25)
        for name, audio, detail in (
            ("clean", clean, ""),
            ("noisy", noisy, ", 10 dB quieter, pink noise at 15 dB SNR"),
        ):
            yield from segment_cases(
                f"espeak-{language}-{name}", f"espeak-ng {language}", pcm16(audio), (INGEST_CUTS,), spoken,
                [(u.start_s, u.end_s) for u in spoken], language, f"espeak-ng voice {voice}{detail}",
            )  # fmt: skip


def utterance_groups(spoken: list[Spoken], min_gap_s: float = 0.3) -> list[Spoken]:
    """Utterances closer than ``min_gap_s`` joined: pieces of the call that can be cut out
    without clipping anybody's word."""
    groups: list[Spoken] = []
    for u in sorted(spoken, key=lambda u: u.start_s):
        if groups and u.start_s - groups[-1].end_s < min_gap_s:
            last = groups[-1]
            groups[-1] = Spoken(last.start_s, max(last.end_s, u.end_s), f"{last.text} {u.text}")
        else:
            groups.append(u)
    return groups


def pause_sounds(i: int, sample: Audio, rng: Rng, length_s: float) -> tuple[str, Signal, Signal]:
    """Pause case ``i``'s background: its name, the line noise under the whole clip, and the
    sounds a call has while nobody speaks (hold music, crackle, keypad tones), or none."""
    n = int(length_s * RATE)
    line = (np.zeros(n), white(rng, n, -55), pink(rng, n, -50), white(rng, n, -60))[min(i % 6, 3)]
    sounds: tuple[tuple[str, Callable[[], Signal]], ...] = (
        ("silence", lambda: np.zeros(n)),
        ("white noise at -55 dBFS", lambda: np.zeros(n)),
        ("pink noise at -50 dBFS", lambda: np.zeros(n)),
        ("hold music at -30 dBFS", lambda: chords(rng, length_s, True) * db(-10)),
        ("clipped speech bits", lambda: speech_bits(sample, rng, length_s)),
        ("DTMF digits", lambda: dtmf(rng, length_s)),
    )
    name, make = sounds[i % len(sounds)]
    return name, line, make()


def speech_with_pauses(sample: Audio, spoken: list[Spoken], count: int = 12) -> Iterator[Case]:
    """Two or three utterance groups of the call, 5-10 s apart; the clip starts and ends 0.2-1 s
    from the speech, like an ingest segment (its 20 s minimum length keeps such pauses inside)."""
    groups, pad_s = utterance_groups(spoken), 0.1
    for i in range(count):
        rng = np.random.default_rng([BASE_SEED, 4000 + i])
        t, parts, said = float(rng.uniform(0.2, 1.0)), list[tuple[float, Signal]](), list[Spoken]()
        for g in rng.permutation(len(groups)):
            group = groups[int(g)]
            piece = sample[int((group.start_s - pad_s) * RATE) : int((group.end_s + pad_s) * RATE)]
            if len(said) == 3 or t + len(piece) / RATE + 1.0 > MAX_CASE_S:
                continue
            parts.append((t, piece.astype(np.float64)))
            said.append(Spoken(t + pad_s, t + pad_s + group.end_s - group.start_s, group.text))
            t += len(piece) / RATE + float(rng.uniform(5.0, 10.0))
        length_s = min(said[-1].end_s + float(rng.uniform(0.2, 1.0)), MAX_CASE_S)
        background, line, sounds = pause_sounds(i, sample, rng, length_s)
        for u in said:  # the sounds only where nobody speaks
            sounds[int((u.start_s - 0.3) * RATE) : int((u.end_s + 0.3) * RATE)] = 0.0
        samples = pcm16(place(length_s, parts) + line + sounds)
        gaps = ", ".join(f"{b.start_s - a.end_s:.1f}" for a, b in zip(said, said[1:], strict=False))
        yield Case(
            f"pauses-{i + 1}", f"pauses: {background.split(' at ')[0]}", PAUSES, samples, "en", 0.0,
            tuple(voice_activity(samples)), f"{len(said)} pieces of the call, {gaps} s apart; {background}",
            " ".join(u.text for u in said), tuple(merge_spans((u.start_s, u.end_s) for u in said)),
        )  # fmt: skip


def benchmark_cases() -> list[Case]:
    """Every case, in a fixed order: genuine speech, speech with pauses, non-speech, speech-like."""
    reference = SampleReference.load()
    sample = decode_container(reference.wav.read_bytes(), 60).samples
    spoken = [Spoken(s.start_s, s.end_s, s.text) for s in reference.segments]
    turns = [(float(t.start), float(t.end)) for t in reference.turns.get_timeline()]
    return [
        *call_speech(sample, spoken, turns),
        *espeak_speech(),
        *speech_with_pauses(sample, spoken),
        *non_speech(sample),
        *speech_like(sample),
    ]
