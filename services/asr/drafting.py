"""From a segment's audio to a draft transcript: words, times, scores, language and speakers.

The models are loaded once per process (``SpeechModels.load``). Per segment of a recording:
the language is the producer's hint, else the one detected on the recording's first voiced
segment, kept for all later ones; the segment is diarized on its own and its local speakers are
linked to the recording's speakers by their CAM++ centroids; each word gets the speaker whose
turns overlap it most. A backlog of a recording's consecutive segments is decoded as one audio
(``draft_segments``, ``coalesce``); the rest stays per segment.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
from numpy.typing import NDArray
from sqlalchemy.orm import Session

from protos import audio_pb2, common_pb2, transcripts_pb2
from services.asr.coalesce import Piece, join_audio, split_transcription
from services.asr.diarizer import Diarization, Diarizer
from services.asr.recordings import AsrRecording, lock_recording
from services.asr.settings import AsrSettings
from services.asr.speakers import SpeakerRegistry, SpeakerWord, Turn, assign_speakers, dominant_speaker
from services.asr.transcriber import DecodingOptions, ModelSpec, TranscribedWord, Transcriber, Transcription
from services.asr.vocabulary import active_vocabulary, with_vocabulary
from shared.audio import TARGET_RATE_HZ
from shared.models import locate
from shared.service import ServiceContext

# Below this much voiced audio a language guess is too unreliable to fix for the whole recording.
MIN_DETECTION_SPEECH_S = 2.0


@dataclass
class SpeechModels:
    transcriber: Transcriber
    diarizer: Diarizer | None
    options: DecodingOptions
    link_threshold: float
    batch_size: int  # > 0: whole files through BatchedInferencePipeline
    # The consumer thread and gRPC threads share the models; they decode one at a time.
    lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def load(cls, s: AsrSettings) -> SpeechModels:
        spec = ModelSpec(
            locate(s.whisper_model, s.models_dir), s.device, s.compute_type, cpu_threads=s.cpu_threads
        )
        return cls(
            transcriber=Transcriber(spec),
            diarizer=Diarizer(s.models_dir, s.torch_threads, s.diarization_device) if s.diarize else None,
            options=DecodingOptions(beam_size=s.beam_size),
            link_threshold=s.speaker_link_threshold,
            batch_size=s.batch_size if s.whole_file_mode == "batched" else 0,
        )

    def provenance(self, ctx: ServiceContext, options: DecodingOptions) -> common_pb2.Provenance:
        spec = self.transcriber.spec
        return ctx.provenance(
            model_name=f"faster-whisper/{spec.name}",
            model_version=spec.version,
            **options.as_parameters(),
            compute_type=spec.compute_type,
            device=spec.device,
            diarization="pyannote-segmentation-3.0+campplus" if self.diarizer else "off",
            speaker_link_threshold=json.dumps(self.link_threshold),
        )


def shifted(words: list[TranscribedWord], offset_s: float) -> list[TranscribedWord]:
    return [replace(w, start_s=w.start_s + offset_s, end_s=w.end_s + offset_s) for w in words]


def transcript_segment(
    transcription: Transcription,
    words: list[SpeakerWord],
    *,
    segment_id: str,
    index: int,
    start_s: float,
    end_s: float,
    language: str,
    language_probability: float,
) -> common_pb2.TranscriptSegment:
    """One TranscriptSegment from Whisper's sub-segments: avg_logprob weighted by duration;
    no-speech probability, compression ratio and temperature the worst sub-segment's, so the
    quality gate is never shown a flattering average."""
    parts = transcription.segments
    durations = [max(p.end_s - p.start_s, 1e-3) for p in parts]
    return common_pb2.TranscriptSegment(
        segment_id=segment_id,
        index=index,
        start_s=start_s,
        end_s=end_s,
        text=" ".join(p.text for p in parts if p.text),
        words=[
            common_pb2.Word(
                text=w.text,
                start_s=w.start_s,
                end_s=w.end_s,
                probability=w.probability,
                speaker=w.speaker,
                overlap=w.overlap,
            )
            for w in words
        ],
        speaker=dominant_speaker(words),
        language=language,
        language_probability=language_probability,
        avg_logprob=float(np.average([p.avg_logprob for p in parts], weights=durations)) if parts else 0.0,
        no_speech_prob=max((p.no_speech_prob for p in parts), default=1.0),
        compression_ratio=max((p.compression_ratio for p in parts), default=0.0),
        temperature=max((p.temperature for p in parts), default=0.0),
    )


def _turns(diarization: Diarization, mapping: dict[str, str], offset_s: float) -> list[Turn]:
    """The segment's turns under the recording's speaker labels. A local speaker too short to
    have an embedding cannot be linked; its turns are dropped, so its words go to the speaker
    who overlaps or is nearest them rather than to an anonymous one-off label."""
    return [
        Turn(t.start_s + offset_s, t.end_s + offset_s, mapping[t.speaker])
        for t in diarization.turns
        if mapping.get(t.speaker)
    ]


def draft_segment(
    ctx: ServiceContext,
    models: SpeechModels,
    session: Session,
    segment: audio_pb2.AudioSegment,
    samples: NDArray[np.float32],
) -> transcripts_pb2.DraftTranscript:
    """Draft one segment, reading and updating its recording's language and speakers."""
    return draft_segments(ctx, models, session, [segment], [samples])[0]


