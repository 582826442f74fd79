"""What the demo shows: progress while the recordings travel, the drafts, the validated
transcripts, the dataset snapshot and its exports, and a summary (WER before and after people
corrected, the share sent to people, timings)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import grpc
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from protos import audio_pb2, feedback_pb2, feedback_pb2_grpc, transcripts_pb2
from shared.stack.demo import DemoRun
from shared.stack.probe import Received, segment_id_of
from shared.stack.recordings import DemoRecording
from shared.text import error_rate, wer
from shared.topics import TRAINING_EXAMPLES, TRANSCRIPTS_DRAFT, TRANSCRIPTS_VALIDATED


class DemoProgress:
    """One bar per recording: segments cut, drafted, validated (rich, redrawn on each poll)."""

    def __init__(self, recordings: Sequence[DemoRecording], progress: Progress | None = None) -> None:
        self.progress = progress or Progress(
            TextColumn("{task.description:<22}"),
            BarColumn(),
            TextColumn("{task.fields[detail]}"),
            TimeElapsedColumn(),
        )
        self.tasks: dict[str, TaskID] = {
            r.stream_id: self.progress.add_task(f"{r.name} ({r.language})", total=None, detail="streaming")
            for r in recordings
        }

    def __enter__(self) -> DemoProgress:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.__exit__(None, None, None)

    def update(self, received: list[Received]) -> None:
        for stream_id, task in self.tasks.items():
            mine = [r for r in received if segment_id_of(r.message).startswith(f"{stream_id}:")]
            segments = [r.message for r in mine if isinstance(r.message, audio_pb2.AudioSegment)]
            voiced = {s.segment_id for s in segments if s.audio.uri}
            ended = any(s.last for s in segments)

            def done(topic: str, voiced: set[str] = voiced, mine: list[Received] = mine) -> int:
                return len(voiced & {segment_id_of(r.message) for r in mine if r.topic == topic})

            drafted, validated = done(TRANSCRIPTS_DRAFT.name), done(TRANSCRIPTS_VALIDATED.name)
            examples = done(TRAINING_EXAMPLES.name)
            total = len(voiced) if ended else None
            self.progress.update(
                task,
                total=total,
                completed=examples,
                detail=f"{len(voiced)}{'' if ended else '+'} segments, {drafted} drafted, "
                f"{validated} validated",
            )


@dataclass(frozen=True)
class RecordingSummary:
    name: str
    language: str
    duration_s: float
    segments: int
    to_people: int  # segments the quality gate sent to a person
    draft_errors: int  # the machine's draft against the reference
    validated_errors: int  # the validated transcript against the reference
    reference_words: int
    first_draft_s: float | None  # from the first chunk sent
    all_validated_s: float | None

    @property
    def review_share(self) -> float:
        return self.to_people / self.segments if self.segments else 0.0

    @property
    def draft_wer(self) -> float:
        return error_rate(self.draft_errors, self.reference_words)

    @property
    def validated_wer(self) -> float:
        return error_rate(self.validated_errors, self.reference_words)


def summarise(run: DemoRun) -> list[RecordingSummary]:
    out = []
    for recording in run.recordings:
        stream = recording.stream_id
        drafts, validated = run.drafts(stream), run.validated(stream)
        reference = " ".join(text for _, _, text in sorted(recording.reference))
        sent = run.sent_at[stream]
        first, last = (
            run.first_at(stream, TRANSCRIPTS_DRAFT.name),
            run.last_at(stream, TRANSCRIPTS_VALIDATED.name),
        )
        draft = wer(reference, " ".join(d.segment.text for d in drafts), recording.language)
        final = wer(reference, " ".join(v.segment.text for v in validated), recording.language)
        out.append(
            RecordingSummary(
                name=recording.name,
                language=recording.language,
                duration_s=recording.duration_s,
                segments=len(validated),
                to_people=sum(v.route == transcripts_pb2.ROUTE_HUMAN_REVIEW for v in validated),
                draft_errors=draft.errors,
                validated_errors=final.errors,
                reference_words=draft.reference_words,
                first_draft_s=first - sent if first is not None else None,
                all_validated_s=last - sent if last is not None else None,
            )
        )
    return out


def _seconds(value: float | None) -> str:
    return f"{value:.1f} s" if value is not None else "-"


def summary_table(summaries: Sequence[RecordingSummary]) -> Table:
    table = Table(title="summary: what people fixed, and how long it took")
    for col in ("recording", "lang", "audio", "segments", "to people", "draft WER", "validated WER"):
        table.add_column(col, justify="left" if col in ("recording", "lang") else "right")
    table.add_column("first draft", justify="right")
    table.add_column("all validated", justify="right")
    for s in summaries:
        table.add_row(
            s.name,
            s.language,
            f"{s.duration_s:.0f} s",
            str(s.segments),
            f"{s.to_people} ({s.review_share:.0%})",
            f"{s.draft_wer:.1%}",
            f"{s.validated_wer:.1%}",
            _seconds(s.first_draft_s),
            _seconds(s.all_validated_s),
        )
    segments = sum(s.segments for s in summaries)
    people = sum(s.to_people for s in summaries)
    words = sum(s.reference_words for s in summaries)
    table.add_row(
        "all",
        "",
        f"{sum(s.duration_s for s in summaries):.0f} s",
        str(segments),
        f"{people} ({people / segments if segments else 0:.0%})",
        f"{error_rate(sum(s.draft_errors for s in summaries), words):.1%}",
        f"{error_rate(sum(s.validated_errors for s in summaries), words):.1%}",
        "",
        _seconds(max((s.all_validated_s or 0.0 for s in summaries), default=None)),
        style="bold",
    )
    return table


def _speaker_turns(segment: Any) -> list[tuple[str, str]]:
    """A segment's words grouped into runs of one speaker, for printing."""
    runs: list[tuple[str, str]] = []
    for word in segment.words:
        if runs and runs[-1][0] == word.speaker:
            runs[-1] = (word.speaker, f"{runs[-1][1]} {word.text}")
        else:
            runs.append((word.speaker, word.text))
    return runs or [(segment.speaker, segment.text)]


