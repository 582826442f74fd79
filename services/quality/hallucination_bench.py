"""`voxloop bench hallucination`: do the detectors catch text that nobody said?

Every case of ``hallucination_cases`` goes through the real ASR as the service drafts a segment
(whisper-base with the service's decoding options, the language fixed as a recording's is, word
times shifted to recording time, the draft built by ``transcript_segment`` with the voice
activity ingest would attach; not diarized), then through the quality gate's detectors and
confidence score. A flagged draft is decoded again with the safe profile and judged again, as
the gate's re-decode path does. No Kafka, no database: the domain functions only.

Ground truth, "the draft holds text that was not spoken", decided from the audio and the
reference alone, never from the detectors:

- non-speech (and the speech-like extra cases): any text at all; an empty draft is a true
  negative.
- speech: the draft is aligned to the reference after the WER normalisation (the reference
  holds every utterance overlapping the segment, whole, so cutting creates no insertions). A
  word with no counterpart in it (inserted) counts when it lies entirely more than
  ``UNSPOKEN_DISTANCE_S`` from everywhere somebody spoke (the transcript's and the speaker
  turns' times), or when ``MIN_INSERTED_RUN`` such words follow each other. Misheard words
  (substitutions) are recognition errors, and a reference word placed at the wrong time is a
  timing error: neither is text that nobody said.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import ctranslate2
import jiwer

from protos import common_pb2, transcripts_pb2
from services.asr.drafting import SpeechModels, offline_draft
from services.asr.settings import AsrSettings
from services.asr.transcriber import DecodingOptions
from services.quality.confidence import segment_confidence
from services.quality.detectors import DETECTOR_NAMES, DetectorConfig, run_detectors
from services.quality.hallucination_cases import (
    ACCEPTANCE_GROUPS,
    BASE_SEED,
    GENUINE,
    GROUPS,
    PAUSES,
    Case,
    benchmark_cases,
)
from services.quality.phrases import DEFAULT_PHRASES_PATH, PhraseBook, load_phrases
from services.quality.speech import draft_text, merge_spans, overlap_s, quote
from shared.text import normalise_text

UNSPOKEN_DISTANCE_S = 1.0  # Whisper's word times drift by a few hundred ms; a second is clear of that
MIN_INSERTED_RUN = 5  # the sample's transcript leaves out short crosstalk that Whisper may write
ANY_DETECTOR = "any detector"
SPEECH_GROUPS = (GENUINE, PAUSES)
TARGET_RECALL, TARGET_SPEECH_FLAGGED = 0.9, 0.05
# (stage, done, total, detail): how long work reports, as pyannote's hooks do.
ProgressHook = Callable[[str, int, int, str], None]


def no_progress(stage: str, done: int, total: int, detail: str) -> None:
    """The default hook: report nothing."""


@dataclass(frozen=True)
class Outcome:
    """One decode of one case, judged against the truth and by the detectors."""

    text: str
    words: int
    hallucinated: bool
    truth: str  # why it is (or is not) text nobody said
    fired: tuple[str, ...]
    evidence: dict[str, str]  # the fired detectors' evidence
    confidence: float
    # Whisper's own view of the decode (the worst sub-segment's, as the draft carries them).
    no_speech_prob: float
    avg_logprob: float
    temperature: float
    decode_s: float

    @property
    def flagged(self) -> bool:
        return bool(self.fired)


@dataclass(frozen=True)
class CaseResult:
    case_id: str
    kind: str
    group: str
    language: str
    duration_s: float
    voice_activity_s: float
    description: str
    reference_text: str
    first: Outcome
    redecoded: Outcome | None  # the safe-profile decode of a flagged draft

    @property
    def final(self) -> Outcome:
        return self.redecoded or self.first


@dataclass(frozen=True)
class Score:
    """One detector (or any of them) against the truth, over one set of outcomes."""

    name: str
    true_positives: int
    false_positives: int
    false_negatives: int
    true_negatives: int
    speech_flagged: int  # speech segments without hallucination that were flagged
    speech_clean: int  # speech segments without hallucination

    @property
    def precision(self) -> float | None:
        fired = self.true_positives + self.false_positives
        return self.true_positives / fired if fired else None

    @property
    def recall(self) -> float | None:
        positives = self.true_positives + self.false_negatives
        return self.true_positives / positives if positives else None

    @property
    def speech_flagged_share(self) -> float | None:
        return self.speech_flagged / self.speech_clean if self.speech_clean else None

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "precision": self.precision, "recall": self.recall,
                "speech_flagged_share": self.speech_flagged_share}  # fmt: skip


def score(name: str, outcomes: Sequence[tuple[CaseResult, Outcome]]) -> Score:
    """``name`` is a detector, or ANY_DETECTOR for the gate's flag (any detector fired)."""
    tp = fp = fn = tn = speech_flagged = speech_clean = 0
    for result, outcome in outcomes:
        fired = outcome.flagged if name == ANY_DETECTOR else name in outcome.fired
        if outcome.hallucinated:
            tp, fn = tp + fired, fn + (not fired)
        else:
            fp, tn = fp + fired, tn + (not fired)
            if result.group in SPEECH_GROUPS:
                speech_flagged, speech_clean = speech_flagged + fired, speech_clean + 1
    return Score(name, tp, fp, fn, tn, speech_flagged, speech_clean)


