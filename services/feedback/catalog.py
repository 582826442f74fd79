"""The snapshot catalogue: freeze the kept examples into a versioned snapshot (rows in the
database, ``manifest.jsonl`` and ``snapshot.json`` on disk), list snapshots, export them.

A snapshot's id is a hash of its members and their splits: asking again with nothing new gives
the same snapshot, not a copy.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy import select
from sqlalchemy.orm import Session

from protos import feedback_pb2
from services.feedback.snapshot import (
    PROTECTION,
    SPLITS,
    AudioSource,
    Candidate,
    SnapshotExample,
    assign_splits,
    dedup_key,
    deduplicate,
)
from services.feedback.store import ExampleRow, SnapshotMember, SnapshotRow


class SnapshotNotFound(LookupError):
    pass


class EmptySnapshot(ValueError):
    pass


def _previous_splits(session: Session) -> dict[str, str]:
    """recording_id -> the most protected split any earlier snapshot gave it."""
    query = (
        select(ExampleRow.recording_id, SnapshotMember.split)
        .join(SnapshotMember, SnapshotMember.segment_id == ExampleRow.segment_id)
        .join(SnapshotRow, SnapshotRow.snapshot_id == SnapshotMember.snapshot_id)
        .order_by(SnapshotRow.created_at)
    )
    found: dict[str, str] = {}
    for recording, split in session.execute(query):
        if PROTECTION[split] >= PROTECTION.get(found.get(recording, "train"), 0):
            found[recording] = split
    return found


def _summary(members: Sequence[SnapshotExample]) -> list[feedback_pb2.SplitSummary]:
    out = []
    for split in SPLITS:
        part = [m for m in members if m.split == split]
        out.append(
            feedback_pb2.SplitSummary(
                split=split,
                examples=len(part),
                hours=sum(m.duration_s for m in part) / 3600,
                recordings=len({m.example.context.recording_id for m in part}),
                speakers=len({m.example.speaker_id for m in part}),
            )
        )
    return out


def _message(row: SnapshotRow) -> feedback_pb2.DatasetSnapshot:
    created = Timestamp()
    created.FromNanoseconds(int(row.created_at * 1e9))
    snapshot = feedback_pb2.DatasetSnapshot(
        snapshot_id=row.snapshot_id,
        created_at=created,
        language=row.language,
        path=row.path,
        note=row.note,
        created_by=row.created_by,
    )
    summary = dict(row.summary)
    snapshot.examples = int(summary.get("examples", 0))  # type: ignore[call-overload]
    snapshot.duplicates_dropped = int(summary.get("duplicates_dropped", 0))  # type: ignore[call-overload]
    snapshot.protected_examples = int(summary.get("protected_examples", 0))  # type: ignore[call-overload]
    for split in summary.get("splits", []):  # type: ignore[attr-defined]
        snapshot.splits.add(**split)
    return snapshot


def _manifest_line(member: SnapshotExample) -> str:
    ex = member.example
    return json.dumps(
        {
            "segment_id": ex.segment_id,
            "version": ex.version,
            "split": member.split,
            "utterance_id": member.utterance_id,
            "recording_id": ex.context.recording_id,
            "speaker_id": ex.speaker_id,
            "language": ex.language,
            "domain": ex.domain,
            "start_s": ex.start_s,
            "end_s": ex.end_s,
            "audio": {"uri": ex.audio.uri, "sha256": ex.audio.sha256, "offset_s": member.offset_s},
            "text": ex.target_text,
            "draft_text": ex.source_text,
            "draft_wer": ex.quality.draft_wer,
            "gold": ex.gold,
            "evaluation": ex.evaluation,
        },
        ensure_ascii=False,
    )


def create_snapshot(
    session: Session, datasets_dir: Path, language: str = "", note: str = "", created_by: str = ""
) -> feedback_pb2.DatasetSnapshot:
    """Freeze every kept example (of ``language``, or all) into a snapshot."""
    query = select(ExampleRow).order_by(ExampleRow.segment_id)
    if language:
        query = query.where(ExampleRow.language == language)
    rows = [row for row in session.scalars(query) if row.text.strip()]
    if not rows:
        raise EmptySnapshot(f"no validated examples{' in ' + language if language else ''} to snapshot yet")
    examples = {row.segment_id: row.example() for row in rows}
    candidates = [
        Candidate(
            segment_id=ex.segment_id,
            recording_id=ex.context.recording_id,
            speaker_id=ex.speaker_id,
            duration_s=max(ex.end_s - ex.start_s, 0.0),
            protected=ex.gold or ex.evaluation,
            dedup_key=dedup_key(ex),
        )
        for ex in examples.values()
    ]
    kept, dropped = deduplicate(candidates)
    splits = assign_splits(kept, _previous_splits(session))
    members = [SnapshotExample(examples[c.segment_id], splits[c.segment_id]) for c in kept]
    content = "\n".join(f"{m.example.segment_id}:{m.example.version}:{m.split}" for m in members)
    digest = hashlib.sha256(f"{language}\n{content}".encode()).hexdigest()[:10]
    existing = session.scalars(
        select(SnapshotRow).where(SnapshotRow.snapshot_id.like(f"ds-%-{digest}"))
    ).first()
    if existing is not None:
        return _message(existing)
    now = time.time()
    snapshot_id = f"ds-{datetime.fromtimestamp(now, UTC):%Y%m%d}-{digest}"
    folder = datasets_dir.resolve() / snapshot_id
    folder.mkdir(parents=True, exist_ok=True)
    summary: dict[str, object] = {
        "examples": len(members),
        "duplicates_dropped": len(dropped),
        "protected_examples": sum(c.protected for c in kept),
        "splits": [
            {
                "split": s.split,
                "examples": s.examples,
                "hours": s.hours,
                "recordings": s.recordings,
                "speakers": s.speakers,
            }
            for s in _summary(members)
        ],
    }
    row = SnapshotRow(
        snapshot_id=snapshot_id,
        created_at=now,
        language=language,
        note=note,
        created_by=created_by,
        path=str(folder),
        summary=summary,
    )
    session.add(row)
    session.add_all(
        SnapshotMember(
            snapshot_id=snapshot_id,
            segment_id=m.example.segment_id,
            version=m.example.version,
            split=m.split,
            payload=m.example.SerializeToString(),
        )
        for m in members
    )
    (folder / "manifest.jsonl").write_text(
        "".join(_manifest_line(m) + "\n" for m in members), encoding="utf-8"
    )
    (folder / "snapshot.json").write_text(
        json.dumps(
            {"snapshot_id": snapshot_id, "created_at": now, "language": language, "note": note, **summary},
            indent=2,
        ),
        encoding="utf-8",
    )
    (folder / "README.md").write_text(
        dataset_card(snapshot_id, now, language, note, members, summary), "utf-8"
    )
    return _message(row)


def dataset_card(
    snapshot_id: str,
    created_at: float,
    language: str,
    note: str,
    members: Sequence[SnapshotExample],
    summary: dict[str, object],
) -> str:
    """The snapshot's README: what is in it and how it was split, for whoever trains on it."""
    rows = "\n".join(
        f"| {s.split} | {s.examples} | {s.hours * 60:.1f} | {s.recordings} | {s.speakers} |"
        for s in _summary(members)
    )
    languages = ", ".join(sorted({m.example.language for m in members})) or "-"
    reviewed = sum(m.example.labels_reviewed for m in members)
    corrected = sum(m.example.quality.corrected for m in members)
    return f"""# Dataset snapshot {snapshot_id}

Frozen {datetime.fromtimestamp(created_at, UTC):%Y-%m-%d %H:%M} UTC by the voxloop feedback service
(language filter: {language or "none"}){f"; note: {note}" if note else ""}. Languages: {languages}.

| split | examples | minutes | recordings | speakers |
|---|---:|---:|---:|---:|
{rows}

- No speaker and no recording is in two splits; evaluation and gold material is only in test; a
  recording held out by an earlier snapshot stays held out (docs/datasets.md in the repository).
- {summary["duplicates_dropped"]} duplicates dropped, {summary["protected_examples"]} protected examples.
- Texts are validated transcripts: {corrected} of {len(members)} were corrected by linguists; labels of
  {reviewed} were checked by a person (the rest are the annotation models').
- `manifest.jsonl`: one line per example (ids, split, speaker, times, audio blob and offset, text,
  draft text and its WER). `exports/<format>/`: the formats written by `voxloop feedback export`.
"""


