"""`voxloop eval asr`: WER, DER and speaker-attributed WER on pyannote.audio's sample.

The sample is a real 30 s telephone call between two speakers, shipped in the pyannote.audio
wheel with its reference transcript (``sample.stm``) and turns (``sample.rttm``). Two paths are
scored, because they differ:

- **streamed**: what the platform does with a live stream. The sample goes through the running
  ingest and asr services over the broker in 0.5 s chunks; the drafts are read back from
  transcripts.draft.v1. Each segment is diarized on its own and its speakers are linked to the
  recording's by CAM++ centroids; DER is computed from the draft's speaker-attributed words
  (consecutive words of one speaker merged into turns).
- **whole file**: the synchronous Transcribe path; one Whisper pass and one diarization over the
  whole recording (DER from the pipeline's own turns).

WER normalisation: ``evaluation.normalise_text`` (lower-case, punctuation removed, apostrophes
inside words kept). DER: pyannote.metrics, 0.25 s forgiven on each side of every reference
boundary (NIST md-eval ``-c 0.25``), overlapped speech scored; also without any collar.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from pyannote.core import Annotation, Segment, Timeline

from protos import common_pb2
from services.asr.evaluation import (
    RefSegment,
    annotation_from_turns,
    cp_wer,
    der,
    read_rttm,
    read_stm,
    texts_by_speaker,
    wer,
)
from services.asr.speakers import Turn
from shared.audio import TARGET_RATE_HZ

TURN_MERGE_GAP_S = 0.5  # words of one speaker closer than this form one turn


@dataclass(frozen=True)
class SampleReference:
    wav: Path
    segments: list[RefSegment]
    turns: Annotation

    @classmethod
    def load(cls) -> SampleReference:
        folder = Path(str(metadata.distribution("pyannote.audio").locate_file("pyannote/audio/sample")))
        return cls(folder / "sample.wav", read_stm(folder / "sample.stm"), read_rttm(folder / "sample.rttm"))

    @property
    def text(self) -> str:
        return " ".join(s.text for s in sorted(self.segments, key=lambda s: s.start_s))


@dataclass(frozen=True)
class PathScores:
    path: str
    wer: float
    wer_errors: str  # "S/D/I of N"
    cpwer: float
    der_collar_025: float
    der_no_collar: float
    der_detail: str
    speakers_found: int
    speakers_reference: int
    hypothesis: str


def words_to_turns(words: list[common_pb2.Word], merge_gap_s: float = TURN_MERGE_GAP_S) -> list[Turn]:
    """Speaker turns from speaker-attributed words: what a draft says about who spoke when."""
    turns: list[Turn] = []
    for w in sorted(words, key=lambda w: w.start_s):
        if not w.speaker:
            continue
        if turns and turns[-1].speaker == w.speaker and w.start_s - turns[-1].end_s <= merge_gap_s:
            turns[-1] = Turn(turns[-1].start_s, max(turns[-1].end_s, w.end_s), w.speaker)
        else:
            turns.append(Turn(w.start_s, w.end_s, w.speaker))
    return turns


def score(
    path: str, reference: SampleReference, words: list[common_pb2.Word], text: str, turns: list[Turn]
) -> PathScores:
    duration_s = 30.0
    uem = Timeline([Segment(0.0, duration_s)])
    hypothesis = annotation_from_turns(turns)
    with_collar = der(reference.turns, hypothesis, collar_s=0.25, uem=uem)
    no_collar = der(reference.turns, hypothesis, collar_s=0.0, uem=uem)
    plain = wer(reference.text, text, "en")
    attributed = cp_wer(texts_by_speaker(reference.segments), texts_by_speaker(words), "en")
    return PathScores(
        path=path,
        wer=plain.wer,
        wer_errors=f"{plain.substitutions}/{plain.deletions}/{plain.insertions} of {plain.reference_words}",
        cpwer=attributed.cpwer,
        der_collar_025=with_collar.der,
        der_no_collar=no_collar.der,
        der_detail=(
            f"missed {with_collar.missed_s:.2f} s, false alarm {with_collar.false_alarm_s:.2f} s, "
            f"confusion {with_collar.confusion_s:.2f} s of {with_collar.total_s:.2f} s"
        ),
        speakers_found=len({w.speaker for w in words if w.speaker}),
        speakers_reference=len(reference.turns.labels()),
        hypothesis=text,
    )


def streamed_path(reference: SampleReference, timeout_s: float, work_dir: Path) -> PathScores:
    """The sample through the real ingest and asr services over the broker."""
    from shared.stack import stack
    from shared.stack.demo import follow_drafts, sample_recording, speech_chunks
    from shared.stack.probe import publish

    shutil.rmtree(work_dir, ignore_errors=True)  # fresh databases: the stream id is reused
    state = stack.up(work_dir, stack.StackPorts.free(), services=("ingest", "asr"))
    try:
        chunks = speech_chunks(sample_recording().samples, "eval-sample")
        publish(state.bootstrap, "audio.chunks.v1", chunks, key="eval-sample")
        received = follow_drafts(state.bootstrap, "eval-sample", timeout_s)
    finally:
        stack.down(work_dir)
    drafts = sorted(
        (r.message.segment for r in received if r.topic == "transcripts.draft.v1"),  # type: ignore[attr-defined]
        key=lambda s: s.index,
    )
    if not drafts:
        raise RuntimeError(f"no drafts came back; see the logs in {work_dir / 'logs'}")
    words = [w for d in drafts for w in d.words]
    return score(
        "streamed (services, 0.5 s chunks)",
        reference,
        words,
        " ".join(d.text for d in drafts),
        words_to_turns(words),
    )


def whole_file_path(reference: SampleReference, models_dir: Path | None) -> PathScores:
    """One Whisper pass and one diarization over the whole file, as the Transcribe call does."""
    from services.asr.drafting import SpeechModels, transcribe_file
    from services.asr.settings import AsrSettings
    from shared.audio import decode_container

    settings = AsrSettings(**({"models_dir": models_dir} if models_dir else {}))  # type: ignore[arg-type]
    models = SpeechModels.load(settings)
    samples = decode_container(reference.wav.read_bytes(), 60).samples
    assert len(samples) == 30 * TARGET_RATE_HZ
    _, segments = transcribe_file(models, samples, "", diarize=True)
    assert models.diarizer is not None
    turns = list(models.diarizer.diarize(samples).turns)
    words = [w for s in segments for w in s.words]
    return score("whole file (Transcribe)", reference, words, " ".join(s.text for s in segments), turns)


def run_eval(
    out_dir: Path, work_dir: Path, models_dir: Path | None = None, timeout_s: float = 600
) -> list[PathScores]:
    reference = SampleReference.load()
    results = [streamed_path(reference, timeout_s, work_dir), whole_file_path(reference, models_dir)]
    write_results(results, out_dir)
    return results


def write_results(results: list[PathScores], out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    payload: dict[str, Any] = {
        "sample": "pyannote/audio/sample/sample.wav (30 s, 2 speakers, telephone), sample.stm, sample.rttm",
        "model": "whisper-base (CTranslate2, int8, CPU, beam 5) + pyannote segmentation-3.0 + CAM++",
        "wer_normalisation": (
            "lower-case, punctuation removed except apostrophes inside words, spaces collapsed"
        ),
        "der": (
            "pyannote.metrics DiarizationErrorRate, overlap scored; collar 0.25 s each side (md-eval -c 0.25)"
        ),
        "cpwer": "concatenated minimum-permutation WER (CHiME-6), same normalisation",
        "results": [asdict(r) for r in results],
    }
    (out_dir / "asr_eval.json").write_text(json.dumps(payload, indent=2) + "\n")
    lines = [
        "# ASR evaluation on pyannote.audio's sample",
        "",
        f"Model: {payload['model']}. WER normalisation: {payload['wer_normalisation']}.",
        f"DER: {payload['der']}. Speaker-attributed WER: {payload['cpwer']}.",
        "",
        "| path | WER | S/D/I of N | cpWER | DER (±0.25 s) | DER (no collar) | speakers | DER detail |",
        "|---|---:|---|---:|---:|---:|---:|---|",
    ]
    for r in results:
        lines.append(
            f"| {r.path} | {r.wer:.1%} | {r.wer_errors} | {r.cpwer:.1%} | {r.der_collar_025:.1%} | "
            f"{r.der_no_collar:.1%} | {r.speakers_found} of {r.speakers_reference} | {r.der_detail} |"
        )
    (out_dir / "asr_eval.md").write_text("\n".join(lines) + "\n")
