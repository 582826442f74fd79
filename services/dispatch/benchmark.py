"""`voxloop bench dispatch`: many simulated linguists on the same queues of the real service.

The stack runs with dispatch alone (its own process, the broker, SQLite or PostgreSQL); QA
verdicts are published on transcripts.qa.v1 like the quality gate publishes them, in several
languages, some double-blind, some high risk. A crew of annotators, reviewers, a senior and a QA
lead, each a real client with its own token and a scope of one or two languages, works until
every task is DONE and every corrected transcript has been read back from
transcripts.corrected.v1. Then the invariants are checked from the database
(``services.dispatch.invariants``). Latency is what a client waits for one RPC, measured in the
client (``services.dispatch.simulate``); throughput is per wall second from the first verdict
published to the last task DONE.
"""

from __future__ import annotations

import os
import platform
import shutil
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import psycopg
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from protos import transcripts_pb2
from services.dispatch import invariants
from services.dispatch.benchmark_report import write_report
from services.dispatch.client import DispatchClient
from services.dispatch.rules import DONE
from services.dispatch.simulate import CrewStats, Linguist, run_crew
from services.dispatch.store import AuditRow, DispatchTask
from services.dispatch.workload import (
    DOUBLE_BLIND_EVERY,
    HIGH_RISK_EVERY,
    LANGUAGES,
    bench_verdicts,
    crew_sizes,
    make_crew,
)
from shared.db.engine import make_engine, make_session_factory
from shared.stack import stack
from shared.stack.probe import Received, collect, publish_verdicts
from shared.topics import TRANSCRIPTS_CORRECTED

PG_ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
IDLE_SLEEP_S = 0.5  # a linguist whose queue was empty asks again after this
Progress = Callable[[str, int, int], None]  # (step, done, total)


@dataclass
class DispatchBenchReport:
    machine: dict[str, str]
    settings: dict[str, str]
    database: str
    linguists: int
    tasks: int  # verdicts routed to people
    expected_corrected: int  # one per segment, two per double-blind segment
    corrected_read: int = 0  # distinct corrected transcripts read back from the broker
    corrected_redelivered: int = 0  # copies beyond the first (the outbox relay is at least once)
    wall_s: float = 0.0
    stats: CrewStats = field(default_factory=CrewStats)
    invariants: invariants.Invariants = field(default_factory=invariants.Invariants)
    timeline: dict[str, list[float]] = field(default_factory=dict)  # action -> seconds since start
    failure: str = ""

    @property
    def submissions(self) -> int:
        """Corrections plus reviews (approvals and rejections): every RPC that hands work back."""
        return self.stats.submits + self.stats.reviews + self.stats.rejections

    @property
    def claims_per_s(self) -> float:
        return self.stats.claims / self.wall_s if self.wall_s else 0.0

    @property
    def submissions_per_s(self) -> float:
        return self.submissions / self.wall_s if self.wall_s else 0.0

    @property
    def ok(self) -> bool:
        return (
            not self.failure
            and not self.stats.errors
            and self.invariants.ok
            and self.corrected_read == self.expected_corrected
        )

    def latency_ms(self) -> dict[str, dict[str, float]]:
        out = {}
        for name, samples in (
            ("claim", self.stats.claim_s),
            ("submit", self.stats.submit_s),
            ("empty_poll", self.stats.empty_poll_s),
        ):
            if samples:
                p50, p99 = np.percentile(np.asarray(samples) * 1000.0, [50, 99])
                out[name] = {
                    "p50": float(p50),
                    "p99": float(p99),
                    "max": max(samples) * 1000.0,
                    "n": len(samples),
                }
        return out

    def to_json(self) -> dict[str, object]:
        s = self.stats
        return {
            "machine": self.machine,
            "settings": self.settings,
            "database": self.database,
            "linguists": self.linguists,
            "tasks": self.tasks,
            "wall_s": round(self.wall_s, 2),
            "claims": s.claims,
            "corrections": s.submits,
            "approvals": s.reviews,
            "rejections": s.rejections,
            "submissions": self.submissions,
            "claims_per_s": round(self.claims_per_s, 2),
            "submissions_per_s": round(self.submissions_per_s, 2),
            "latency_ms": {k: {m: round(v, 2) for m, v in d.items()} for k, d in self.latency_ms().items()},
            "empty_polls": s.empty_polls,
            "conflicts": s.conflicts,
            "errors": len(s.errors),
            "error_samples": s.errors[:10],
            "expected_corrected": self.expected_corrected,
            "corrected_read": self.corrected_read,
            "corrected_redelivered": self.corrected_redelivered,
            "invariants": self.invariants.summary(),
            "failure": self.failure,
            "ok": self.ok,
        }


def machine_facts() -> dict[str, str]:
    cpu = platform.processor() or platform.machine()
    ram = ""
    try:
        cpu = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
        kib = next(
            line.split()[1]
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal")
        )
        ram = f"{int(kib) / 2**20:.0f} GiB"
    except (OSError, StopIteration):
        pass  # not Linux: the platform module's answer stands
    return {
        "host": platform.node(),
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "ram": ram,
        "load_1min_at_start": f"{os.getloadavg()[0]:.2f}",  # other work on the machine skews timings
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
    }