@dataclass
class Report:
    machine: dict[str, str]
    settings: dict[str, Any]
    results: list[CaseResult] = field(default_factory=list)
    wall_s: float = 0.0

    def scores(self, after_redecode: bool = False, groups: Sequence[str] = ACCEPTANCE_GROUPS) -> list[Score]:
        """Per detector and for the gate's flag, over the cases of ``groups`` (the issue's set
        unless told): on the first drafts, or on the drafts the gate ends with (the re-decode
        of a flagged draft, flagged only if a detector fires on it again)."""
        outcomes = [(r, r.final if after_redecode else r.first) for r in self.results if r.group in groups]
        return [score(name, outcomes) for name in (*DETECTOR_NAMES, ANY_DETECTOR)]

    def overall(self, after_redecode: bool = False, groups: Sequence[str] = ACCEPTANCE_GROUPS) -> Score:
        return self.scores(after_redecode, groups)[-1]

    def target_met(self, after_redecode: bool = False) -> bool:
        s = self.overall(after_redecode)
        recall, flagged = s.recall, s.speech_flagged_share
        return recall is not None and recall >= TARGET_RECALL and (flagged or 0.0) <= TARGET_SPEECH_FLAGGED

    def redecode_summary(self, groups: Sequence[str] = ACCEPTANCE_GROUPS) -> dict[str, int]:
        """What the re-decode of the flagged drafts changed."""
        pairs = [(r.group, r.first, r.redecoded) for r in self.results if r.redecoded and r.group in groups]
        return {
            "flagged_and_redecoded": len(pairs),
            "hallucinated_before": sum(a.hallucinated for _, a, _ in pairs),
            "hallucinations_removed": sum(a.hallucinated and not b.hallucinated for _, a, b in pairs),
            "hallucinations_introduced": sum(b.hallucinated and not a.hallucinated for _, a, b in pairs),
            "still_flagged": sum(b.flagged for _, _, b in pairs),
            "still_flagged_and_hallucinated": sum(b.flagged and b.hallucinated for _, _, b in pairs),
            "cleared_but_hallucinated": sum(not b.flagged and b.hallucinated for _, _, b in pairs),
            "speech_segments_emptied": sum(group in SPEECH_GROUPS and not b.text for group, _, b in pairs),
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "machine": self.machine,
            "settings": self.settings,
            "wall_s": round(self.wall_s, 1),
            "target": {
                "rule": f"recall >= {TARGET_RECALL} with <= {TARGET_SPEECH_FLAGGED:.0%} of speech segments "
                "without hallucination flagged",
                "met_first_pass": self.target_met(),
                "met_after_redecode": self.target_met(after_redecode=True),
            },
            "scores_first_pass": [s.to_json() for s in self.scores()],
            "scores_after_redecode": [s.to_json() for s in self.scores(after_redecode=True)],
            "scores_first_pass_with_speech_like": [s.to_json() for s in self.scores(groups=GROUPS)],
            "redecode": self.redecode_summary(),
            "cases": [asdict(r) for r in self.results],
        }


