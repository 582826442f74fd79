"""The quality gate over the real broker with the real ASR: verdicts on real drafts, a
hallucinated draft re-decoded before a person sees it, corrections measured and reported, gold
audits, agreement, drift alerts, and bad messages dead-lettered with their reason."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import numpy as np
import pytest
from typer.testing import CliRunner

from protos import common_pb2, events_pb2, quality_pb2, quality_pb2_grpc, transcripts_pb2
from services.asr.evaluation import read_stm
from services.quality.detectors import DETECTOR_NAMES
from shared.cli import app
from shared.stack import stack
from shared.stack.demo import follow_drafts, sample_recording, speech_chunks
from shared.stack.probe import Received, collect, publish, segment_id_of
from shared.stack.processes import StackState
from shared.topics import (
    AUDIO_CHUNKS,
    QUALITY_ALERTS,
    TRANSCRIPTS_CORRECTED,
    TRANSCRIPTS_DRAFT,
    TRANSCRIPTS_QA,
    TRANSCRIPTS_REDECODE,
)
from tests.e2e.conftest import grpc_port
from tests.samples import pyannote_sample

pytestmark = pytest.mark.e2e

ENV = {
    "QUALITY_GOLD_RATE": "1",  # every human-review verdict brings a gold segment when one exists
    "QUALITY_MIN_GOLD_SEGMENTS": "2",
    "QUALITY_DRIFT_BASELINE_SAMPLES": "3",
    "QUALITY_DRIFT_MIN_SAMPLES": "3",
    "QUALITY_DRIFT_SMOOTHING": "0.5",
    "QUALITY_DOUBLE_BLIND_SHARE": "0",
    "QUALITY_CALIBRATION_INTERVAL_S": "2",
}


@pytest.fixture(scope="module")
def quality_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackState]:
    home = tmp_path_factory.mktemp("stack")
    state = stack.up(home, stack.StackPorts.free(), services=("ingest", "asr", "quality"), extra_env=ENV)
    yield state
    stack.down(home)


@pytest.fixture(scope="module")
def sample_drafts(quality_stack: StackState) -> list[Received]:
    """The pyannote call streamed once, drafted by the real ASR, judged by the gate."""
    audio = sample_recording().samples
    context = common_pb2.RecordingContext(recording_id="call-q", tenant_id="acme", domain="support")
    chunks = speech_chunks(np.concatenate([audio, audio]), "call-q", context=context)
    publish(quality_stack.bootstrap, AUDIO_CHUNKS.name, chunks, key="call-q")
    drafts = [
        r for r in follow_drafts(quality_stack.bootstrap, "call-q", 300) if r.topic == TRANSCRIPTS_DRAFT.name
    ]
    assert drafts
    return drafts


def stub(state: StackState) -> quality_pb2_grpc.QualityServiceStub:
    channel = grpc.insecure_channel(f"127.0.0.1:{grpc_port(state, 'quality')}")
    return quality_pb2_grpc.QualityServiceStub(channel)  # type: ignore[no-untyped-call]


def metadata(state: StackState) -> tuple[tuple[str, str]]:
    return (("authorization", f"Bearer {stack.admin_token(Path(state.home))}"),)


def verdicts_for(
    state: StackState, segment_ids: set[str], timeout_s: float = 120
) -> dict[str, transcripts_pb2.QaVerdict]:
    received = collect(
        state.bootstrap,
        [TRANSCRIPTS_QA.name],
        lambda rs: segment_ids <= {segment_id_of(r.message) for r in rs},
        timeout_s,
    )
    return {segment_id_of(r.message): r.message for r in received if segment_id_of(r.message) in segment_ids}  # type: ignore[misc]


def copy_draft(
    draft: transcripts_pb2.DraftTranscript, recording_id: str, domain: str = "support"
) -> transcripts_pb2.DraftTranscript:
    """The same audio and words under a new recording and segment id."""
    out = transcripts_pb2.DraftTranscript()
    out.CopyFrom(draft)
    out.context.recording_id = recording_id
    out.context.domain = domain
    out.segment.segment_id = f"{recording_id}:000000"
    return out


def correction(
    draft: transcripts_pb2.DraftTranscript,
    text: str,
    linguist: str,
    verdict: transcripts_pb2.QaVerdict | None = None,
    model_version: str = "",
) -> transcripts_pb2.CorrectedTranscript:
    """What dispatch publishes once a linguist's correction passed review."""
    corrected = common_pb2.TranscriptSegment()
    corrected.CopyFrom(draft.segment)
    corrected.text = text
    message = transcripts_pb2.CorrectedTranscript(
        context=draft.context,
        segment=corrected,
        draft=draft.segment,
        version=2,
        task_id=f"task-{draft.segment.segment_id}-{linguist}",
        corrected_by=linguist,
        reviewed_by="rita",
    )
    if verdict is not None:
        message.verdict.CopyFrom(verdict)
    if model_version:
        message.verdict.draft.provenance.model_version = model_version
    return message