def draft_segments(
    ctx: ServiceContext,
    models: SpeechModels,
    session: Session,
    segments: Sequence[audio_pb2.AudioSegment],
    samples: Sequence[NDArray[np.float32]],
) -> list[transcripts_pb2.DraftTranscript]:
    """Draft a run of one recording's consecutive segments (``coalesce.coalesce_runs``), one
    draft each. Several are decoded as ONE joined audio, as the bare library decodes a whole file
    (fewer padded 30 s windows), and the words are split back by time; one is decoded alone,
    exactly as before. All else (language, diarization, speakers) is done segment by segment."""
    recording = lock_recording(session, segments[0].context.recording_id)
    hint = segments[0].context.language_hint  # a run shares one hint (coalesce_runs)
    if not recording.language and hint:
        recording.language, recording.language_probability, recording.language_source = hint, 1.0, "hint"
    options = replace(models.options, language=recording.language or None)
    # A run is one recording's, so one domain's: its approved terms as hotwords.
    vocabulary = active_vocabulary(session, segments[0].context.domain, recording.language)
    options = with_vocabulary(options, vocabulary)
    if len(segments) == 1:
        transcriptions = [models.transcriber.transcribe(samples[0], options)]
    else:
        pieces = [Piece(s.context.recording_id, s.index, s.start_s, s.end_s) for s in segments]
        joined = join_audio(pieces, samples)
        transcriptions = split_transcription(
            models.transcriber.transcribe(joined.samples, options), joined.offsets_s, joined.durations_s
        )
    return [
        _draft(ctx, models, recording, options, segment, audio, transcription)
        for segment, audio, transcription in zip(segments, samples, transcriptions, strict=True)
    ]


def _draft(
    ctx: ServiceContext,
    models: SpeechModels,
    recording: AsrRecording,
    options: DecodingOptions,
    segment: audio_pb2.AudioSegment,
    samples: NDArray[np.float32],
    transcription: Transcription,
) -> transcripts_pb2.DraftTranscript:
    """A segment's draft from its transcription (times from its first sample)."""
    if not recording.language and segment.speech_s >= MIN_DETECTION_SPEECH_S and transcription.segments:
        recording.language = transcription.language
        recording.language_probability = transcription.language_probability
        recording.language_source = "detected"

    words = shifted([w for s in transcription.segments for w in s.words], segment.start_s)
    turns: list[Turn] = []
    if models.diarizer is not None and words:
        diarization = models.diarizer.diarize(samples)
        registry = SpeakerRegistry.from_dict(recording.speakers, models.link_threshold)
        mapping = registry.link(diarization.embeddings, diarization.speech_s)
        recording.speakers = registry.to_dict()
        turns = _turns(diarization, mapping, segment.start_s)
    recording.segments_drafted += 1
    if segment.last:
        recording.ended = segment.end_reason
    return transcripts_pb2.DraftTranscript(
        context=segment.context,
        segment=transcript_segment(
            transcription,
            assign_speakers(words, turns),
            segment_id=segment.segment_id,
            index=segment.index,
            start_s=segment.start_s,
            end_s=segment.end_s,
            language=recording.language or transcription.language,
            language_probability=recording.language_probability or transcription.language_probability,
        ),
        audio=segment.audio,
        version=1,
        provenance=models.provenance(ctx, options),
        voice_activity=segment.voice_activity,
        speaker_turns=[
            common_pb2.SpeechSpan(start_s=t.start_s, end_s=t.end_s, speaker=t.speaker) for t in turns
        ],
        diarized=models.diarizer is not None,
        decode_profile="default",
    )


