"""The topic catalogue: every topic of the flow, its message type, and its dead-letter topic."""

from __future__ import annotations

from dataclasses import dataclass

from google.protobuf.message import Message

from protos import audio_pb2, events_pb2, transcripts_pb2

DEAD_LETTER_SUFFIX = ".dlq"


@dataclass(frozen=True)
class Topic:
    name: str
    message_type: type[Message]

    @property
    def dead_letter(self) -> str:
        return self.name + DEAD_LETTER_SUFFIX


AUDIO_CHUNKS = Topic("audio.chunks.v1", audio_pb2.AudioChunk)
AUDIO_SEGMENTS = Topic("audio.segments.v1", audio_pb2.AudioSegment)
TRANSCRIPTS_DRAFT = Topic("transcripts.draft.v1", transcripts_pb2.DraftTranscript)
TRANSCRIPTS_QA = Topic("transcripts.qa.v1", transcripts_pb2.QaVerdict)
TRANSCRIPTS_REDECODE = Topic("transcripts.redecode.v1", transcripts_pb2.RedecodeRequest)
TRANSCRIPTS_CORRECTED = Topic("transcripts.corrected.v1", transcripts_pb2.CorrectedTranscript)
TRANSCRIPTS_ANNOTATED = Topic("transcripts.annotated.v1", transcripts_pb2.AnnotatedTranscript)
TRANSCRIPTS_VALIDATED = Topic("transcripts.validated.v1", transcripts_pb2.ValidatedTranscript)
LABELS_REVIEWED = Topic("labels.reviewed.v1", transcripts_pb2.LabelReview)
TASKS_EVENTS = Topic("tasks.events.v1", events_pb2.TaskEvent)
TRAINING_EXAMPLES = Topic("training.examples.v1", events_pb2.TrainingExample)
QUALITY_ALERTS = Topic("quality.alerts.v1", events_pb2.QualityAlert)
ASR_VOCABULARY = Topic("asr.vocabulary.v1", events_pb2.VocabularyUpdate)
MODELS_PROMOTED = Topic("models.promoted.v1", events_pb2.ModelPromotion)
TRAINING_RETRAIN = Topic("training.retrain.v1", events_pb2.RetrainingRequest)

ALL_TOPICS: tuple[Topic, ...] = (
    AUDIO_CHUNKS,
    AUDIO_SEGMENTS,
    TRANSCRIPTS_DRAFT,
    TRANSCRIPTS_QA,
    TRANSCRIPTS_REDECODE,
    TRANSCRIPTS_CORRECTED,
    TRANSCRIPTS_ANNOTATED,
    TRANSCRIPTS_VALIDATED,
    LABELS_REVIEWED,
    TASKS_EVENTS,
    TRAINING_EXAMPLES,
    QUALITY_ALERTS,
    ASR_VOCABULARY,
    MODELS_PROMOTED,
    TRAINING_RETRAIN,
)
BY_NAME = {t.name: t for t in ALL_TOPICS}


def all_topic_names() -> list[str]:
    """Every topic and its dead-letter topic, as created by `voxloop topics create`."""
    return [n for t in ALL_TOPICS for n in (t.name, t.dead_letter)]


def message_type_for(topic_name: str) -> type[Message]:
    if topic_name.endswith(DEAD_LETTER_SUFFIX):
        return events_pb2.DeadLetter
    try:
        return BY_NAME[topic_name].message_type
    except KeyError:
        raise KeyError(f"unknown topic {topic_name!r}; known: {sorted(BY_NAME)}") from None