def inserted_tokens(reference: str, tokens: list[str]) -> list[bool]:
    """For each hypothesis token: whether the alignment to the reference inserted it (no
    counterpart at all, not even a misheard one)."""
    if not reference:
        return [True] * len(tokens)
    inserted = [False] * len(tokens)
    if tokens:
        for chunk in jiwer.process_words(reference, " ".join(tokens)).alignments[0]:
            if chunk.type == "insert":
                for k in range(chunk.hyp_start_idx, chunk.hyp_end_idx):
                    inserted[k] = True
    return inserted


def longest_inserted_run(tokens: list[str], inserted: list[bool]) -> list[str]:
    longest: list[str] = []
    run: list[str] = []
    for token, was_inserted in zip(tokens, inserted, strict=True):
        run = [*run, token] if was_inserted else []
        longest = max(longest, run, key=len)
    return longest


def unspoken(case: Case, draft: transcripts_pb2.DraftTranscript) -> tuple[bool, str]:
    """The ground truth for one draft, with the reason in words (see the module docstring)."""
    if not draft_text(draft):
        return False, "no text"
    if not case.contains_speech:
        return True, "text on audio without speech"
    words = list(draft.segment.words)
    owners, tokens = [], []  # each normalised token and the index of the word it comes from
    for i, word in enumerate(words):
        for token in normalise_text(word.text, case.language).split():
            owners.append(i)
            tokens.append(token)
    inserted = inserted_tokens(normalise_text(case.reference_text, case.language), tokens)
    # A word the reference has is spoken even where Whisper's time for it is off: faster-whisper
    # can misplace a word by seconds when it maps the VAD-joined audio back to recording time.
    matched = {i for i, was_inserted in zip(owners, inserted, strict=True) if not was_inserted}
    near_speech = merge_spans(case.reference_spans, UNSPOKEN_DISTANCE_S)
    far = [
        words[i]
        for i in sorted(set(owners) - matched)
        if overlap_s(words[i].start_s, max(words[i].end_s, words[i].start_s + 0.02), near_speech) == 0
    ]
    if far:
        shown = ", ".join(f"{w.text.strip()!r} ({w.start_s:.1f}-{w.end_s:.1f} s)" for w in far[:4])
        return True, f"{len(far)} word(s) not in the reference, far from speech: {shown}"
    longest = longest_inserted_run(tokens, inserted)
    if len(longest) >= MIN_INSERTED_RUN:
        return True, f"{len(longest)} words in a row not in the reference: {quote(' '.join(longest))}"
    return False, f"all words in the reference or near speech; longest run not in it: {len(longest)} words"


def draft_case(
    models: SpeechModels, case: Case, options: DecodingOptions, version: int, profile: str
) -> tuple[transcripts_pb2.DraftTranscript, float]:
    """The draft the ASR service would publish for this segment, and the decode's seconds."""
    started = time.perf_counter()
    draft = offline_draft(
        models,
        case.samples,
        options,
        context=common_pb2.RecordingContext(recording_id=case.case_id, language_hint=case.language),
        segment_id=case.case_id,
        start_s=case.offset_s,
        voice_activity=case.voice_activity,
        version=version,
        profile=profile,
    )
    return draft, time.perf_counter() - started


def judge(
    case: Case,
    draft: transcripts_pb2.DraftTranscript,
    decode_s: float,
    config: DetectorConfig,
    phrases: PhraseBook,
) -> Outcome:
    results = run_detectors(draft, config, phrases, case.language)
    hallucinated, truth = unspoken(case, draft)
    return Outcome(
        text=draft_text(draft),
        words=len(draft.segment.words),
        hallucinated=hallucinated,
        truth=truth,
        fired=tuple(r.name for r in results if r.fired),
        evidence={r.name: r.evidence for r in results if r.fired},
        confidence=round(segment_confidence(draft, results), 4),
        no_speech_prob=round(draft.segment.no_speech_prob, 3),
        avg_logprob=round(draft.segment.avg_logprob, 3),
        temperature=round(draft.segment.temperature, 1),
        decode_s=round(decode_s, 2),
    )