def drafts_table(run: DemoRun) -> Table:
    table = Table(title="draft transcripts (asr, transcripts.draft.v1)")
    for col in ("recording", "segment", "time", "speaker", "language", "text"):
        table.add_column(col)
    for recording in run.recordings:
        for draft in run.drafts(recording.stream_id):
            seg = draft.segment
            for speaker, text in _speaker_turns(seg):
                table.add_row(
                    recording.name,
                    str(seg.index),
                    f"{seg.start_s:5.1f}-{seg.end_s:5.1f}",
                    speaker,
                    f"{seg.language} ({seg.language_probability:.2f})",
                    text,
                )
    return table


def _top(scores: Any) -> str:
    return f"{scores[0].label} {scores[0].confidence:.2f}" if scores else ""


def validated_table(run: DemoRun) -> Table:
    """The newest validated transcript of each segment: who checked it, its labels."""
    table = Table(title="validated transcripts (annotate, transcripts.validated.v1)")
    for col in ("recording", "seg", "route", "by", "sentiment", "intent", "entities", "text"):
        table.add_column(col)
    for recording in run.recordings:
        for v in run.validated(recording.stream_id):
            people = (
                ", ".join(p for p in (v.corrected_by, v.reviewed_by, v.labels_reviewed_by) if p) or "machine"
            )
            table.add_row(
                recording.name,
                str(v.segment.index),
                transcripts_pb2.Route.Name(v.route).removeprefix("ROUTE_").lower(),
                people,
                _top(v.sentiment),
                _top(v.intent),
                ", ".join(f"{e.label}:{e.text}" for e in v.entities),
                v.segment.text,
            )
    return table


def make_dataset(
    feedback_target: str, token: str, note: str = "voxloop demo"
) -> tuple[feedback_pb2.DatasetSnapshot, feedback_pb2.ExportSnapshotResponse]:
    """Freeze a snapshot of what the demo validated and export it in every format, over the
    feedback service's gRPC API, as an ML engineer would."""
    metadata = (("authorization", f"Bearer {token}"),)
    with grpc.insecure_channel(feedback_target) as channel:
        stub = feedback_pb2_grpc.FeedbackServiceStub(channel)  # type: ignore[no-untyped-call]
        snapshot = stub.CreateSnapshot(
            feedback_pb2.CreateSnapshotRequest(note=note), metadata=metadata, timeout=60
        )
        exports = stub.ExportSnapshot(
            feedback_pb2.ExportSnapshotRequest(snapshot_id=snapshot.snapshot_id),
            metadata=metadata,
            timeout=300,
        )
    return snapshot, exports


def dataset_table(
    snapshot: feedback_pb2.DatasetSnapshot, exports: feedback_pb2.ExportSnapshotResponse
) -> Table:
    splits = ", ".join(
        f"{s.split} {s.examples} ({s.hours * 3600:.0f} s, {s.speakers} speakers)" for s in snapshot.splits
    )
    table = Table(
        title=f"dataset snapshot {snapshot.snapshot_id} (feedback): {snapshot.examples} examples; {splits}; "
        f"{snapshot.duplicates_dropped} duplicates dropped, {snapshot.protected_examples} protected"
    )
    for col in ("format", "files", "path"):
        table.add_column(col)
    for e in exports.exports:
        table.add_row(e.format, str(e.files), e.path)
    return table
