"""Annotation over the real broker, with the annotate and dispatch services as processes: a
trusted segment comes out on transcripts.validated.v1 with entities, sentiment and intent; a
segment whose labels the model is unsure of becomes a label-review task, a linguist checks it
through the client library, and the validated transcript carries the reviewed labels."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from protos import common_pb2, events_pb2, transcripts_pb2
from services.annotate import classifiers
from services.annotate.settings import AnnotateSettings
from services.dispatch.client import DispatchClient
from shared.settings import load_settings
from shared.stack import stack
from shared.stack.probe import collect, publish
from shared.stack.processes import StackState
from shared.topics import TRANSCRIPTS_QA, TRANSCRIPTS_VALIDATED
from tests.e2e.conftest import grpc_port

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
TEXT = "This is unacceptable, my order 48213 never arrived in Boston and Anna Smith never called me back."


@pytest.fixture(scope="module")
def annotate_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackState]:
    list(classifiers.train_all(load_settings(AnnotateSettings).models_dir))
    home = tmp_path_factory.mktemp("stack")
    env = {  # tenant "careful" has every label checked by a person; the others none
        "ANNOTATE_REVIEW_THRESHOLD": "0",
        "ANNOTATE_ENTITY_REVIEW_THRESHOLD": "0",
        "ANNOTATE_TENANTS": json.dumps({"careful": {"review_threshold": 0.999}}),
    }
    state = stack.up(home, stack.StackPorts.free(), services=("dispatch", "annotate"), extra_env=env)
    yield state
    stack.down(home)


def accepted(segment_id: str, tenant: str) -> transcripts_pb2.QaVerdict:
    verdict = transcripts_pb2.QaVerdict(
        route=transcripts_pb2.ROUTE_AUTO_ACCEPT, confidence=0.92, risk_tier="low"
    )
    verdict.context.CopyFrom(common_pb2.RecordingContext(recording_id=f"call-{segment_id}", tenant_id=tenant))
    segment = verdict.draft.segment
    segment.segment_id, segment.text, segment.language = segment_id, TEXT, "en"
    for i, word in enumerate(TEXT.split()):
        segment.words.add(text=" " + word, start_s=i * 0.4, end_s=i * 0.4 + 0.3, speaker="SPEAKER_01")
    segment.start_s, segment.end_s, segment.speaker = 0.0, 0.4 * len(segment.words), "SPEAKER_01"
    verdict.draft.version = 1
    return verdict


def validated_of(
    bootstrap: str, segment_id: str, timeout_s: float = 60
) -> transcripts_pb2.ValidatedTranscript:
    received = collect(
        bootstrap,
        [TRANSCRIPTS_VALIDATED.name],
        lambda got: any(r.message.segment.segment_id == segment_id for r in got),
        timeout_s=timeout_s,
    )
    mine = [r.message for r in received if r.message.segment.segment_id == segment_id]
    assert mine, f"no validated transcript of {segment_id} within {timeout_s} s"
    return mine[-1]  # type: ignore[return-value]


def test_a_trusted_segment_is_validated_with_labels_on_the_broker(annotate_stack: StackState) -> None:
    publish(
        annotate_stack.bootstrap,
        TRANSCRIPTS_QA.name,
        [accepted("seg-trusted", "acme")],
        key="call-seg-trusted",
    )
    validated = validated_of(annotate_stack.bootstrap, "seg-trusted")
    entities = {(e.label, e.text): e for e in validated.entities}
    person = entities[("PERSON", "Anna Smith")]
    assert (person.start_word, person.end_word, person.speaker) == (11, 13, "SPEAKER_01")
    assert person.start_s == pytest.approx(4.4) and person.personal_data
    assert ("ID", "48213") in entities and ("LOC", "Boston") in entities
    assert validated.sentiment[0].label == "negative"
    assert validated.intent[0].label == "complaint"
    assert validated.trained_pipeline and not validated.labels_reviewed
    assert [v.kind for v in validated.versions] == ["draft", "validated"]

    # The example consumer for downstream teams reads it too.
    example = subprocess.run(
        [sys.executable, "docs/examples/consume_validated.py", "--bootstrap", annotate_stack.bootstrap,
         "--group", "example-test", "--max-messages", "1", "--timeout-s", "60"],
        capture_output=True, text=True, timeout=120, check=True, cwd=REPO,
    )  # fmt: skip
    lines = [json.loads(line) for line in example.stdout.splitlines()]
    (mine,) = [line for line in lines if line["segment"] == "seg-trusted"]
    assert mine["intent"] == "complaint" and ["PERSON", "Anna Smith", "SPEAKER_01", 4.4] in mine["entities"]


def test_unsure_labels_go_through_a_person_in_dispatch(annotate_stack: StackState) -> None:
    target = f"127.0.0.1:{grpc_port(annotate_stack, 'dispatch')}"
    admin = DispatchClient(target, stack.admin_token(Path(annotate_stack.home)))
    admin.upsert_user("lena", ["annotator"], ["en"], [])
    lena = DispatchClient(target, admin.issue_token("lena").token)

    publish(
        annotate_stack.bootstrap,
        TRANSCRIPTS_QA.name,
        [accepted("seg-careful", "careful")],
        key="call-seg-careful",
    )
    deadline = time.monotonic() + 60
    while (
        task := lena.claim_next([events_pb2.TASK_KIND_LABEL_REVIEW])
    ) is None and time.monotonic() < deadline:
        time.sleep(0.3)
    assert task is not None, "no label-review task reached the linguist"
    assert task.segment.segment_id == "seg-careful" and task.annotation.needs_label_review
    assert any(r.startswith("sentiment: top label") for r in task.annotation.review_reasons)

    start = TEXT.index("Anna Smith")
    lena.submit_labels(
        task.task_id,
        entities=[
            transcripts_pb2.Entity(label="PERSON", start_char=start, end_char=start + len("Anna Smith"))
        ],
        sentiment="negative",
        intent="complaint",
    )
    validated = validated_of(annotate_stack.bootstrap, "seg-careful")
    assert validated.labels_reviewed and validated.labels_reviewed_by == "lena"
    assert [(e.label, e.text, e.source) for e in validated.entities] == [
        ("PERSON", "Anna Smith", "review:lena")
    ]
    assert (validated.sentiment[0].label, validated.sentiment[0].confidence) == ("negative", 1.0)
    assert validated.intent[0].label == "complaint"