def test_every_real_draft_gets_an_explained_verdict(
    quality_stack: StackState, sample_drafts: list[Received]
) -> None:
    ids = {segment_id_of(r.message) for r in sample_drafts}
    verdicts = verdicts_for(quality_stack, ids)
    assert set(verdicts) == ids
    for verdict in verdicts.values():
        assert [d.name for d in verdict.detectors] == list(DETECTOR_NAMES)
        assert all(d.evidence for d in verdict.detectors)
        assert 0.0 <= verdict.confidence <= 1.0
        assert verdict.route in (transcripts_pb2.ROUTE_AUTO_ACCEPT, transcripts_pb2.ROUTE_HUMAN_REVIEW)
        assert verdict.reasons and verdict.policy_version and verdict.risk_tier == "low"
        assert verdict.attempts[-1].segment.segment_id == verdict.draft.segment.segment_id
        assert verdict.draft.voice_activity, "ingest's voice activity reached the gate"
    # Genuine speech is not taken for a hallucination.
    flagged = [d.name for v in verdicts.values() for d in v.detectors if d.fired]
    assert not flagged, flagged
    found = stub(quality_stack).GetVerdict(
        quality_pb2.GetVerdictRequest(segment_id=sorted(ids)[0]), metadata=metadata(quality_stack)
    )
    assert found.draft.segment.segment_id == sorted(ids)[0]


def test_a_hallucinated_draft_is_redecoded_before_a_person_sees_it(
    quality_stack: StackState, sample_drafts: list[Received]
) -> None:
    real: transcripts_pb2.DraftTranscript = sample_drafts[0].message  # type: ignore[assignment]
    tampered = copy_draft(real, "tampered-1")
    end = tampered.segment.words[-1].end_s
    for i, word in enumerate(["Thanks", "for", "watching!"]):  # Whisper's classic credit line
        tampered.segment.words.add(
            text=word, start_s=end + 0.3 * i, end_s=end + 0.3 * (i + 1), probability=0.9
        )
    tampered.segment.text += " Thanks for watching!"
    segment_id = tampered.segment.segment_id
    publish(quality_stack.bootstrap, TRANSCRIPTS_DRAFT.name, [tampered], key="tampered-1")

    received = collect(
        quality_stack.bootstrap,
        [TRANSCRIPTS_REDECODE.name, TRANSCRIPTS_DRAFT.name, TRANSCRIPTS_QA.name],
        lambda rs: any(r.topic == TRANSCRIPTS_QA.name and segment_id_of(r.message) == segment_id for r in rs),
        timeout_s=180,
    )
    mine = [r for r in received if segment_id_of(r.message) == segment_id]
    requests = [r.message for r in mine if r.topic == TRANSCRIPTS_REDECODE.name]
    assert len(requests) == 1 and requests[0].profile == "safe"  # type: ignore[attr-defined]
    assert any("known_phrase" in reason for reason in requests[0].reasons)  # type: ignore[attr-defined]
    redecoded = [r.message for r in mine if r.topic == TRANSCRIPTS_DRAFT.name and r.message.version == 2]  # type: ignore[attr-defined]
    assert len(redecoded) == 1
    assert redecoded[0].decode_profile == "safe"  # type: ignore[attr-defined]
    assert redecoded[0].provenance.parameters["condition_on_previous_text"] == "false"  # type: ignore[attr-defined]
    assert "watching" not in redecoded[0].segment.text.lower()  # type: ignore[attr-defined]
    (verdict,) = [r.message for r in mine if r.topic == TRANSCRIPTS_QA.name]
    assert isinstance(verdict, transcripts_pb2.QaVerdict)
    assert [a.version for a in verdict.attempts] == [1, 2]
    assert verdict.route == transcripts_pb2.ROUTE_HUMAN_REVIEW
    assert "re-decoded" in verdict.reasons[0] and "watching" in verdict.reasons[0].lower()


