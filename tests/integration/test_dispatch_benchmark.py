"""The dispatch concurrency benchmark, tiny, against the real stack (dispatch as its own process,
the broker, SQLite or PostgreSQL): every task finishes, nobody shares a task, no submission is
lost, and the report files come out. Also: the holder check does catch a double claim."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from services.dispatch.benchmark import run_benchmark
from services.dispatch.invariants import overlapping, reconstruct_holds
from services.dispatch.store import AuditRow

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_tiny_crew_finishes_everything_without_sharing_a_task(tmp_path: Path, database: str) -> None:
    out = tmp_path / "results"
    report = run_benchmark(out, tmp_path / "work", linguists=6, tasks=20, database=database, timeout_s=120)

    assert report.failure == "" and report.stats.errors == []
    inv = report.invariants
    assert inv.problems == []
    assert inv.overlaps == [] and inv.foreign_actions == []
    assert inv.holds == report.stats.claims == inv.claims_audited > 0
    assert inv.correction_versions == report.stats.submits >= report.expected_corrected == 22
    assert inv.unfinished == {} and inv.correction_tasks == 22 and inv.segments == 20
    assert report.corrected_read == report.expected_corrected
    assert report.claims_per_s > 0 and report.submissions_per_s > 0
    assert set(report.latency_ms()) >= {"claim", "submit"}

    written = json.loads((out / f"dispatch_benchmark_{database}.json").read_text())
    assert written["ok"] is True and written["errors"] == 0 and written["database"] == database
    assert written["latency_ms"]["claim"]["p99"] >= written["latency_ms"]["claim"]["p50"] > 0
    assert "never two holders | yes" in (out / f"dispatch_benchmark_{database}.md").read_text()
    assert (out / f"dispatch_benchmark_{database}.png").stat().st_size > 10_000


def _row(entry_id: int, actor: str, action: str, before: str = "", at: float = 0.0) -> AuditRow:
    return AuditRow(
        entry_id=entry_id,
        at=at or float(entry_id),
        actor=actor,
        action=action,
        task_id="t1",
        allowed=True,
        before=before,
    )


def test_the_holder_check_catches_a_double_claim_and_a_foreign_submit() -> None:
    queued = '{"assignee": "", "state": "TASK_STATE_QUEUED"}'
    held_by_ann = '{"assignee": "ann", "state": "TASK_STATE_CLAIMED"}'
    fine = [_row(1, "ann", "ClaimNextTask", queued), _row(2, "ann", "SubmitCorrection")]
    holds, overlaps, foreign = reconstruct_holds(fine)
    assert [(h.holder, h.ended_by) for h in holds] == [("ann", "SubmitCorrection")]
    assert overlaps == foreign == []

    double = [
        _row(1, "ann", "ClaimNextTask", queued),
        _row(2, "bob", "ClaimNextTask", held_by_ann),
        _row(3, "ann", "SubmitCorrection"),
        _row(4, "bob", "SubmitCorrection"),
    ]
    holds, overlaps, foreign = reconstruct_holds(double)
    assert len(overlaps) == 1 and "bob claimed it while ann held it" in overlaps[0]
    assert foreign and "SubmitCorrection by ann while bob held it" in foreign[0]

    lapsed = [
        _row(1, "ann", "ClaimNextTask", queued),
        _row(2, "dispatch", "lease_expired"),
        _row(3, "bob", "ClaimNextTask", queued),
        _row(4, "bob", "SubmitCorrection"),
    ]
    holds, overlaps, foreign = reconstruct_holds(lapsed)
    assert [h.holder for h in holds] == ["ann", "bob"] and overlaps == foreign == []
    assert overlapping(holds) == []