def run_case(models: SpeechModels, case: Case, config: DetectorConfig, phrases: PhraseBook) -> CaseResult:
    """Draft, judge, and when flagged re-decode with the safe profile and judge again."""
    options = replace(models.options, language=case.language)
    first = judge(case, *draft_case(models, case, options, 1, "default"), config, phrases)
    redecoded = None
    if first.flagged:
        redecoded = judge(case, *draft_case(models, case, options.safe(), 2, "safe"), config, phrases)
    return CaseResult(
        case.case_id, case.kind, case.group, case.language, round(case.duration_s, 2),
        round(sum(e - s for s, e in case.voice_activity), 2), case.description, case.reference_text,
        first, redecoded,
    )  # fmt: skip


def load_models(models_dir: Path | None) -> SpeechModels:
    """The ASR service's models and decoding options from its settings (``ASR_*`` variables
    apply), without the diarizer: drafts here are not diarized."""
    overrides: dict[str, Any] = {"diarize": False}
    if models_dir is not None:
        overrides["models_dir"] = models_dir
    return SpeechModels.load(AsrSettings(**overrides))


def describe_settings(models: SpeechModels, config: DetectorConfig, cases: Sequence[Case]) -> dict[str, Any]:
    spec, options = models.transcriber.spec, models.options
    return {
        "model": f"faster-whisper/{spec.name} ({spec.version}), {spec.compute_type} on {spec.device}",
        "decoding": {k: v for k, v in asdict(options).items() if k != "language"},
        "redecode": {k: v for k, v in asdict(options.safe()).items() if k != "language"},
        "language": "fixed: the case's for speech, en for non-speech (as a recording's language is)",
        "draft": "transcript_segment over the words shifted to recording time; voice activity from "
        "services.ingest.segmenter.voice_activity; diarized=False",
        "detectors": asdict(config),
        "phrases": str(DEFAULT_PHRASES_PATH.name),
        "cases": f"{len(cases)} from seed {BASE_SEED}: "
        + ", ".join(f"{sum(c.group == g for c in cases)} {g}" for g in GROUPS),
        "sampling": "a decode that falls back to temperature > 0 samples; CTranslate2 seeded with "
        f"{BASE_SEED} once per run, so such a decode's outcome depends on the cases decoded before it",
        "ground_truth": (
            "non-speech: any text; speech: a word not in the reference (aligned after the WER "
            f"normalisation) lying over {UNSPOKEN_DISTANCE_S:g} s from all reference speech, or "
            f"{MIN_INSERTED_RUN} such words in a row"
        ),
    }


def run_hallucination_benchmark(
    out_dir: Path,
    models_dir: Path | None = None,
    progress: ProgressHook = no_progress,
    cases: Sequence[Case] | None = None,
    config: DetectorConfig | None = None,
) -> Report:
    """Every case through ASR, the detectors and the re-decode path; the report is written to
    ``out_dir/hallucination_benchmark.{json,md,png}``. ``cases`` defaults to the whole set."""
    from services.asr.benchmark import machine_facts
    from services.quality.hallucination_report import write_report

    started, config = time.perf_counter(), config or DetectorConfig()
    # A decode that falls back to temperature > 0 samples: seeded (before the first sampling,
    # which fixes CTranslate2's per-thread generator) so a run can be repeated exactly.
    ctranslate2.set_random_seed(BASE_SEED)
    if cases is None:
        progress("generating cases", 0, 1, "")
        cases = benchmark_cases()
        progress("generating cases", 1, 1, f"{len(cases)} cases")
    models, phrases = load_models(models_dir), load_phrases()
    report = Report(machine_facts(models.transcriber.spec.device), describe_settings(models, config, cases))
    for i, case in enumerate(cases):
        progress("drafting", i, len(cases), case.case_id)
        report.results.append(run_case(models, case, config, phrases))
    progress("drafting", len(cases), len(cases), "")
    report.wall_s = time.perf_counter() - started
    write_report(report, out_dir)
    return report


if __name__ == "__main__":
    from services.quality.hallucination_report import main

    main()
