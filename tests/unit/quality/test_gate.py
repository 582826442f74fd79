"""The quality gate on drafts built the way ASR publishes them: judge a decode, ask for a safe
re-decode of a flagged first draft, and route the segment from all its attempts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from protos import common_pb2, transcripts_pb2
from services.quality.detectors import DETECTOR_NAMES
from services.quality.gate import (
    Assessment,
    GateConfig,
    assess,
    build_verdict,
    in_share,
    redecode_request,
    wants_redecode,
)
from services.quality.phrases import load_phrases
from services.quality.policy import load_policy

POLICY = load_policy()
GATE = GateConfig(policy=POLICY, phrases=load_phrases(), max_attempts=2)
CLEAN_TEXT = "Thanks for calling Acme support, my name is Dana. How can I help you today?"
SPEECH = (0.3, 6.0)  # where voice activity detection heard the agent


def make_draft(
    text: str = CLEAN_TEXT,
    *,
    probability: float = 0.97,
    avg_logprob: float = -0.12,
    appended: str = "",
    vad: Sequence[tuple[float, float]] = (SPEECH,),
    version: int = 1,
    segment_id: str = "rec-1:000001",
    domain: str = "support",
) -> transcripts_pb2.DraftTranscript:
    """Words at ~2.9 words/s from 0.5 s, inside ``SPEECH``; ``appended`` words follow at 8 s, where
    nobody spoke (in a 10 s segment)."""
    timed = [(w, 0.5 + i * 0.35) for i, w in enumerate(text.split())]
    timed += [(w, 8.0 + i * 0.35) for i, w in enumerate(appended.split())]
    words = [
        common_pb2.Word(text=f" {w}", start_s=s, end_s=s + 0.3, probability=probability, speaker="SPEAKER_00")
        for w, s in timed
    ]
    return transcripts_pb2.DraftTranscript(
        context=common_pb2.RecordingContext(
            recording_id="rec-1", tenant_id="acme", domain=domain, language_hint="en"
        ),
        segment=common_pb2.TranscriptSegment(
            segment_id=segment_id,
            start_s=0.0,
            end_s=10.0,
            text=" ".join(w for w, _ in timed),
            words=words,
            speaker="SPEAKER_00",
            language="en",
            language_probability=0.99,
            avg_logprob=avg_logprob,
            no_speech_prob=0.02,
            compression_ratio=1.4,
        ),
        audio=common_pb2.AudioRef(uri="file:///blobs/rec-1.wav", duration_s=10.0, sample_rate_hz=16_000),
        version=version,
        provenance=common_pb2.Provenance(service="asr", model_name="whisper-base", model_version="v1"),
        voice_activity=[common_pb2.SpeechSpan(start_s=s, end_s=e) for s, e in vad],
        decode_profile="default" if version == 1 else "safe",
    )


def flagged_draft(version: int = 1) -> transcripts_pb2.DraftTranscript:
    return make_draft(appended="Thanks for watching", version=version)


def fired(assessment: Assessment) -> set[str]:
    return {d.name for d in assessment.fired}


# --- one decode ---


def test_a_clean_confident_draft_is_auto_accepted_under_the_default_rule() -> None:
    clean = assess(make_draft(), GATE, "en")
    assert not clean.flagged and clean.confidence > 0.8
    assert not wants_redecode(clean, GATE)
    verdict = build_verdict([clean], GATE, calibrated_threshold=None)
    assert verdict.route == transcripts_pb2.ROUTE_AUTO_ACCEPT
    assert len(verdict.reasons) == 1 and "rule 'default'" in verdict.reasons[0]
    assert verdict.risk_tier == "low" and verdict.policy_version == POLICY.version
    assert verdict.confidence == clean.confidence
    assert list(verdict.attempts) == [clean.draft] and verdict.draft == clean.draft
    assert len(verdict.detectors) == len(DETECTOR_NAMES) and not any(d.fired for d in verdict.detectors)
    assert not verdict.double_blind and not verdict.gold


def test_a_calibrated_threshold_above_the_confidence_sends_it_to_a_person() -> None:
    clean = assess(make_draft(), GATE, "en")
    verdict = build_verdict([clean], GATE, calibrated_threshold=0.99)
    assert verdict.route == transcripts_pb2.ROUTE_HUMAN_REVIEW
    assert "calibrated threshold" in verdict.reasons[0]


def test_an_unsure_draft_goes_to_a_person_without_a_redecode() -> None:
    unsure = assess(make_draft(probability=0.45, avg_logprob=-0.6), GATE, "en")
    assert not unsure.flagged and unsure.confidence < 0.8
    assert not wants_redecode(unsure, GATE)
    verdict = build_verdict([unsure], GATE, None)
    assert verdict.route == transcripts_pb2.ROUTE_HUMAN_REVIEW
    assert f"confidence {unsure.confidence:.3f} < 0.800" in verdict.reasons[0]
    assert verdict.risk_tier == "low" and verdict.policy_version == POLICY.version


def test_words_outside_the_voice_activity_flag_the_draft_for_one_redecode() -> None:
    first = assess(flagged_draft(version=1), GATE, "en")
    assert {"text_without_speech", "known_phrase"} <= fired(first)
    assert wants_redecode(first, GATE)
    second = assess(flagged_draft(version=2), GATE, "en")
    assert second.flagged and not wants_redecode(second, GATE)  # max_attempts 2: no third decode


def test_words_in_silence_alone_are_enough_to_flag_a_draft() -> None:
    shifted = make_draft(vad=[(0.3, 3.0)])  # the second half of the words lies where nobody spoke
    assessment = assess(shifted, GATE, "en")
    assert fired(assessment) == {"text_without_speech"}
    assert wants_redecode(assessment, GATE)


def test_the_redecode_request_carries_the_draft_and_the_evidence() -> None:
    first = assess(flagged_draft(), GATE, "en")
    request = redecode_request(first)
    assert request.draft == first.draft and request.profile == "safe"
    assert len(request.reasons) == len(first.fired)
    by_detector = dict(line.split(": ", 1) for line in request.reasons)
    assert "'Thanks' (8.00-8.30 s)" in by_detector["text_without_speech"]
    assert "Thanks for watching" in by_detector["known_phrase"]


# --- the verdict from every attempt ---


def test_a_clean_redecode_still_goes_to_a_person_by_default() -> None:
    attempts = [assess(flagged_draft(1), GATE, "en"), assess(make_draft(version=2), GATE, "en")]
    assert not attempts[1].flagged and attempts[1].confidence > 0.8
    verdict = build_verdict(attempts, GATE, None)
    assert verdict.route == transcripts_pb2.ROUTE_HUMAN_REVIEW
    assert [a.version for a in verdict.attempts] == [1, 2] and verdict.draft.version == 2
    redecoded, why = verdict.reasons
    assert redecoded.startswith("re-decoded (version 2, profile safe) after: text_without_speech: ")
    assert "the re-decode is clean" in why
    assert not any(d.fired for d in verdict.detectors)  # the detectors of the attempt judged


def test_a_clean_redecode_is_accepted_when_the_qa_lead_allows_and_the_policy_does() -> None:
    trusting = replace(GATE, accept_after_redecode=True)
    attempts = [assess(flagged_draft(1), trusting, "en"), assess(make_draft(version=2), trusting, "en")]
    verdict = build_verdict(attempts, trusting, None)
    assert verdict.route == transcripts_pb2.ROUTE_AUTO_ACCEPT
    assert verdict.reasons[0].startswith("re-decoded (version 2")
    assert "rule 'default'" in verdict.reasons[1]
    assert len(verdict.attempts) == 2

    medical = [
        assess(make_draft(appended="Thanks for watching", domain="medical"), trusting, "en"),
        assess(make_draft(version=2, domain="medical"), trusting, "en"),
    ]
    assert build_verdict(medical, trusting, None).route == transcripts_pb2.ROUTE_HUMAN_REVIEW


def test_a_redecode_still_flagged_goes_to_a_person_as_a_possible_hallucination() -> None:
    attempts = [assess(flagged_draft(1), GATE, "en"), assess(flagged_draft(2), GATE, "en")]
    verdict = build_verdict(attempts, replace(GATE, accept_after_redecode=True), None)
    assert verdict.route == transcripts_pb2.ROUTE_HUMAN_REVIEW
    assert verdict.reasons[0].startswith("re-decoded (version 2")
    assert verdict.reasons[1].startswith("possible hallucination: ")
    assert "text_without_speech: " in verdict.reasons[1] and "known_phrase: " in verdict.reasons[1]
    assert {d.name for d in verdict.detectors if d.fired} == fired(attempts[1])
    assert len(verdict.attempts) == 2


def test_a_segment_without_any_speech_is_rejected_with_or_without_words() -> None:
    silent = assess(make_draft(text="", vad=[]), GATE, "en")
    verdict = build_verdict([silent], GATE, None)
    assert verdict.route == transcripts_pb2.ROUTE_REJECT
    assert verdict.reasons == ["unusable audio: voice activity detection found no speech in the segment"]

    invented = assess(make_draft(vad=[]), GATE, "en")
    assert invented.flagged
    verdict = build_verdict([invented], GATE, None)
    assert verdict.route == transcripts_pb2.ROUTE_REJECT
    assert (
        "found no speech" in verdict.reasons[0]
        and f"({len(CLEAN_TEXT.split())} words) was not spoken" in verdict.reasons[0]
    )
    assert not verdict.double_blind


def test_medical_segments_go_to_a_person_whatever_the_confidence() -> None:
    sure = assess(make_draft(domain="medical", probability=1.0, avg_logprob=0.0), GATE, "en")
    assert sure.confidence > 0.95
    verdict = build_verdict([sure], GATE, calibrated_threshold=0.1)
    assert verdict.route == transcripts_pb2.ROUTE_HUMAN_REVIEW
    assert verdict.risk_tier == "high" and "medical-and-legal" in verdict.reasons[0]
    assert verdict.policy_version == POLICY.version


# --- double-blind sampling ---


def verdict_for(assessment: Assessment, segment_id: str, config: GateConfig) -> transcripts_pb2.QaVerdict:
    draft = transcripts_pb2.DraftTranscript()
    draft.CopyFrom(assessment.draft)
    draft.segment.segment_id = segment_id
    return build_verdict([replace(assessment, draft=draft)], config, None)


def test_double_blind_is_a_stable_draw_per_segment() -> None:
    half = replace(GATE, double_blind_share=0.5)
    unsure = assess(make_draft(probability=0.45, avg_logprob=-0.6), half, "en")
    ids = [f"rec-7:{i:06d}" for i in range(40)]
    first = [verdict_for(unsure, i, half).double_blind for i in ids]
    again = [verdict_for(unsure, i, half).double_blind for i in ids]
    assert first == again
    assert any(first) and not all(first)
    assert [in_share(i, 0.5, "double-blind") for i in ids] == first


def test_double_blind_takes_about_the_configured_share_of_reviews() -> None:
    share = replace(GATE, double_blind_share=0.2)
    unsure = assess(make_draft(probability=0.45, avg_logprob=-0.6), share, "en")
    drawn = sum(verdict_for(unsure, f"rec-{i // 50}:{i % 50:06d}", share).double_blind for i in range(1000))
    assert 150 <= drawn <= 250


def test_double_blind_is_only_set_on_segments_a_person_reviews() -> None:
    everyone = replace(GATE, double_blind_share=1.0)
    reviewed = build_verdict([assess(make_draft(probability=0.45), everyone, "en")], everyone, None)
    assert reviewed.route == transcripts_pb2.ROUTE_HUMAN_REVIEW and reviewed.double_blind
    accepted = build_verdict([assess(make_draft(), everyone, "en")], everyone, None)
    assert accepted.route == transcripts_pb2.ROUTE_AUTO_ACCEPT and not accepted.double_blind
    rejected = build_verdict([assess(make_draft(vad=[]), everyone, "en")], everyone, None)
    assert rejected.route == transcripts_pb2.ROUTE_REJECT and not rejected.double_blind
    nobody = build_verdict(
        [assess(make_draft(probability=0.45), GATE, "en")], replace(GATE, double_blind_share=0.0), None
    )
    assert nobody.route == transcripts_pb2.ROUTE_HUMAN_REVIEW and not nobody.double_blind
