"""A backlog of segments through the ASR batch handler: one Whisper decode, one draft per segment.

Real whisper-base, real diarization (pyannote segmentation + CAM++) and a real database; the
segments are ingest's own cuts of pyannote's sample, stored in the blob store as ingest stores them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from protos import audio_pb2, common_pb2, transcripts_pb2
from services.asr.__main__ import MIGRATIONS
from services.asr.drafting import SpeechModels
from services.asr.handler import make_batch_handler
from services.asr.recordings import AsrRecording
from services.asr.settings import AsrSettings
from services.asr.transcriber import Transcription
from services.ingest.segmenter import Cut, Segmenter, SegmenterConfig
from shared.audio import TARGET_RATE_HZ, to_pcm16
from shared.db.tables import SegmentRecord
from shared.kafka.consumer import Inbound
from shared.service import ServiceContext, build_context
from shared.stack.demo import sample_recording
from shared.text import wer
from shared.topics import AUDIO_SEGMENTS, TRANSCRIPTS_DRAFT

pytestmark = pytest.mark.integration

RECORDING = "rec-coalesce"


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> AsrSettings:
    data = tmp_path_factory.mktemp("asr")
    return AsrSettings(data_dir=data, database_url=f"sqlite:///{data / 'asr.db'}", diarize=True)


@pytest.fixture(scope="module")
def models(settings: AsrSettings) -> SpeechModels:
    return SpeechModels.load(settings)


@pytest.fixture(scope="module")
def ctx(settings: AsrSettings) -> ServiceContext:
    return build_context(settings, [MIGRATIONS])


@pytest.fixture(scope="module")
def audio() -> NDArray[np.float32]:
    """60 s: pyannote's sample twice, so the cuts meet both ways (end to end, and over a pause)."""
    return np.concatenate([sample_recording().samples] * 2)


@pytest.fixture(scope="module")
def cuts(audio: NDArray[np.float32]) -> list[Cut]:
    """Ingest's first three cuts, short enough (min_segment_s 8) to give several segments."""
    segmenter = Segmenter(SegmenterConfig(min_silence_s=0.3, min_segment_s=8.0))
    cuts = segmenter.feed(audio) + segmenter.finish()
    assert len(cuts) >= 3, [(c.start_s, c.end_s) for c in cuts]
    return cuts[:3]


def as_segment(ctx: ServiceContext, cut: Cut) -> audio_pb2.AudioSegment:
    pcm = to_pcm16(cut.samples)
    stored = ctx.blobs.put(pcm, suffix=".pcm")
    return audio_pb2.AudioSegment(
        context=common_pb2.RecordingContext(recording_id=RECORDING, stream_id=RECORDING, tenant_id="t"),
        segment_id=f"{RECORDING}:{cut.index:06d}",
        index=cut.index,
        start_s=cut.start_s,
        end_s=cut.end_s,
        audio=common_pb2.AudioRef(
            uri=stored.uri,
            sha256=stored.sha256,
            encoding="pcm_s16le",
            sample_rate_hz=TARGET_RATE_HZ,
            channels=1,
            duration_s=len(cut.samples) / TARGET_RATE_HZ,
            size_bytes=stored.size_bytes,
        ),
        speech_s=cut.speech_s,
        voice_activity=[
            common_pb2.SpeechSpan(start_s=a / TARGET_RATE_HZ, end_s=b / TARGET_RATE_HZ) for a, b in cut.voiced
        ],
    )


def inbounds(segments: Sequence[audio_pb2.AudioSegment]) -> list[Inbound[audio_pb2.AudioSegment]]:
    return [
        Inbound(s, f"m{i}", f"t{i}", AUDIO_SEGMENTS.name, 0, i, RECORDING.encode())
        for i, s in enumerate(segments)
    ]


def test_a_backlog_is_decoded_once_and_drafted_segment_by_segment(
    ctx: ServiceContext,
    models: SpeechModels,
    audio: NDArray[np.float32],
    cuts: list[Cut],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    segments = [as_segment(ctx, cut) for cut in cuts]
    assert cuts[0].end_sample == cuts[1].start_sample < cuts[1].end_sample < cuts[2].start_sample
    end_marker = audio_pb2.AudioSegment(
        context=segments[0].context,
        segment_id=f"{RECORDING}:{len(cuts):06d}",
        index=len(cuts),
        start_s=cuts[-1].end_s,
        end_s=cuts[-1].end_s,
        last=True,
        end_reason="completed",
    )
    decodes: list[float] = []
    transcribe = models.transcriber.transcribe

    def counted(samples: NDArray[np.float32], *args: Any, **kwargs: Any) -> Transcription:
        decodes.append(len(samples) / TARGET_RATE_HZ)
        return transcribe(samples, *args, **kwargs)

    monkeypatch.setattr(models.transcriber, "transcribe", counted)
    handle = make_batch_handler(ctx, models, coalesce_max_s=120.0)
    with ctx.sessions.begin() as session:
        outputs = handle(session, inbounds([*segments, end_marker]))

    assert len(decodes) == 1, f"one Whisper decode for the whole backlog, got {decodes}"
    assert [len(o) for o in outputs] == [1, 1, 1, 0]  # the end marker drafts nothing
    drafts: list[transcripts_pb2.DraftTranscript] = []
    for (outbound,), segment in zip(outputs[:3], segments, strict=True):
        draft = outbound.message
        assert isinstance(draft, transcripts_pb2.DraftTranscript)
        assert outbound.topic == TRANSCRIPTS_DRAFT.name and outbound.key == RECORDING
        assert (draft.segment.segment_id, draft.segment.index) == (segment.segment_id, segment.index)
        assert (draft.segment.start_s, draft.segment.end_s) == (segment.start_s, segment.end_s)
        assert draft.version == 1 and draft.decode_profile == "default" and draft.diarized
        assert draft.audio == segment.audio and list(draft.voice_activity) == list(segment.voice_activity)
        assert draft.segment.language == "en" and draft.segment.text
        words = draft.segment.words
        assert words, f"{segment.segment_id} got no words"
        assert all(segment.start_s <= w.start_s <= w.end_s <= segment.end_s for w in words)
        assert all(w.speaker for w in words)
        assert all(
            segment.start_s - 0.01 <= t.start_s <= t.end_s <= segment.end_s + 0.01
            for t in draft.speaker_turns
        )
        drafts.append(draft)

    with ctx.sessions() as session:
        recording = session.get(AsrRecording, RECORDING)
        assert recording is not None
        assert recording.segments_drafted == 3 and recording.ended == "completed"
        assert (recording.language, recording.language_source) == ("en", "detected")
        assert recording.speakers, "the segments' speakers are linked into the recording's"
        states = {s.segment_id: s.state for s in session.query(SegmentRecord)}
        assert states == {s.segment_id: "drafted" for s in segments}

    # The same words as one Whisper pass over the same stretch of the recording, within the
    # jitter of decoding slightly different audio (pauses filled with zeros, window positions).
    whole = transcribe(audio[: cuts[-1].end_sample], models.options)
    error = wer(whole.text, " ".join(d.segment.text for d in drafts))
    assert error.wer <= 0.2, f"{error} against the whole-file decode"