def redecode_segment(
    ctx: ServiceContext,
    models: SpeechModels,
    session: Session,
    request: transcripts_pb2.RedecodeRequest,
    samples: NDArray[np.float32],
) -> transcripts_pb2.DraftTranscript:
    """Decode a flagged segment again with the safe profile: the next version of its draft.

    The audio is the same, so the flagged draft's voice activity and speaker turns still hold:
    the new words get their speakers from those turns instead of a second diarization.
    """
    flagged = request.draft
    recording = lock_recording(session, flagged.context.recording_id)
    language = recording.language or flagged.segment.language or None
    vocabulary = active_vocabulary(session, flagged.context.domain, language or "")
    options = with_vocabulary(replace(models.options, language=language).safe(), vocabulary)
    transcription = models.transcriber.transcribe(samples, options)
    words = shifted([w for s in transcription.segments for w in s.words], flagged.segment.start_s)
    turns = [Turn(t.start_s, t.end_s, t.speaker) for t in flagged.speaker_turns]
    segment = transcript_segment(
        transcription,
        assign_speakers(words, turns),
        segment_id=flagged.segment.segment_id,
        index=flagged.segment.index,
        start_s=flagged.segment.start_s,
        end_s=flagged.segment.end_s,
        language=language or transcription.language,
        language_probability=flagged.segment.language_probability,
    )
    return transcripts_pb2.DraftTranscript(
        context=flagged.context,
        segment=segment,
        audio=flagged.audio,
        version=flagged.version + 1,
        provenance=models.provenance(ctx, options),
        voice_activity=flagged.voice_activity,
        speaker_turns=flagged.speaker_turns,
        diarized=flagged.diarized,
        decode_profile=request.profile or "safe",
        redecode_reasons=request.reasons,
    )


def offline_draft(
    models: SpeechModels,
    samples: NDArray[np.float32],
    options: DecodingOptions,
    *,
    context: common_pb2.RecordingContext,
    segment_id: str,
    start_s: float,
    voice_activity: Sequence[tuple[float, float]],
    version: int = 1,
    profile: str = "default",
) -> transcripts_pb2.DraftTranscript:
    """The draft ``draft_segment`` would publish for a recording whose language comes as a hint
    (``options.language``), without diarization or a database: for evaluations of the gate."""
    transcription = models.transcriber.transcribe(samples, options)
    words = shifted([w for s in transcription.segments for w in s.words], start_s)
    duration_s = len(samples) / TARGET_RATE_HZ
    language = options.language or transcription.language
    return transcripts_pb2.DraftTranscript(
        context=context,
        segment=transcript_segment(
            transcription,
            assign_speakers(words, []),
            segment_id=segment_id,
            index=0,
            start_s=start_s,
            end_s=start_s + duration_s,
            language=language,
            language_probability=1.0 if options.language else transcription.language_probability,
        ),
        audio=common_pb2.AudioRef(
            encoding="pcm_s16le", sample_rate_hz=TARGET_RATE_HZ, channels=1, duration_s=duration_s
        ),
        version=version,
        voice_activity=[common_pb2.SpeechSpan(start_s=a, end_s=b) for a, b in voice_activity],
        diarized=False,
        decode_profile=profile,
    )


def transcribe_file(
    models: SpeechModels, samples: NDArray[np.float32], language_hint: str, diarize: bool
) -> tuple[Transcription, list[common_pb2.TranscriptSegment]]:
    """A whole file at once (the synchronous Transcribe call): one diarization over all of it."""
    options = replace(models.options, language=language_hint or None)
    transcription = models.transcriber.transcribe(samples, options, batch_size=models.batch_size)
    turns: list[Turn] = []
    if diarize and models.diarizer is not None:
        turns = list(models.diarizer.diarize(samples).turns)
    segments = []
    for part in transcription.segments:
        single = Transcription(transcription.language, transcription.language_probability, 0.0, [part])
        segments.append(
            transcript_segment(
                single,
                assign_speakers(list(part.words), turns),
                segment_id=f"transcribe-{part.index:04d}",
                index=part.index,
                start_s=part.start_s,
                end_s=part.end_s,
                language=transcription.language,
                language_probability=transcription.language_probability,
            )
        )
    return transcription, segments
