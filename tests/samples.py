"""Evaluation audio: pyannote.audio's own sample (30 s, 16 kHz, two speakers on the phone), and
speech synthesised with espeak-ng (installed by scripts/install.sh) for the non-English paths.

The sample is located through the installed distribution's files, without importing pyannote
(which loads torch).
"""

from __future__ import annotations

import hashlib
import re
import subprocess
import wave
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path


@dataclass(frozen=True)
class Sample:
    wav: Path
    stm: Path  # reference transcript: "<file> <channel> <speaker> <start> <end> <text>"
    rttm: Path  # reference speaker turns

    def reference_text(self) -> str:
        return " ".join(line.split(None, 5)[5] for line in self.stm.read_text().splitlines() if line.strip())


def pyannote_sample() -> Sample:
    folder = Path(str(metadata.distribution("pyannote.audio").locate_file("pyannote/audio/sample")))
    sample = Sample(folder / "sample.wav", folder / "sample.stm", folder / "sample.rttm")
    missing = [p for p in (sample.wav, sample.stm, sample.rttm) if not p.exists()]
    assert not missing, f"pyannote.audio's sample files are missing: {missing}"
    return sample


def normalise_for_wer(text: str) -> str:
    """Lower-case, punctuation removed (apostrophes kept: "didn't"), spaces collapsed."""
    return re.sub(r"\s+", " ", re.sub(r"[^\w\s']", " ", text.lower())).strip()


# espeak-ng's speaking rate in words per minute (its default is 175). Whisper base's WER on these
# texts swings by up to 0.1 between neighbouring rates; 160 sits in the middle of the range
# (150-170) where every text below is recognised well (tests/integration/test_transcriber_languages.py).
SPEECH_RATE_WPM = 160
# espeak starts speaking at the first sample; Whisper base then often drops the first words (WER
# up to 0.2 higher, measured), which real recordings, with their lead-in, do not provoke.
LEAD_SILENCE_S = 0.5

# BCP-47 language -> (espeak-ng voice, text): customer-support phrases, numbers written as words,
# 8-10 s of speech each. Chosen among several candidates for stable language detection: with
# espeak's voices some ordinary sentences are detected as English, Thai or Latin.
SPOKEN_TEXTS: dict[str, tuple[str, str]] = {
    "de": (
        "de",
        "Ich habe Ihre Adresse geändert. Die nächste Rechnung über zwanzig Euro kommt an die neue "
        "Adresse in Berlin. Gibt es sonst noch etwas, das ich für Sie tun kann?",
    ),
    "es": (
        "es",
        "Buenas tardes, le habla el servicio técnico. Hemos recibido su mensaje y le llamaremos "
        "mañana a las diez. Muchas gracias por su paciencia.",
    ),
    "fr": (
        "fr-fr",
        "Oui, bien sûr. Je comprends très bien votre question. Vos deux commandes sont en route et "
        "vous allez les recevoir avant la fin de la semaine.",
    ),
}


def synthesised_speech(text: str, voice: str, out_dir: Path) -> Path:
    """Speak ``text`` with espeak-ng into a WAV file in ``out_dir``, at espeak's own rate (22,050 Hz
    mono: the platform's decoder resamples), after ``LEAD_SILENCE_S`` of silence."""
    digest = hashlib.sha256(f"{voice}|{SPEECH_RATE_WPM}|{text}".encode()).hexdigest()[:12]
    wav = out_dir / f"espeak-{voice}-{digest}.wav"
    subprocess.run(
        ["espeak-ng", "-v", voice, "-s", str(SPEECH_RATE_WPM), "-w", str(wav), "--", text],
        check=True,
        capture_output=True,
    )
    with wave.open(str(wav), "rb") as speech:
        params = speech.getparams()
        frames = speech.readframes(params.nframes)
    lead = bytes(int(LEAD_SILENCE_S * params.framerate) * params.sampwidth * params.nchannels)
    with wave.open(str(wav), "wb") as padded:
        padded.setparams(params)
        padded.writeframes(lead + frames)
    return wav
