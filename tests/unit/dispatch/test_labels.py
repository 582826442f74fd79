"""A label review's answer as plain values: the service's ``validate_labels`` (label sets, entity
names, offsets, overlaps, each refusal naming its field), the published entity, the simulated
linguist's acceptance of the model's labels, and the command line's ``--entity`` and ``--keep``."""

from __future__ import annotations

import pytest
import typer

from protos import common_pb2, dispatch_pb2, transcripts_pb2
from services.dispatch.client import Labels, model_labels
from services.dispatch.labels import reviewed_entity, validate_labels
from services.dispatch.labels_cli import chosen_labels, parse_entity
from services.dispatch.simulate import as_labelled
from services.dispatch.tasks import Refused

TEXT = "Anna Berg called about order 4417"  # 33 characters


def entity(label: str, start: int, end: int, **fields: object) -> transcripts_pb2.Entity:
    return transcripts_pb2.Entity(label=label, start_char=start, end_char=end, **fields)  # type: ignore[arg-type]


def annotation(
    sentiment: tuple[str, ...] = ("negative", "neutral"), intent: tuple[str, ...] = ("complaint",)
) -> transcripts_pb2.AnnotatedTranscript:
    a = transcripts_pb2.AnnotatedTranscript(segment=common_pb2.TranscriptSegment(segment_id="s", text=TEXT))
    a.entities.extend(
        [entity("PERSON", 0, 9, personal_data=True, speaker="A", confidence=0.6, source="model:ner")]
    )
    for i, label in enumerate(sentiment):
        a.sentiment.add(label=label, confidence=0.5 - i * 0.1)
    for i, label in enumerate(intent):
        a.intent.add(label=label, confidence=0.6 - i * 0.1)
    return a


def refused(
    entities: list[transcripts_pb2.Entity],
    sentiment: str = "neutral",
    intent: str = "complaint",
    a: transcripts_pb2.AnnotatedTranscript | None = None,
) -> str:
    with pytest.raises(Refused) as caught:
        validate_labels(a or annotation(), entities, sentiment, intent)
    assert caught.value.code == "INVALID_ARGUMENT"
    return str(caught.value)


def test_a_valid_answer_passes() -> None:
    validate_labels(
        annotation(), [entity("PERSON", 0, 9), entity("ORDER_ID", 23, 33)], "neutral", "complaint"
    )
    validate_labels(annotation(), [], "negative", "complaint")  # no entities at all is an answer
    validate_labels(annotation(sentiment=(), intent=()), [], "", "")  # nothing to choose from


@pytest.mark.parametrize(
    ("sentiment", "intent", "message"),
    [
        (
            "furious",
            "complaint",
            "sentiment 'furious' is not one of the annotation's labels: negative, neutral",
        ),
        ("", "complaint", "sentiment '' is not one of"),
        ("neutral", "refund", "intent 'refund' is not one of the annotation's labels: complaint"),
    ],
)
def test_sentiment_and_intent_come_from_the_annotation(sentiment: str, intent: str, message: str) -> None:
    assert message in refused([], sentiment, intent)


def test_no_label_set_means_no_label() -> None:
    bare = annotation(sentiment=(), intent=())
    assert "sentiment 'neutral' given, but the annotation has no sentiment labels" in refused(
        [], "neutral", "", bare
    )
    assert "intent 'x' given" in refused([], "", "x", bare)


@pytest.mark.parametrize("label", ["person", "P", "1PERSON", "PER-SON", "A" * 33, ""])
def test_entity_labels_are_capitals_and_underscores(label: str) -> None:
    assert f"entities[1].label {label!r} is not a label" in refused(
        [entity("PERSON", 0, 9), entity(label, 10, 16)]
    )


@pytest.mark.parametrize("label", ["PERSON", "ORDER_ID", "GPE", "WORK_OF_ART", "A" * 32])
def test_entity_labels_accepted(label: str) -> None:
    validate_labels(annotation(), [entity(label, 0, 4)], "neutral", "complaint")


def test_offsets_name_the_entity_and_the_field() -> None:
    assert "entities[0].start_char -1 is negative" in refused([entity("PERSON", -1, 4)])
    assert "entities[0].end_char 4 is not after its start_char 4" in refused([entity("PERSON", 4, 4)])
    assert "entities[2].end_char 80 is past the end of the text (33 characters)" in refused(
        [entity("PERSON", 0, 9), entity("ORG", 10, 16), entity("MISC", 30, 80)]
    )
    validate_labels(annotation(), [entity("ORDER_ID", 28, 33)], "neutral", "complaint")  # up to the end


def test_overlaps_name_both_entities_in_request_order() -> None:
    message = refused([entity("ORDER_ID", 23, 33), entity("PERSON", 0, 9), entity("CARDINAL", 29, 33)])
    assert message == "entities[2] (CARDINAL 29-33) overlaps entities[0] (ORDER_ID 23-33)"
    assert "entities[1] (PERSON 0-4) overlaps entities[0]" in refused(
        [entity("PERSON", 0, 9), entity("PERSON", 0, 4)]
    )
    validate_labels(annotation(), [entity("PERSON", 0, 4), entity("PERSON", 4, 9)], "neutral", "complaint")


def test_published_entity_keeps_the_model_fields_of_a_kept_entity() -> None:
    kept = reviewed_entity(entity("PERSON", 0, 9), annotation(), "anna")
    assert (kept.text, kept.source, kept.speaker, kept.personal_data) == (
        "Anna Berg",
        "review:anna",
        "A",
        True,
    )
    assert kept.confidence == pytest.approx(0.6)
    relabelled = reviewed_entity(entity("ORG", 0, 9, text="wrong"), annotation(), "anna")
    assert (relabelled.text, relabelled.source, relabelled.personal_data) == (
        "Anna Berg",
        "review:anna",
        False,
    )


def test_the_simulated_linguist_keeps_the_model_labels_it_may_submit() -> None:
    a = annotation()
    a.entities.extend([entity("PER", 0, 4), entity("CARDINAL", 29, 33), entity("MISC", 30, 99)])
    task = dispatch_pb2.Task(annotation=a)
    labels = as_labelled(task)
    assert [(e.label, e.start_char) for e in labels.entities] == [("PERSON", 0), ("CARDINAL", 29)]
    assert (labels.sentiment, labels.intent) == ("negative", "complaint")  # each set's best
    validate_labels(a, labels.entities, labels.sentiment, labels.intent)


def test_command_line_entities_and_keep() -> None:
    assert parse_entity("23:33:ORDER_ID") == entity("ORDER_ID", 23, 33)
    with pytest.raises(typer.BadParameter, match="12:17:PERSON"):
        parse_entity("PERSON")
    model = model_labels(annotation())
    kept = chosen_labels(model, True, None, "complaint", None)
    assert kept == Labels(list(annotation().entities), "negative", "complaint")
    changed = chosen_labels(model, True, "neutral", None, ["0:4:PERSON"])
    assert (changed.sentiment, [e.end_char for e in changed.entities]) == ("neutral", [4])
    assert chosen_labels(model, False, "neutral", "complaint", None) == Labels([], "neutral", "complaint")
