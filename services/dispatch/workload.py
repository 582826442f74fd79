"""What the dispatch benchmark feeds the service and who works it: QA verdicts routed to people
in several languages (some double-blind, some high risk), and a crew of simulated linguists with
one or two languages each."""

from __future__ import annotations

from protos import common_pb2, transcripts_pb2
from services.dispatch.client import DispatchClient
from services.dispatch.simulate import Linguist, enrol

LANGUAGES = ("en", "de", "fr")
SEGMENTS_PER_RECORDING = 10
DOUBLE_BLIND_EVERY = 10  # every 10th segment is worked twice, blind
HIGH_RISK_EVERY = 5
TEXTS = {
    "en": "please check the order number before we ship it",
    "de": "bitte prüfen sie die bestellnummer vor dem versand",
    "fr": "merci de vérifier le numéro de commande avant envoi",
}


def make_verdict(
    segment_id: str,
    text: str = "hello there this is a test",
    language: str = "en",
    recording_id: str = "rec-1",
    index: int = 0,
    risk_tier: str = "medium",
    double_blind: bool = False,
    start_s: float = 0.0,
    route: transcripts_pb2.Route.ValueType = transcripts_pb2.ROUTE_HUMAN_REVIEW,
    domain: str = "support",
    gold: bool = False,
) -> transcripts_pb2.QaVerdict:
    """A judged draft with evenly timed words (0.4 s apart), routed to people unless told."""
    words = text.split()
    step = 0.4
    segment = common_pb2.TranscriptSegment(
        segment_id=segment_id,
        index=index,
        start_s=start_s,
        end_s=start_s + step * len(words),
        text=text,
        language=language,
        speaker="SPEAKER_00",
        words=[
            common_pb2.Word(
                text=w,
                start_s=start_s + i * step,
                end_s=start_s + (i + 1) * step - 0.05,
                probability=0.6,
                speaker="SPEAKER_00",
            )
            for i, w in enumerate(words)
        ],
    )
    context = common_pb2.RecordingContext(recording_id=recording_id, tenant_id="acme", domain=domain)
    draft = transcripts_pb2.DraftTranscript(context=context, segment=segment, version=1)
    return transcripts_pb2.QaVerdict(
        context=context,
        draft=draft,
        route=route,
        confidence=0.5,
        reasons=["routed for the test"],
        risk_tier=risk_tier,
        double_blind=double_blind,
        gold=gold,
    )


def bench_verdicts(run_id: str, tasks: int) -> list[transcripts_pb2.QaVerdict]:
    """``tasks`` segments across the languages, in recordings of ten."""
    out = []
    for i in range(tasks):
        language = LANGUAGES[i % len(LANGUAGES)]
        recording, index = divmod(i, SEGMENTS_PER_RECORDING)
        out.append(
            make_verdict(
                f"{run_id}-r{recording}-s{index}",
                TEXTS[language],
                language,
                f"{run_id}-r{recording}",
                index,
                risk_tier="high" if i % HIGH_RISK_EVERY == 0 else ("medium", "low")[i % 2],
                double_blind=i % DOUBLE_BLIND_EVERY == 3,
                start_s=index * 5.0,
            )
        )
    return out


def scopes(people: int, minimum_cover: int) -> list[list[str]]:
    """One or two languages each (every other person two), then more for whoever has fewest
    until each language has ``minimum_cover`` people (two annotators for a double-blind pair)."""
    k = len(LANGUAGES)
    out = [[LANGUAGES[i % k]] + ([LANGUAGES[(i + 1) % k]] if i % 2 == 0 else []) for i in range(people)]
    for language in LANGUAGES:
        while sum(language in s for s in out) < min(minimum_cover, people):
            min(((s for s in out if language not in s)), key=len).append(language)
    return out


def crew_sizes(linguists: int, reviewers_share: float) -> tuple[int, int]:
    """(reviewers, annotators) beside the senior and the QA lead."""
    reviewers = max(1, round((linguists - 2) * reviewers_share))
    annotators = linguists - 2 - reviewers
    if annotators < 2:
        raise ValueError(
            f"{linguists} linguists with a reviewer share of {reviewers_share} leave {annotators} annotators;"
            " a double-blind pair needs two (and a senior, a QA lead and a reviewer besides)"
        )
    return reviewers, annotators


def make_crew(
    admin: DispatchClient, target: str, reviewers: int, annotators: int, reject_rate: float
) -> list[Linguist]:
    """A senior (takes what was escalated) and a QA lead (approves every sample), both for all
    languages; then reviewers who send back ``reject_rate`` of what they review, and annotators."""
    crew = [
        enrol(admin, target, "bench-senior", ["senior"], ["*"]),
        enrol(admin, target, "bench-qa-lead", ["qa_lead"], ["*"]),
    ]
    for i, languages in enumerate(scopes(reviewers, 1)):
        name = f"bench-reviewer-{i:02d}"
        crew.append(enrol(admin, target, name, ["reviewer"], languages, reject_rate=reject_rate, seed=i))
    for i, languages in enumerate(scopes(annotators, 2)):
        crew.append(enrol(admin, target, f"bench-annotator-{i:02d}", ["annotator"], languages))
    return crew