def test_corrections_are_measured_and_reported(
    quality_stack: StackState, sample_drafts: list[Received]
) -> None:
    """Corrections built from the sample's reference transcript (sample.stm), by two linguists."""
    references = read_stm(pyannote_sample().stm)
    drafts: list[transcripts_pb2.DraftTranscript] = [r.message for r in sample_drafts]  # type: ignore[misc]
    verdicts = verdicts_for(quality_stack, {d.segment.segment_id for d in drafts})
    messages = []
    for draft in drafts:
        offset = 0.0 if draft.segment.start_s < 30 else 30.0  # the call was streamed twice
        text = " ".join(
            r.text
            for r in references
            if draft.segment.start_s - 0.5 <= r.start_s + offset < draft.segment.end_s
        )
        verdict = transcripts_pb2.QaVerdict()
        verdict.CopyFrom(verdicts[draft.segment.segment_id])
        verdict.double_blind = True  # as if sampled for agreement: both corrected it independently
        messages += [correction(draft, text, "alice", verdict), correction(draft, text, "bob", verdict)]
    publish(quality_stack.bootstrap, TRANSCRIPTS_CORRECTED.name, messages, key="call-q")

    client, meta = stub(quality_stack), metadata(quality_stack)

    def report() -> quality_pb2.WerReport:
        return client.GetWerReport(quality_pb2.WerReportRequest(group_by="linguist"), metadata=meta)

    assert wait_for(lambda: {row.group for row in report().rows} >= {"alice", "bob"})
    rows = {row.group: row for row in report().rows}
    assert rows["alice"].segments == len(drafts) and 0 < rows["alice"].wer < 0.4
    assert report().normalisation and report().top_changes
    by_language = client.GetWerReport(quality_pb2.WerReportRequest(group_by="language"), metadata=meta)
    assert [row.group for row in by_language.rows] == ["en"]
    calibration = client.GetCalibrationReport(quality_pb2.CalibrationReportRequest(), metadata=meta)
    assert {c.language for c in calibration.languages} == {"", "en"}
    assert all(0 <= c.expected_calibration_error <= 1 and c.bins for c in calibration.languages)
    linguists = client.GetLinguistReport(quality_pb2.LinguistReportRequest(language="en"), metadata=meta)
    agreement = {row.linguist: row for row in linguists.rows}
    assert agreement["alice"].agreement_pairs == len(drafts) and agreement["alice"].agreement_wer == 0.0
    assert agreement["bob"].corrected_segments == len(drafts)
    # The same reports from the command line: tables, and the reliability plot as a PNG.
    png = Path(quality_stack.home) / "calibration.png"
    home = ["--home", quality_stack.home]
    shown = CliRunner().invoke(app, ["quality", "calibration", *home, "--png", str(png)])
    assert shown.exit_code == 0, shown.output
    assert "ECE" in shown.output and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for command in (["quality", "wer", "--by", "linguist"], ["quality", "linguists"]):
        shown = CliRunner().invoke(app, [*command, *home])
        assert shown.exit_code == 0 and "alice" in shown.output, shown.output
    with pytest.raises(grpc.RpcError) as bad:
        client.GetWerReport(quality_pb2.WerReportRequest(group_by="colour"), metadata=meta)
    assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "group_by" in bad.value.details()


