"""What must hold after any amount of concurrent work, checked from the database alone.

- Never two holders: each task's claims are rebuilt from the append-only audit trail, from its
  ``ClaimNextTask`` to the holder's next allowed action that lets it go (submit, review, release,
  skip, escalate) or the service's ``lease_expired``; no two of a task's intervals may overlap,
  no claim may find the row held, and nobody but the holder may act on a held task.
- No lost submission: every correction the crew was told succeeded is a ``correction`` version,
  and every audited ``SubmitCorrection`` has its version (same task, same author).
- All tasks finish: every task is DONE and every segment has its correction tasks.

Audit rows are ordered by ``entry_id``: two changes of one task conflict on its row, so the
later one's insert follows the earlier one's commit on both SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from protos import events_pb2
from services.dispatch.rules import CORRECT, DONE, ESCALATED, QA_SAMPLE, QUEUED
from services.dispatch.store import AuditRow, DispatchSegment, DispatchTask, TranscriptVersionRow
from services.dispatch.tasks import SYSTEM

CLAIM = "ClaimNextTask"
LETS_GO = frozenset(
    {"SubmitCorrection", "SubmitLabels", "ReviewTask", "ReleaseTask", "SkipTask", "EscalateTask"}
)
LEASE_EXPIRED = "lease_expired"
# Allowed rows that change nothing about who holds a task.
OBSERVES = frozenset({"Heartbeat", "StreamTaskAudio"})
CLAIMABLE_STATES = frozenset(events_pb2.TaskState.Name(s) for s in (QUEUED, ESCALATED))


@dataclass(frozen=True)
class Hold:
    task_id: str
    holder: str
    start_s: float
    end_s: float  # inf while still held
    ended_by: str


@dataclass
class Invariants:
    holds: int = 0
    overlaps: list[str] = field(default_factory=list)  # a claim while another held the task
    foreign_actions: list[str] = field(default_factory=list)  # changes by someone not holding it
    claims_audited: int = 0
    corrections_audited: int = 0
    correction_versions: int = 0
    review_versions: int = 0
    qa_samples_done: int = 0
    rejections_audited: int = 0
    unmatched_submissions: list[str] = field(default_factory=list)
    tasks: int = 0
    unfinished: dict[str, int] = field(default_factory=dict)  # state -> tasks
    correction_tasks: int = 0
    segments: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "never_two_holders": not self.overlaps and not self.foreign_actions,
            "holds_reconstructed": self.holds,
            "overlaps": self.overlaps[:20],
            "foreign_actions": self.foreign_actions[:20],
            "no_lost_submission": not self.unmatched_submissions,
            "claims_audited": self.claims_audited,
            "corrections_audited": self.corrections_audited,
            "correction_versions": self.correction_versions,
            "review_versions": self.review_versions,
            "qa_samples_done": self.qa_samples_done,
            "rejections_audited": self.rejections_audited,
            "all_tasks_finished": not self.unfinished,
            "tasks": self.tasks,
            "correction_tasks": self.correction_tasks,
            "segments": self.segments,
            "unfinished": self.unfinished,
            "problems": self.problems,
        }


def reconstruct_holds(rows: list[AuditRow]) -> tuple[list[Hold], list[str], list[str]]:
    """Hold intervals per task from its allowed audit rows in ``entry_id`` order; also every claim
    made while the task was held, and every change made by someone other than its holder."""
    holds: list[Hold] = []
    overlaps: list[str] = []
    foreign: list[str] = []
    holding: dict[str, tuple[str, float]] = {}  # task_id -> (holder, since)
    for row in rows:
        current = holding.get(row.task_id)
        if row.action == CLAIM:
            before = json.loads(row.before) if row.before else {}
            if current is not None or before.get("state") not in CLAIMABLE_STATES or before.get("assignee"):
                held_by = current[0] if current else before.get("assignee", "?")
                overlaps.append(
                    f"{row.task_id}: {row.actor} claimed it while {held_by} held it (entry {row.entry_id})"
                )
                if current is not None:
                    holds.append(Hold(row.task_id, current[0], current[1], row.at, "overlapped"))
            holding[row.task_id] = (row.actor, row.at)
        elif row.action in OBSERVES:
            continue
        elif current is None:
            if row.action in LETS_GO:  # only a holder may submit, review, release, skip or escalate
                foreign.append(f"{row.task_id}: {row.action} by {row.actor}, who did not hold it")
        elif (row.action in LETS_GO and row.actor == current[0]) or (
            row.action == LEASE_EXPIRED and row.actor == SYSTEM
        ):
            holds.append(Hold(row.task_id, current[0], current[1], row.at, row.action))
            del holding[row.task_id]
        else:
            foreign.append(f"{row.task_id}: {row.action} by {row.actor} while {current[0]} held it")
    holds += [Hold(t, holder, since, float("inf"), "") for t, (holder, since) in holding.items()]
    return holds, overlaps, foreign


def overlapping(holds: list[Hold]) -> list[str]:
    """Pairs of one task's intervals that overlap in time (the reconstruction's own cross-check)."""
    out = []
    by_task: dict[str, list[Hold]] = {}
    for hold in holds:
        by_task.setdefault(hold.task_id, []).append(hold)
    for task_id, spans in by_task.items():
        spans.sort(key=lambda h: h.start_s)
        for a, b in zip(spans, spans[1:], strict=False):
            if b.start_s < a.end_s:
                out.append(
                    f"{task_id}: {a.holder} {a.start_s:.3f}-{a.end_s:.3f} and {b.holder} from {b.start_s:.3f}"
                )
    return out


def check(
    session: Session,
    crew_claims: int,
    crew_submits: int,
    crew_approvals: int,
    crew_rejections: int,
    expected_segments: int,
    expected_corrections: int,
) -> Invariants:
    """Every invariant, against what the crew counted and what was published."""
    inv = Invariants()
    rows = list(
        session.scalars(
            select(AuditRow)
            .where(AuditRow.allowed.is_(True), AuditRow.task_id != "")
            .order_by(AuditRow.entry_id)
        )
    )
    holds, overlaps, foreign = reconstruct_holds(rows)
    inv.holds = len(holds)
    inv.overlaps = overlaps + [o for o in overlapping(holds) if o not in overlaps]
    inv.foreign_actions = foreign
    actions = Counter(r.action for r in rows)
    inv.claims_audited = actions[CLAIM]
    inv.corrections_audited = actions["SubmitCorrection"]
    inv.rejections_audited = actions["rejected"]

    versions = list(
        session.execute(
            select(TranscriptVersionRow.kind, TranscriptVersionRow.task_id, TranscriptVersionRow.author)
        )
    )
    submitted = Counter((r.task_id, r.actor) for r in rows if r.action == "SubmitCorrection")
    stored = Counter((v.task_id, v.author) for v in versions if v.kind == "correction")
    inv.unmatched_submissions = [
        f"{t} by {a}: audited {n}, stored {stored[(t, a)]}" for (t, a), n in (submitted - stored).items()
    ]
    inv.unmatched_submissions += [f"{t} by {a}: stored without its audit" for (t, a) in stored - submitted]
    inv.correction_versions = sum(stored.values())
    inv.review_versions = sum(1 for v in versions if v.kind == "review")
    inv.qa_samples_done = (
        session.scalar(
            select(func.count())
            .select_from(DispatchTask)
            .where(DispatchTask.kind == QA_SAMPLE, DispatchTask.state == DONE)
        )
        or 0
    )

    counted = session.execute(select(DispatchTask.state, func.count()).group_by(DispatchTask.state))
    by_state: dict[int, int] = {state: n for state, n in counted}
    inv.tasks = sum(by_state.values())
    inv.unfinished = {events_pb2.TaskState.Name(s): n for s, n in by_state.items() if s != DONE}  # type: ignore[arg-type]
    inv.correction_tasks = (
        session.scalar(select(func.count()).select_from(DispatchTask).where(DispatchTask.kind == CORRECT))
        or 0
    )
    inv.segments = session.scalar(select(func.count()).select_from(DispatchSegment)) or 0

    expect = [
        (not inv.overlaps, f"{len(inv.overlaps)} claims overlapped another holder's"),
        (not inv.foreign_actions, f"{len(inv.foreign_actions)} changes by someone not holding the task"),
        (
            inv.claims_audited == crew_claims,
            f"audited claims {inv.claims_audited} != crew claims {crew_claims}",
        ),
        (
            not inv.unmatched_submissions,
            f"{len(inv.unmatched_submissions)} submissions without their version",
        ),
        (
            inv.correction_versions == crew_submits,
            f"correction versions {inv.correction_versions} != crew submits {crew_submits}",
        ),
        (
            inv.review_versions + inv.qa_samples_done == crew_approvals,
            f"review versions {inv.review_versions} + QA samples {inv.qa_samples_done}"
            f" != crew approvals {crew_approvals}",
        ),
        (
            inv.rejections_audited == crew_rejections,
            f"audited rejections {inv.rejections_audited} != crew rejections {crew_rejections}",
        ),
        (not inv.unfinished, f"unfinished tasks: {inv.unfinished}"),
        (
            inv.segments == expected_segments,
            f"segments {inv.segments} != verdicts published {expected_segments}",
        ),
        (
            inv.correction_tasks == expected_corrections,
            f"correction tasks {inv.correction_tasks} != expected {expected_corrections}",
        ),
    ]
    inv.problems = [message for holds_, message in expect if not holds_]
    return inv
