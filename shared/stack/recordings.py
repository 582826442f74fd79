"""The demo's recordings: pyannote's English phone call and two support calls in French and
Spanish spoken by espeak-ng (installed by scripts/install.sh), each with its reference
transcript, which the simulated linguists type where the quality gate asks for a person."""

from __future__ import annotations

import subprocess
import uuid
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from protos import common_pb2
from shared.audio import TARGET_RATE_HZ, decode_container

# Whisper drops first words that start at the first sample; a real call has a lead-in.
LEAD_SILENCE_S = 0.5
TURN_PAUSE_S = 0.9  # between turns: the caller and the agent take turns
SPEECH_RATE_WPM = 160  # espeak-ng's words a minute at which Whisper base hears it best (tests/samples.py)

Reference = list[tuple[float, float, str]]  # (start_s, end_s, text) turns in recording time

# (espeak-ng voice, text) turns: an agent and a caller, entities and a clear sentiment in each.
SCRIPTS: dict[str, list[tuple[str, str]]] = {
    "fr": [
        ("fr-fr+m3", "Bonjour, vous êtes bien au service client, je m'appelle Claire Martin."),
        ("fr-fr+f3", "Bonjour Claire, ma commande n'est toujours pas arrivée à Lyon, je suis très déçue."),
        ("fr-fr+m3", "Je suis désolée. Votre colis partira demain matin et arrivera vendredi."),
        ("fr-fr+f3", "Merci beaucoup, c'est parfait. Bonne journée."),
    ],
    "es": [
        ("es+m3", "Buenos días, le atiende Marta García del servicio técnico."),
        ("es+f3", "Hola Marta, mi factura de marzo es incorrecta y estoy muy molesto."),
        ("es+m3", "Lo siento mucho. Voy a corregir la factura hoy mismo en Madrid."),
        ("es+f3", "Muchas gracias por su ayuda. Hasta luego."),
    ],
}


@dataclass(frozen=True)
class DemoRecording:
    name: str
    language: str
    samples: NDArray[np.float32]
    reference: Reference
    context: common_pb2.RecordingContext

    @property
    def stream_id(self) -> str:
        return self.context.recording_id

    @property
    def duration_s(self) -> float:
        return len(self.samples) / TARGET_RATE_HZ


def speak(text: str, voice: str, rate_wpm: int = SPEECH_RATE_WPM) -> NDArray[np.float32]:
    """espeak-ng's speech for ``text``, 16 kHz mono."""
    command = ["espeak-ng", "-v", voice, "-s", str(rate_wpm), "--stdout", "--", text]
    try:
        wav = subprocess.run(command, check=True, capture_output=True).stdout
    except FileNotFoundError:
        raise RuntimeError("espeak-ng is not installed: run scripts/install.sh (it installs it)") from None
    return decode_container(wav, max_duration_s=120.0).samples


def _context(name: str, language: str) -> common_pb2.RecordingContext:
    return common_pb2.RecordingContext(
        recording_id=f"{name}-{uuid.uuid4().hex[:8]}",
        tenant_id="demo",
        domain="support",
        language_hint=language,
    )


def synthesised_call(language: str) -> DemoRecording:
    """The language's script spoken turn by turn, with pauses, and the turns' times as reference."""
    silence = np.zeros(int(LEAD_SILENCE_S * TARGET_RATE_HZ), np.float32)
    pause = np.zeros(int(TURN_PAUSE_S * TARGET_RATE_HZ), np.float32)
    parts, reference, at = [silence], [], LEAD_SILENCE_S
    for voice, text in SCRIPTS[language]:
        speech = speak(text, voice)
        parts += [speech, pause]
        reference.append((at, at + len(speech) / TARGET_RATE_HZ, text))
        at += (len(speech) + len(pause)) / TARGET_RATE_HZ
    name = f"call-{language}"
    return DemoRecording(name, language, np.concatenate(parts), reference, _context(name, language))


def demo_recordings() -> list[DemoRecording]:
    from shared.stack.demo import sample_recording, sample_reference

    sample = DemoRecording(
        "pyannote-sample", "en", sample_recording().samples, sample_reference(), _context("sample", "en")
    )
    sample.context.language_hint = ""  # the producer does not know: Whisper detects it
    sample.context.domain = "general"
    return [sample, *(synthesised_call(language) for language in SCRIPTS)]
