"""SIGKILL mid-message loses and duplicates nothing; two instances of a service share a group.

Both run a service against PostgreSQL (the production path), the rest of the stack on SQLite.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from protos import transcripts_pb2
from services.ingest.intake import segment_id_for
from shared.stack import stack
from shared.stack.demo import demo_chunk, linguist_crew
from shared.stack.probe import collect, publish, segment_id_of
from shared.stack.processes import free_port, pid_alive, start_service, stop_process
from shared.topics import AUDIO_CHUNKS, TRANSCRIPTS_DRAFT, TRANSCRIPTS_QA, TRANSCRIPTS_VALIDATED
from tests.waiting import wait_until

pytestmark = pytest.mark.e2e


def dispatch_target(state) -> str:  # type: ignore[no-untyped-def]
    """Where the simulated linguists reach dispatch: validated output needs people for medical."""
    return f"127.0.0.1:{next(p.grpc_port for p in state.services if p.name == 'dispatch')}"


def scalar(url: str, sql: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text(sql)).scalar_one())
    finally:
        engine.dispose()


def send_chunks(bootstrap: str, n: int) -> list[str]:
    chunks = [demo_chunk(domain="medical") for _ in range(n)]  # the policy sends medical to a person
    for chunk in chunks:
        publish(bootstrap, AUDIO_CHUNKS.name, [chunk], key=chunk.stream_id)
    return [segment_id_for(c.stream_id, 0) for c in chunks]


def test_sigkill_with_uncommitted_message_loses_and_duplicates_nothing(tmp_path: Path, make_pg_url) -> None:  # type: ignore[no-untyped-def]
    quality_db = make_pg_url()
    home = tmp_path / "stack"
    ports = stack.StackPorts.free()
    # The fault pause holds each handled message, saved in the database but with its offset
    # not yet committed: the window where a crash must neither lose nor duplicate.
    state = stack.up(
        home,
        ports,
        extra_env={
            "QUALITY_DATABASE_URL": quality_db,
            "QUALITY_FAULT_PAUSE_BEFORE_OFFSET_COMMIT_S": "30",
        },
    )
    try:
        with linguist_crew(dispatch_target(state), stack.admin_token(home.resolve())):
            quality = next(p for p in state.services if p.name == "quality")
            expected = set(send_chunks(state.bootstrap, 5))
            handled = (
                "SELECT count(*) FROM inbox WHERE topic = 'transcripts.draft.v1' AND outcome = 'handled'"
            )
            wait_until(lambda: scalar(quality_db, handled) >= 1, 60, "quality to save a draft")
            os.kill(quality.pid, signal.SIGKILL)
            wait_until(lambda: not pid_alive(quality.pid), 10, "quality to die")
            os.waitpid(quality.pid, 0)
            saved_before_crash = scalar(quality_db, handled)

            restarted = start_service(
                "quality",
                home.resolve(),
                state.bootstrap,
                ports.grpc["quality"],
                ports.metrics["quality"],
                {
                    **stack.auth_env(home.resolve()),
                    "QUALITY_DATABASE_URL": quality_db,
                },
                instance="restarted",
            )
            state.services.append(restarted)
            state.save()

            received = collect(
                state.bootstrap,
                [TRANSCRIPTS_QA.name, TRANSCRIPTS_VALIDATED.name],
                lambda rs: (
                    expected
                    <= {segment_id_of(r.message) for r in rs if r.topic == TRANSCRIPTS_VALIDATED.name}
                ),
                90,
            )
            qa = [
                r for r in received if r.topic == TRANSCRIPTS_QA.name and segment_id_of(r.message) in expected
            ]
            validated = [
                r
                for r in received
                if r.topic == TRANSCRIPTS_VALIDATED.name and segment_id_of(r.message) in expected
            ]
            # Nothing lost ...
            assert {segment_id_of(r.message) for r in validated} == expected
            # ... nothing duplicated: one verdict per segment on the wire, one row downstream.
            assert sorted(segment_id_of(r.message) for r in qa) == sorted(expected)
            assert len({r.message_id for r in qa}) == len(expected)
            assert len(validated) == len(expected)
            assert scalar(quality_db, handled) == len(expected)
            dispatch_db = f"sqlite:///{home.resolve() / 'data' / 'dispatch.db'}"
            assert scalar(dispatch_db, "SELECT count(*) FROM inbox WHERE topic = 'transcripts.qa.v1'") >= len(
                expected
            )
            in_list = ",".join(f"'{s}'" for s in expected)
            assert scalar(
                dispatch_db, f"SELECT count(*) FROM segment_records WHERE segment_id IN ({in_list})"
            ) == len(expected)
            # The redelivered message really was redelivered, and recognised.
            assert saved_before_crash >= 1
            log = Path(restarted.log).read_text()
            assert "duplicate skipped" in log, "the message saved before the crash was not redelivered"
    finally:
        stack.down(home)


def test_two_instances_share_partitions_and_take_over(tmp_path: Path, make_pg_url) -> None:  # type: ignore[no-untyped-def]
    asr_db = make_pg_url()
    home = tmp_path / "stack"
    ports = stack.StackPorts.free()
    env = {"ASR_DATABASE_URL": asr_db}
    state = stack.up(home, ports, extra_env=env)
    try:
        with linguist_crew(dispatch_target(state), stack.admin_token(home.resolve())):
            first = next(p for p in state.services if p.name == "asr")
            second = start_service(
                "asr",
                home.resolve(),
                state.bootstrap,
                free_port(),
                free_port(),
                {**stack.auth_env(home.resolve()), **env},
                instance="1",
            )
            state.services.append(second)
            state.save()
            # Let the group rebalance to two members before the load arrives.
            time.sleep(8)

            expected = set(send_chunks(state.bootstrap, 24))
            drafts = collect(
                state.bootstrap,
                [TRANSCRIPTS_DRAFT.name],
                lambda rs: expected <= {segment_id_of(r.message) for r in rs},
                90,
            )
            mine = [r.message for r in drafts if segment_id_of(r.message) in expected]
            by_instance = {m.provenance.instance_id for m in mine}
            assert by_instance == {first.instance_id, second.instance_id}, "both members got partitions"
            assert len(mine) == len(expected), "every message handled once"

            # One member leaves (SIGTERM: it finishes its message and leaves the group) ...
            assert stop_process(first.pid), "asr did not stop cleanly on SIGTERM"
            more = set(send_chunks(state.bootstrap, 12))
            drafts = collect(
                state.bootstrap,
                [TRANSCRIPTS_DRAFT.name, TRANSCRIPTS_VALIDATED.name],
                lambda rs: (
                    more <= {segment_id_of(r.message) for r in rs if r.topic == TRANSCRIPTS_VALIDATED.name}
                ),
                90,
            )
            later = [
                r.message
                for r in drafts
                if r.topic == TRANSCRIPTS_DRAFT.name and segment_id_of(r.message) in more
            ]
            # ... and the other takes over its share: all handled, once, by the survivor.
            assert len(later) == len(more)
            assert {m.provenance.instance_id for m in later} == {second.instance_id}
            assert scalar(asr_db, "SELECT count(*) FROM inbox WHERE outcome = 'handled'") == len(
                expected
            ) + len(more)
            assert isinstance(later[0], transcripts_pb2.DraftTranscript)
    finally:
        stack.down(home)
