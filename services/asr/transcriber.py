"""Speech to words with faster-whisper: audio in, segments with timed, scored words out.

No Kafka and no gRPC here. The model is loaded once per process; every decoding knob travels in
one ``DecodingOptions`` so a draft can record exactly how it was produced (and the quality gate
can re-decode with safer settings).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
from faster_whisper import BatchedInferencePipeline, WhisperModel
from numpy.typing import NDArray

SAMPLE_RATE_HZ = 16_000


@dataclass(frozen=True)
class DecodingOptions:
    language: str | None = None  # None: detect
    beam_size: int = 5
    word_timestamps: bool = True
    vad_filter: bool = True
    condition_on_previous_text: bool = True
    temperature: tuple[float, ...] = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
    # None: faster-whisper's own VAD settings (they differ between its two pipelines); the
    # "safe" profile sets all three.
    vad_threshold: float | None = None
    vad_min_silence_ms: int | None = None
    vad_speech_pad_ms: int | None = None
    # Skip silences longer than this (s) around a suspected hallucination (needs word timestamps).
    hallucination_silence_threshold: float | None = None
    # A domain's approved vocabulary (services/asr/vocabulary.py), put before every window's
    # prompt; vocabulary_version records which version (0: none).
    hotwords: str | None = None
    vocabulary_version: int = 0

    def safe(self) -> DecodingOptions:
        """The re-decode profile for a segment the quality gate flagged: no conditioning on the
        previous text (the usual cause of repetition loops), the full temperature fallback, a
        stricter VAD (higher threshold, less padding, shorter pauses split speech), and
        faster-whisper's hallucination-silence skipping."""
        return replace(
            self,
            condition_on_previous_text=False,
            temperature=(0.0, 0.2, 0.4, 0.6, 0.8, 1.0),
            vad_filter=True,
            vad_threshold=0.6,
            vad_min_silence_ms=500,
            vad_speech_pad_ms=200,
            hallucination_silence_threshold=2.0,
        )

    def vad_parameters(self) -> dict[str, float | int] | None:
        chosen = {
            "threshold": self.vad_threshold,
            "min_silence_duration_ms": self.vad_min_silence_ms,
            "speech_pad_ms": self.vad_speech_pad_ms,
        }
        return {k: v for k, v in chosen.items() if v is not None} or None

    def as_parameters(self) -> dict[str, str]:
        """For provenance: every knob as a string."""
        return {k: json.dumps(v) for k, v in asdict(self).items()}


@dataclass(frozen=True)
class TranscribedWord:
    text: str
    start_s: float
    end_s: float
    probability: float


@dataclass(frozen=True)
class TranscribedSegment:
    index: int
    start_s: float
    end_s: float
    text: str
    words: tuple[TranscribedWord, ...]
    avg_logprob: float
    no_speech_prob: float
    compression_ratio: float
    temperature: float


@dataclass(frozen=True)
class Transcription:
    language: str
    language_probability: float
    duration_s: float
    segments: list[TranscribedSegment] = field(default_factory=list)

    @property
    def text(self) -> str:
        return " ".join(s.text for s in self.segments)


@dataclass(frozen=True)
class ModelSpec:
    path: Path
    device: str = "cpu"
    compute_type: str = "int8"
    cpu_threads: int = 0  # 0: CTranslate2's default (all cores)

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def version(self) -> str:
        """The model file's sha256 prefix from the provisioning card, so drafts name the exact weights."""
        card = self.path / "MODEL_CARD.json"
        if card.exists():
            for entry in json.loads(card.read_text()).get("files", []):
                if entry.get("path") == "model.bin":
                    return str(entry["sha256"])[:12]
        return "unknown"


class Transcriber:
    """One loaded Whisper model; ``transcribe`` is safe to call from one thread at a time."""

    def __init__(self, spec: ModelSpec) -> None:
        self.spec = spec
        self.model = WhisperModel(
            str(spec.path), device=spec.device, compute_type=spec.compute_type, cpu_threads=spec.cpu_threads
        )
        self._batched: BatchedInferencePipeline | None = None

    def transcribe(
        self, samples: NDArray[np.float32], options: DecodingOptions = DecodingOptions(), batch_size: int = 0
    ) -> Transcription:
        """Decode 16 kHz mono float32 audio; times are seconds from the start of ``samples``.

        ``batch_size`` > 0 decodes a whole file's voiced chunks in batches with faster-whisper's
        ``BatchedInferencePipeline`` (each chunk on its own: no previous-text conditioning).
        """
        if batch_size > 0:
            if self._batched is None:
                self._batched = BatchedInferencePipeline(self.model)
            segments, info = self._batched.transcribe(
                samples,
                language=options.language,
                beam_size=options.beam_size,
                word_timestamps=options.word_timestamps,
                vad_filter=options.vad_filter,
                vad_parameters=options.vad_parameters(),
                temperature=list(options.temperature),
                hotwords=options.hotwords,
                batch_size=batch_size,
            )
        else:
            segments, info = self.model.transcribe(
                samples,
                language=options.language,
                beam_size=options.beam_size,
                word_timestamps=options.word_timestamps,
                vad_filter=options.vad_filter,
                vad_parameters=options.vad_parameters(),
                condition_on_previous_text=options.condition_on_previous_text,
                temperature=list(options.temperature),
                hallucination_silence_threshold=options.hallucination_silence_threshold,
                hotwords=options.hotwords,
            )
        decoded = [
            TranscribedSegment(
                index=i,
                start_s=float(s.start),
                end_s=float(s.end),
                text=s.text.strip(),
                words=tuple(
                    TranscribedWord(w.word.strip(), float(w.start), float(w.end), float(w.probability))
                    for w in (s.words or [])
                ),
                avg_logprob=float(s.avg_logprob),
                no_speech_prob=float(s.no_speech_prob),
                compression_ratio=float(s.compression_ratio),
                temperature=float(s.temperature or 0.0),
            )
            for i, s in enumerate(segments)  # the generator decodes as it is consumed
        ]
        return Transcription(
            info.language, float(info.language_probability), len(samples) / SAMPLE_RATE_HZ, decoded
        )