def list_snapshots(session: Session) -> list[feedback_pb2.DatasetSnapshot]:
    return [_message(row) for row in session.scalars(select(SnapshotRow).order_by(SnapshotRow.created_at))]


def snapshot_examples(session: Session, snapshot_id: str) -> tuple[SnapshotRow, list[SnapshotExample]]:
    """The snapshot's members as they were frozen (a later correction makes a new snapshot)."""
    row = session.get(SnapshotRow, snapshot_id)
    if row is None:
        raise SnapshotNotFound(f"no snapshot {snapshot_id!r}")
    query = (
        select(SnapshotMember)
        .where(SnapshotMember.snapshot_id == snapshot_id)
        .order_by(SnapshotMember.segment_id)
    )
    return row, [SnapshotExample(member.example(), member.split) for member in session.scalars(query)]


def export(
    session: Session, snapshot_id: str, audio: AudioSource, formats: Sequence[str] = ()
) -> feedback_pb2.ExportSnapshotResponse:
    row, members = snapshot_examples(session, snapshot_id)
    from services.feedback.exports import export_snapshot  # datasets, spaCy: only when exporting

    written = export_snapshot(members, audio, Path(row.path) / "exports", formats)
    return feedback_pb2.ExportSnapshotResponse(
        snapshot_id=snapshot_id,
        exports=[
            feedback_pb2.ExportedFormat(format=name, path=str(out.path), files=out.files)
            for name, out in written.items()
        ],
    )
