"""A validated transcript becomes one training example: the audio span, the validated text and
words, the labels, how good the draft was, and who and what produced it.

Speaker identity across recordings: a producer that knows its speakers sets
``context.metadata["speaker_id.<LABEL>"]`` (e.g. ``speaker_id.SPEAKER_00 = agent-417``);
otherwise a speaker is known only within its recording (``<tenant>/<recording>/<label>``).
``metadata["evaluation"]`` or ``metadata["gold"]`` (``true``) mark material that must never be
trained on.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from protos import common_pb2, events_pb2, transcripts_pb2
from shared.kafka.consumer import require
from shared.text import wer

TRUE = frozenset({"true", "1", "yes"})


def flag(context: common_pb2.RecordingContext, key: str) -> bool:
    return context.metadata.get(key, "").strip().lower() in TRUE


def speaker_id_for(context: common_pb2.RecordingContext, label: str) -> str:
    known = context.metadata.get(f"speaker_id.{label}", "").strip()
    if known:
        return known
    return f"{context.tenant_id or '-'}/{context.recording_id}/{label or 'unknown'}"


def split_for(recording_id: str) -> str:
    """The example's default split, by recording; snapshots re-split by speaker (``snapshot``)."""
    bucket = int(hashlib.sha256(recording_id.encode()).hexdigest()[:8], 16) % 100
    return "test" if bucket < 10 else "dev" if bucket < 20 else "train"


def _origin(validated: transcripts_pb2.ValidatedTranscript) -> events_pb2.ExampleOrigin:
    people = [validated.corrected_by, validated.reviewed_by, validated.labels_reviewed_by]
    return events_pb2.ExampleOrigin(
        draft_model=validated.draft_provenance.model_name,
        draft_model_version=validated.draft_provenance.model_version,
        decode_profile=validated.decode_profile,
        annotation_pipeline=validated.pipeline,
        classifier_version=validated.classifier_version,
        linguists=list(dict.fromkeys(p for p in people if p)),
        corrected_by=validated.corrected_by,
        reviewed_by=validated.reviewed_by,
        labels_reviewed_by=validated.labels_reviewed_by,
        versions=validated.versions,
    )


def _quality(validated: transcripts_pb2.ValidatedTranscript, draft_text: str) -> events_pb2.ExampleQuality:
    scored = wer(validated.segment.text, draft_text, validated.segment.language)
    return events_pb2.ExampleQuality(
        draft_wer=scored.wer,
        substitutions=scored.substitutions,
        insertions=scored.insertions,
        deletions=scored.deletions,
        reference_words=scored.reference_words,
        confidence=validated.confidence,
        route=validated.route,
        risk_tier=validated.risk_tier,
        quality_reasons=validated.quality_reasons,
        corrected=scored.errors > 0,
    )


def example_for(
    validated: transcripts_pb2.ValidatedTranscript, provenance: common_pb2.Provenance
) -> events_pb2.TrainingExample:
    require(validated, "segment.segment_id", "context.recording_id")
    segment, context = validated.segment, validated.context
    # An auto-accepted segment carries no draft: it is its own draft.
    draft_text = validated.draft.text if validated.HasField("draft") else segment.text
    return events_pb2.TrainingExample(
        example_id=f"asr:{segment.segment_id}",
        kind=events_pb2.EXAMPLE_KIND_ASR,
        context=context,
        segment_id=segment.segment_id,
        language=segment.language,
        audio=validated.audio,
        start_s=segment.start_s,
        end_s=segment.end_s,
        source_text=draft_text,
        target_text=segment.text,
        entities=validated.entities,
        split=split_for(context.recording_id),
        provenance=provenance,
        speaker=segment.speaker,
        speaker_id=speaker_id_for(context, segment.speaker),
        words=segment.words,
        sentiment=validated.sentiment,
        intent=validated.intent,
        labels_reviewed=validated.labels_reviewed,
        quality=_quality(validated, draft_text),
        origin=_origin(validated),
        gold=flag(context, "gold"),
        evaluation=flag(context, "evaluation"),
        domain=context.domain,
        tenant_id=context.tenant_id,
        version=validated.version,
        audio_start_s=validated.audio_start_s,
    )


def top_label(scores: Iterable[transcripts_pb2.LabelScore]) -> str:
    """The best-scored label of a LabelScore list, "" when there is none."""
    best = max(scores, key=lambda s: s.confidence, default=None)
    return best.label if best is not None else ""