@contextmanager
def bench_database(database: str, home: Path, facts: dict[str, str]) -> Iterator[str]:
    """The service's database URL: a SQLite file under ``home``, or a fresh PostgreSQL database
    (on ``VOXLOOP_TEST_PG``'s server, or the local one) dropped afterwards."""
    if database == "sqlite":
        yield f"sqlite:///{(home / 'data' / 'dispatch.db').resolve()}"
        return
    if database != "postgresql":
        raise ValueError(f"database must be sqlite or postgresql, not {database!r}")
    admin_dsn = os.environ.get("VOXLOOP_TEST_PG", PG_ADMIN_DSN)
    name = f"vx_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        facts["postgresql"] = str(conn.execute("SHOW server_version").fetchone()[0])  # type: ignore[index]
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield admin_dsn.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://") + f"/{name}"
    finally:
        with psycopg.connect(admin_dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run_benchmark(
    out_dir: Path,
    work_dir: Path,
    linguists: int = 50,
    tasks: int = 1500,
    reviewers_share: float = 0.3,
    reject_rate: float = 0.1,
    database: str = "sqlite",
    progress: Progress = lambda *_: None,
    timeout_s: float = 1800.0,
) -> DispatchBenchReport:
    """Run the crew against the real service until all work is done; check, report, write
    ``out_dir/dispatch_benchmark_<database>.{json,md,png}``."""
    reviewers, annotators = crew_sizes(linguists, reviewers_share)
    home = work_dir / f"dispatch-{database}"
    shutil.rmtree(home, ignore_errors=True)
    verdicts = bench_verdicts(uuid.uuid4().hex[:6], tasks)
    report = DispatchBenchReport(
        machine=machine_facts(),
        settings={
            "crew": f"{annotators} annotators, {reviewers} reviewers, 1 senior, 1 QA lead",
            "reject_rate": str(reject_rate),
            "languages": "/".join(LANGUAGES) + " (one or two per person)",
            "double_blind": f"every {DOUBLE_BLIND_EVERY}th segment",
            "high_risk": f"every {HIGH_RISK_EVERY}th segment",
            "think_s": "0 (claim, then submit at once)",
            "idle_sleep_s": str(IDLE_SLEEP_S),
        },
        database=database,
        linguists=linguists,
        tasks=tasks,
        expected_corrected=sum(2 if v.double_blind else 1 for v in verdicts),
    )
    progress("starting the stack", 0, report.expected_corrected)
    with bench_database(database, home, report.machine) as url:
        env = {"DISPATCH_DATABASE_URL": url, "VOXLOOP_LOG_LEVEL": "WARNING"}
        state = stack.up(home, stack.StackPorts.free(), services=("dispatch",), extra_env=env)
        try:
            target = f"127.0.0.1:{state.services[0].grpc_port}"
            with DispatchClient(target, stack.admin_token(home)) as admin:
                crew = make_crew(admin, target, reviewers, annotators, reject_rate)
            try:
                _work(report, state.bootstrap, crew, verdicts, url, progress, timeout_s)
            finally:
                for person in crew:
                    person.client.close()
        finally:
            stack.down(home)
    write_report(report, out_dir)
    return report


class CorrectedReader:
    """Reads transcripts.corrected.v1 from the beginning in the background: the task ids seen."""

    def __init__(self, bootstrap: str, timeout_s: float) -> None:
        self.task_ids: set[str] = set()
        self.messages = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=collect,
            args=(bootstrap, [TRANSCRIPTS_CORRECTED.name], self._until, timeout_s),
            name="corrected-reader",
            daemon=True,
        )
        self._thread.start()

    def _until(self, received: list[Received]) -> bool:
        for r in received[self.messages :]:
            self.task_ids.add(r.message.task_id)  # type: ignore[attr-defined]
        self.messages = len(received)
        return self._stop.is_set()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)


def timeline(session: Session, since: float) -> dict[str, list[float]]:
    """When each claim and each submission happened (seconds since ``since``), from the audit."""
    kinds = {"ClaimNextTask": "claims", "SubmitCorrection": "submissions", "ReviewTask": "submissions"}
    rows = session.execute(
        select(AuditRow.action, AuditRow.at).where(AuditRow.allowed.is_(True), AuditRow.action.in_(kinds))
    )
    out: dict[str, list[float]] = {"claims": [], "submissions": []}
    for action, at in rows:
        out[kinds[action]].append(at - since)
    return out


def _work(
    report: DispatchBenchReport,
    bootstrap: str,
    crew: Sequence[Linguist],
    verdicts: Sequence[transcripts_pb2.QaVerdict],
    url: str,
    progress: Progress,
    timeout_s: float,
) -> None:
    """Publish, let the crew work until everything is done, then check the database."""
    expected = report.expected_corrected
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    reader = CorrectedReader(bootstrap, timeout_s + 120)
    checked_at, all_done = 0.0, False

    def finished() -> bool:
        """Every correction read back and every task DONE (the database asked once a second)."""
        nonlocal checked_at, all_done
        if time.monotonic() - checked_at < 1.0:
            return all_done
        checked_at = time.monotonic()
        progress("working", len(reader.task_ids), expected)
        if len(reader.task_ids) >= expected:
            with sessions() as session:
                open_tasks = session.scalar(
                    select(func.count()).select_from(DispatchTask).where(DispatchTask.state != DONE)
                )
            all_done = open_tasks == 0
        return all_done

    try:
        progress("publishing verdicts", 0, expected)
        started_at = time.time()
        publish_verdicts(bootstrap, verdicts)
        try:
            run_crew(crew, finished, timeout_s, idle_sleep_s=IDLE_SLEEP_S, stats=report.stats)
        except TimeoutError as exc:
            report.failure = str(exc)
        report.wall_s = time.time() - started_at
    finally:
        reader.stop()
    report.corrected_read = len(reader.task_ids)
    report.corrected_redelivered = reader.messages - report.corrected_read
    progress("verifying", report.corrected_read, expected)
    s = report.stats
    try:
        with sessions() as session:
            report.invariants = invariants.check(
                session, s.claims, s.submits, s.reviews, s.rejections, report.tasks, expected
            )
            report.timeline = timeline(session, started_at)
    finally:
        engine.dispose()
