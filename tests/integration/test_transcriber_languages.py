"""Beyond English: espeak-ng speech (22,050 Hz WAV) through the platform's decoder and transcriber.

The bounds come from measuring Whisper base (int8, CPU, the default ``DecodingOptions``) on these
texts at 150-170 wpm. The highest values seen were WER 0.28 (de), 0.22 (es), 0.27 (fr), and the
lowest language probability was 0.80. The test runs at 160 wpm, where the values were de 0.21/0.93,
es 0.13/0.96, fr 0.19/0.88.
"""

from __future__ import annotations

import jiwer
import pytest

from services.asr.transcriber import DecodingOptions, ModelSpec, Transcriber
from shared.audio import DecodedAudio, decode_container
from shared.models import locate
from tests.samples import SPOKEN_TEXTS, normalise_for_wer, synthesised_speech

pytestmark = pytest.mark.integration

MAX_WER = 0.35
MIN_LANGUAGE_PROBABILITY = 0.5
MAX_DURATION_S = 60.0


@pytest.fixture(scope="module")
def transcriber() -> Transcriber:
    return Transcriber(ModelSpec(locate("whisper-base")))


@pytest.fixture(scope="module")
def spoken(tmp_path_factory: pytest.TempPathFactory) -> dict[str, DecodedAudio]:
    """Each language's text, synthesised and decoded once for the module."""
    out_dir = tmp_path_factory.mktemp("espeak")
    return {
        language: decode_container(synthesised_speech(text, voice, out_dir).read_bytes(), MAX_DURATION_S)
        for language, (voice, text) in SPOKEN_TEXTS.items()
    }


def _wer(language: str, hypothesis: str) -> float:
    return float(jiwer.wer(normalise_for_wer(SPOKEN_TEXTS[language][1]), normalise_for_wer(hypothesis)))


def test_synthesised_speech_is_decoded_from_espeak_rate(spoken: dict[str, DecodedAudio]) -> None:
    for audio in spoken.values():
        assert (audio.source_rate_hz, audio.source_channels, audio.container) == (22_050, 1, "wav")
        assert 6.0 < audio.duration_s < 14.0


@pytest.mark.parametrize("language", sorted(SPOKEN_TEXTS))
def test_language_is_detected_and_transcribed(
    transcriber: Transcriber, spoken: dict[str, DecodedAudio], language: str
) -> None:
    result = transcriber.transcribe(spoken[language].samples)

    assert result.language == language, f"detected {result.language}: {result.text!r}"
    assert result.language_probability > MIN_LANGUAGE_PROBABILITY
    wer = _wer(language, result.text)
    assert wer < MAX_WER, f"WER {wer:.3f}: {result.text!r}"


@pytest.mark.parametrize("language", sorted(SPOKEN_TEXTS))
def test_language_hint_is_used(
    transcriber: Transcriber, spoken: dict[str, DecodedAudio], language: str
) -> None:
    result = transcriber.transcribe(spoken[language].samples, DecodingOptions(language=language))

    assert result.language == language and result.language_probability == 1.0
    wer = _wer(language, result.text)
    assert wer < MAX_WER, f"WER {wer:.3f}: {result.text!r}"