def test_gold_segments_audit_linguists(quality_stack: StackState, sample_drafts: list[Received]) -> None:
    client, meta = stub(quality_stack), metadata(quality_stack)
    real: transcripts_pb2.DraftTranscript = sample_drafts[0].message  # type: ignore[assignment]
    gold = client.AddGoldSegment(
        quality_pb2.AddGoldSegmentRequest(
            segment_id=real.segment.segment_id, reference=real.segment.text, source="test: the draft, checked"
        ),
        metadata=meta,
    )
    assert gold.language == "en" and gold.reference_words > 3
    with pytest.raises(grpc.RpcError) as missing:
        client.AddGoldSegment(
            quality_pb2.AddGoldSegmentRequest(segment_id="nope", reference="x"), metadata=meta
        )
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND

    # Two medical segments go to people; each brings a gold copy of the sample segment along.
    medical = [copy_draft(real, f"clinic-{i}", domain="medical") for i in range(2)]
    publish(quality_stack.bootstrap, TRANSCRIPTS_DRAFT.name, medical, key="clinic")
    received = collect(
        quality_stack.bootstrap,
        [TRANSCRIPTS_QA.name],
        lambda rs: sum(1 for r in rs if r.message.gold) >= 2,  # type: ignore[attr-defined]
        timeout_s=60,
    )
    golds: list[transcripts_pb2.QaVerdict] = [r.message for r in received if r.message.gold]  # type: ignore[misc, attr-defined]
    assert len(golds) >= 2
    assert all(
        g.route == transcripts_pb2.ROUTE_HUMAN_REVIEW and list(g.reasons) == ["sampled for review"]
        for g in golds
    )
    assert real.segment.segment_id not in {g.draft.segment.segment_id for g in golds}  # a fresh id each time

    # Carol corrects both carelessly: her gold accuracy falls under the threshold; one alert.
    careless = [correction(g.draft, "hello", "carol", g) for g in golds[:2]]
    publish(quality_stack.bootstrap, TRANSCRIPTS_CORRECTED.name, careless, key="clinic")
    alerts = collect(
        quality_stack.bootstrap,
        [QUALITY_ALERTS.name],
        lambda rs: any(r.message.kind == "linguist_gold" for r in rs),  # type: ignore[attr-defined]
        timeout_s=60,
    )
    (alert,) = [r.message for r in alerts if r.message.kind == "linguist_gold"]  # type: ignore[attr-defined]
    assert isinstance(alert, events_pb2.QualityAlert)
    assert alert.linguist == "carol" and alert.current < 0.9 and alert.samples == 2
    linguists = client.GetLinguistReport(quality_pb2.LinguistReportRequest(language="en"), metadata=meta)
    carol = next(row for row in linguists.rows if row.linguist == "carol")
    assert carol.flagged and carol.gold_segments == 2


def test_rising_draft_wer_raises_one_drift_alert(
    quality_stack: StackState, sample_drafts: list[Received]
) -> None:
    real: transcripts_pb2.DraftTranscript = sample_drafts[0].message  # type: ignore[assignment]
    good = [correction(real, real.segment.text, "dora", model_version="drift-probe") for _ in range(3)]
    bad = [
        correction(real, "something else entirely was said here", "dora", model_version="drift-probe")
        for _ in range(4)
    ]
    publish(quality_stack.bootstrap, TRANSCRIPTS_CORRECTED.name, good + bad, key="drift")
    received = collect(
        quality_stack.bootstrap,
        [QUALITY_ALERTS.name],
        lambda rs: any("drift-probe" in r.message.model_version for r in rs),  # type: ignore[attr-defined]
        timeout_s=60,
    )
    drift = [
        r.message for r in received if r.message.kind == "drift" and "drift-probe" in r.message.model_version
    ]  # type: ignore[attr-defined]
    assert len(drift) == 1
    assert drift[0].language == "en" and "drift-probe" in drift[0].model_version  # type: ignore[attr-defined]
    assert drift[0].current > drift[0].bound > drift[0].baseline  # type: ignore[attr-defined]


def test_bad_messages_go_to_the_dead_letter_topics(quality_stack: StackState) -> None:
    publish(
        quality_stack.bootstrap,
        TRANSCRIPTS_DRAFT.name,
        [transcripts_pb2.DraftTranscript(version=1)],
        key="bad",
    )
    publish(
        quality_stack.bootstrap,
        TRANSCRIPTS_CORRECTED.name,
        [transcripts_pb2.CorrectedTranscript(context=common_pb2.RecordingContext(recording_id="r"))],
        key="bad",
    )
    letters = collect(
        quality_stack.bootstrap,
        [TRANSCRIPTS_DRAFT.dead_letter, TRANSCRIPTS_CORRECTED.dead_letter],
        lambda rs: (
            {r.topic for r in rs} >= {TRANSCRIPTS_DRAFT.dead_letter, TRANSCRIPTS_CORRECTED.dead_letter}
        ),
        timeout_s=60,
    )
    reasons = {r.topic: r.message.reason for r in letters}  # type: ignore[attr-defined]
    assert "segment.segment_id is required" in reasons[TRANSCRIPTS_DRAFT.dead_letter]
    assert "segment.segment_id is required" in reasons[TRANSCRIPTS_CORRECTED.dead_letter]


def wait_for(condition: object, timeout_s: float = 60.0) -> bool:
    import time

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if condition():  # type: ignore[operator]
                return True
        except grpc.RpcError:
            pass
        time.sleep(0.5)
    return False
