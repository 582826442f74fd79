"""Before a person sees it: judge a draft, ask for a re-decode, or route it.

Per decode of a segment (version 1 is ASR's first draft, 2 the safe re-decode): run every
detector, score the confidence, and keep the attempt. A flagged first draft is decoded again
before anyone sees it; after the last allowed attempt the verdict is built from all of them:

1. no speech in the audio at all (voice activity and diarization both empty) -> reject: there is
   nothing for a person to transcribe, and whatever the model wrote was not spoken;
2. the last attempt still flagged -> a person, with the detectors' evidence as the reasons;
3. an earlier attempt flagged, the re-decode clean -> a person too unless ``accept_after_redecode``
   (a QA lead decides how far to trust a second decode of a segment that once hallucinated);
4. otherwise the routing policy's rule for the tenant, domain and language.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from protos import transcripts_pb2
from services.quality.confidence import segment_confidence
from services.quality.detectors import DetectorConfig, run_detectors
from services.quality.phrases import KnownPhrase
from services.quality.policy import RoutingPolicy, route_by_policy

PhraseBook = dict[str, tuple[KnownPhrase, ...]]


@dataclass(frozen=True)
class GateConfig:
    policy: RoutingPolicy
    phrases: PhraseBook
    detectors: DetectorConfig = field(default_factory=DetectorConfig)
    max_attempts: int = 2  # first draft + one safe re-decode
    accept_after_redecode: bool = False
    double_blind_share: float = 0.05  # of human-review segments, corrected twice independently


@dataclass(frozen=True)
class Assessment:
    """One decode, judged."""

    draft: transcripts_pb2.DraftTranscript
    detectors: list[transcripts_pb2.DetectorResult]
    confidence: float

    @property
    def fired(self) -> list[transcripts_pb2.DetectorResult]:
        return [d for d in self.detectors if d.fired]

    @property
    def flagged(self) -> bool:
        return bool(self.fired)


def assess(draft: transcripts_pb2.DraftTranscript, config: GateConfig, expected_language: str) -> Assessment:
    detectors = run_detectors(draft, config.detectors, config.phrases, expected_language)
    return Assessment(draft, detectors, segment_confidence(draft, detectors))


def evidence_lines(assessment: Assessment) -> list[str]:
    return [f"{d.name}: {d.evidence}" for d in assessment.fired]


def wants_redecode(assessment: Assessment, config: GateConfig) -> bool:
    return assessment.flagged and assessment.draft.version < config.max_attempts


def redecode_request(assessment: Assessment) -> transcripts_pb2.RedecodeRequest:
    return transcripts_pb2.RedecodeRequest(
        draft=assessment.draft, profile="safe", reasons=evidence_lines(assessment)
    )


def in_share(segment_id: str, share: float, salt: str) -> bool:
    """A stable pseudo-random draw per segment: the same answer on every instance and replay."""
    digest = hashlib.sha256(f"{salt}:{segment_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < share


def _no_speech(draft: transcripts_pb2.DraftTranscript) -> bool:
    return not draft.voice_activity and not (draft.diarized and draft.speaker_turns)


def build_verdict(
    attempts: list[Assessment],
    config: GateConfig,
    calibrated_threshold: float | None,
) -> transcripts_pb2.QaVerdict:
    """The verdict on a segment from all its decodes, in version order; the last one is judged."""
    last = attempts[-1]
    draft = last.draft
    language = draft.segment.language or draft.context.language_hint
    rule = config.policy.rule_for(draft.context, language)
    earlier_flags = [a for a in attempts[:-1] if a.flagged]
    redecoded = (
        [
            f"re-decoded (version {draft.version}, profile {draft.decode_profile or 'safe'}) after: "
            + "; ".join(evidence_lines(earlier_flags[-1]))
        ]
        if earlier_flags
        else []
    )
    if _no_speech(draft):
        route, reasons = (
            transcripts_pb2.ROUTE_REJECT,
            [
                "unusable audio: voice activity detection found no speech in the segment"
                + (
                    f"; the model's text ({len(draft.segment.words)} words) was not spoken"
                    if draft.segment.words
                    else ""
                )
            ],
        )
    elif last.flagged:
        route, reasons = (
            transcripts_pb2.ROUTE_HUMAN_REVIEW,
            ["possible hallucination: " + "; ".join(evidence_lines(last))],
        )
    elif earlier_flags and not config.accept_after_redecode:
        route, reasons = (
            transcripts_pb2.ROUTE_HUMAN_REVIEW,
            ["the first decode was flagged; the re-decode is clean, and a person confirms it"],
        )
    else:
        decision = route_by_policy(rule, last.confidence, calibrated_threshold)
        route, reasons = decision.route, decision.reasons
    return transcripts_pb2.QaVerdict(
        context=draft.context,
        draft=draft,
        route=route,
        confidence=last.confidence,
        detectors=last.detectors,
        reasons=redecoded + reasons,
        risk_tier=rule.risk_tier,
        policy_version=config.policy.version,
        attempts=[a.draft for a in attempts],
        double_blind=route == transcripts_pb2.ROUTE_HUMAN_REVIEW
        and in_share(draft.segment.segment_id, config.double_blind_share, "double-blind"),
    )
