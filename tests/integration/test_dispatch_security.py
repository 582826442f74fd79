"""Who may call dispatch at all, and see what: tokens (missing, unknown, revoked, expired), language
scope, holders' audio, admin calls, and one person one part per segment; every refusal and every
state change in the audit trail. Through the real gRPC server and interceptor, on SQLite and
PostgreSQL."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import grpc
import pytest
from sqlalchemy import select, update

from protos import dispatch_pb2, dispatch_pb2_grpc, events_pb2
from services.dispatch.client import DispatchClient, DispatchError
from services.dispatch.store import AuditRow, DispatchToken
from tests.dispatch_harness import DispatchHarness, make_verdict, running_dispatch

pytestmark = pytest.mark.integration

REVIEW = events_pb2.TASK_KIND_REVIEW


def refusal(call: object, *args: object, **kwargs: object) -> DispatchError:
    """The DispatchError a client call raises (the test fails if it succeeds)."""
    with pytest.raises(DispatchError) as caught:
        call(*args, **kwargs)  # type: ignore[operator]
    return caught.value


def audit(d: DispatchHarness) -> list[AuditRow]:
    with d.ctx.sessions() as session:
        return list(session.scalars(select(AuditRow).order_by(AuditRow.entry_id)))


def refused_rows(d: DispatchHarness, action: str) -> list[tuple[str, str, str]]:
    """(actor, outcome, task_id) of each refused ``action``, oldest first."""
    return [(r.actor, r.outcome, r.task_id) for r in audit(d) if r.action == action and not r.allowed]


def new_login(
    d: DispatchHarness, subject: str, roles: list[str], ttl_days: int = 0
) -> tuple[DispatchClient, str]:
    """A person and a client with a fresh token of theirs; returns (client, token_id)."""
    admin = d.admin
    admin.upsert_user(subject, roles, ["en"])
    issued = admin.issue_token(subject, ttl_days=ttl_days, label="test")
    return d.client(issued.token), issued.token_id


# -- tokens -----------------------------------------------------------------------------------


def test_call_without_a_token_is_unauthenticated(db_url: str, tmp_path: Path) -> None:
    with running_dispatch(db_url, tmp_path) as d:
        with grpc.insecure_channel(d.target) as channel:
            stub = dispatch_pb2_grpc.DispatchServiceStub(channel)  # type: ignore[no-untyped-call]
            with pytest.raises(grpc.RpcError) as caught:
                stub.ClaimNextTask(dispatch_pb2.ClaimNextTaskRequest(), timeout=10)
        assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert refused_rows(d, "ClaimNextTask") == [("anonymous", "UNAUTHENTICATED", "")]


def test_unknown_token_is_unauthenticated(db_url: str, tmp_path: Path) -> None:
    with running_dispatch(db_url, tmp_path) as d:
        stranger = d.client("vxl_not-a-token-anyone-was-given")
        assert refusal(stranger.whoami).code == grpc.StatusCode.UNAUTHENTICATED
        assert refusal(stranger.claim_next).code == grpc.StatusCode.UNAUTHENTICATED
        assert refused_rows(d, "WhoAmI") == [("anonymous", "UNAUTHENTICATED", "")]
        assert refused_rows(d, "ClaimNextTask") == [("anonymous", "UNAUTHENTICATED", "")]


def test_revoked_token_is_refused_on_its_next_call(db_url: str, tmp_path: Path) -> None:
    with running_dispatch(db_url, tmp_path) as d:
        anna, token_id = new_login(d, "anna", ["annotator"])
        other = d.client(d.admin.issue_token("anna").token)  # a second token of hers stays valid
        assert anna.whoami().subject == "anna"
        assert d.admin.revoke(token_id=token_id) == 1
        refused = refusal(anna.whoami)
        assert refused.code == grpc.StatusCode.UNAUTHENTICATED
        assert refused.message == f"token {token_id} was revoked: ask an admin for a new one"
        assert other.whoami().subject == "anna"
        assert d.admin.revoke(token_id=token_id) == 0  # already revoked
        assert refused_rows(d, "WhoAmI") == [("anonymous", "UNAUTHENTICATED", "")]
        revoke = [r for r in audit(d) if r.action == "RevokeToken"]
        assert revoke[0].allowed and revoke[0].actor == "root" and token_id in revoke[0].detail


def test_expired_token_is_refused(db_url: str, tmp_path: Path) -> None:
    with running_dispatch(db_url, tmp_path) as d:
        anna, token_id = new_login(d, "anna", ["annotator"], ttl_days=1)
        assert anna.whoami().subject == "anna"
        with d.ctx.sessions.begin() as session:
            session.execute(
                update(DispatchToken)
                .where(DispatchToken.token_id == token_id)
                .values(expires_at=time.time() - 1.0)
            )
        refused = refusal(anna.whoami)
        assert refused.code == grpc.StatusCode.UNAUTHENTICATED
        assert f"token {token_id} expired at " in refused.message
        assert refused_rows(d, "WhoAmI") == [("anonymous", "UNAUTHENTICATED", "")]


def test_tokens_are_stored_as_hashes_only(db_url: str, tmp_path: Path) -> None:
    with running_dispatch(db_url, tmp_path) as d:
        d.admin.upsert_user("anna", ["annotator"], ["en"])
        issued = d.admin.issue_token("anna")
        with d.ctx.sessions() as session:
            (row,) = session.scalars(select(DispatchToken))
        assert row.token_id == issued.token_id and issued.token not in (row.sha256, row.token_id)
        assert len(row.sha256) == 64


def test_deactivated_user_is_refused(db_url: str, tmp_path: Path) -> None:
    with running_dispatch(db_url, tmp_path) as d:
        anna, _ = new_login(d, "anna", ["annotator"])
        d.admin.upsert_user("anna", ["annotator"], ["en"], active=False)
        assert refusal(anna.whoami).code == grpc.StatusCode.UNAUTHENTICATED


# -- admin calls ------------------------------------------------------------------------------


def test_non_admin_cannot_manage_people_or_tokens(db_url: str, tmp_path: Path) -> None:
    with running_dispatch(db_url, tmp_path) as d:
        anna = d.person("anna", ["annotator", "reviewer", "senior", "qa_lead"], ["*"])
        assert (
            refusal(anna.upsert_user, "mallory", ["admin"], ["*"]).code == grpc.StatusCode.PERMISSION_DENIED
        )
        assert refusal(anna.issue_token, "anna").code == grpc.StatusCode.PERMISSION_DENIED
        assert refusal(anna.revoke, subject="root").code == grpc.StatusCode.PERMISSION_DENIED
        assert "mallory" not in {u.subject for u in d.admin.users()}
        assert refused_rows(d, "UpsertUser") == [("anna", "PERMISSION_DENIED", "")]
        assert refused_rows(d, "IssueToken") == [("anna", "PERMISSION_DENIED", "")]
        assert refused_rows(d, "RevokeToken") == [("anna", "PERMISSION_DENIED", "")]


# -- what a person may see --------------------------------------------------------------------


def test_task_and_audio_outside_ones_languages_are_denied(db_url: str, tmp_path: Path) -> None:
    with running_dispatch(db_url, tmp_path) as d:
        anna = d.person("anna", ["annotator"], ["en"])
        dora = d.person("dora", ["annotator"], ["de"])
        d.feed(make_verdict("seg-de", "guten tag wie geht es", language="de"))
        task_id = "seg-de:correct"
        assert anna.claim_next() is None and anna.claim_next(languages=["de"]) is None
        assert anna.queue() == []
        denied = refusal(anna.get_task, task_id)
        assert denied.code == grpc.StatusCode.PERMISSION_DENIED and "language de" in denied.message
        assert refusal(anna.get_task, segment_id="seg-de").code == grpc.StatusCode.PERMISSION_DENIED
        assert refusal(anna.audio, task_id).code == grpc.StatusCode.PERMISSION_DENIED
        assert dora.get_task(task_id).task_id == task_id
        assert refused_rows(d, "GetTask") == [
            ("anna", "PERMISSION_DENIED", task_id),
            ("anna", "PERMISSION_DENIED", ""),
        ]
        assert refused_rows(d, "StreamTaskAudio") == [("anna", "PERMISSION_DENIED", task_id)]


def test_dialect_scope(db_url: str, tmp_path: Path) -> None:
    with running_dispatch(db_url, tmp_path) as d:
        gb = d.person("gb", ["annotator"], ["en-GB"])
        us = d.person("us", ["annotator"], ["en-US"])
        verdict = make_verdict("seg-gb")
        verdict.context.metadata["dialect"] = "en-GB"
        d.feed(verdict)
        assert refusal(us.get_task, "seg-gb:correct").code == grpc.StatusCode.PERMISSION_DENIED
        assert us.claim_next() is None
        assert gb.claim_next() is not None


def test_audio_is_for_the_holder_only(db_url: str, tmp_path: Path) -> None:
    with running_dispatch(db_url, tmp_path) as d:
        anna = d.person("anna", ["annotator"], ["en"])
        bob = d.person("bob", ["annotator"], ["en"])
        d.feed(make_verdict("seg-1"))
        assert refusal(anna.audio, "seg-1:correct").code == grpc.StatusCode.PERMISSION_DENIED  # unclaimed
        task = anna.claim_next()
        assert task is not None
        assert anna.audio(task.task_id).startswith(b"RIFF")
        denied = refusal(bob.audio, task.task_id)
        assert denied.code == grpc.StatusCode.PERMISSION_DENIED and "holder" in denied.message
        assert refused_rows(d, "StreamTaskAudio") == [
            ("anna", "PERMISSION_DENIED", task.task_id),
            ("bob", "PERMISSION_DENIED", task.task_id),
        ]
        heard = [r for r in audit(d) if r.action == "StreamTaskAudio" and r.allowed]
        assert [r.actor for r in heard] == ["anna"]


def test_corrector_cannot_review_own_correction(db_url: str, tmp_path: Path) -> None:
    with running_dispatch(db_url, tmp_path) as d:
        carl = d.person("carl", ["annotator", "reviewer"], ["en"])
        rita = d.person("rita", ["reviewer"], ["en"])
        d.feed(make_verdict("seg-1"))
        task = carl.claim_next([events_pb2.TASK_KIND_CORRECT])
        assert task is not None
        carl.submit_text(task, "hello there this is the test")
        assert carl.claim_next([REVIEW]) is None and carl.claim_next() is None
        assert carl.queue() == []
        review_id = "seg-1:review:2"
        denied = refusal(carl.get_task, review_id)
        assert denied.code == grpc.StatusCode.PERMISSION_DENIED and "cannot review" in denied.message
        review = rita.claim_next([REVIEW])
        assert review is not None and review.task_id == review_id
        assert refused_rows(d, "GetTask") == [("carl", "PERMISSION_DENIED", review_id)]
        # An empty queue is an answer, not a refusal: nothing for the audit trail.
        assert refused_rows(d, "ClaimNextTask") == []


# -- the audit trail --------------------------------------------------------------------------


def test_audit_trail_records_refusals_and_changes(db_url: str, tmp_path: Path) -> None:
    with running_dispatch(db_url, tmp_path) as d:
        anna = d.person("anna", ["annotator"], ["en"])
        bob = d.person("bob", ["annotator"], ["en"])
        d.feed(make_verdict("seg-1"))
        task = anna.claim_next()
        assert task is not None
        assert refusal(bob.submit_text, task, "hello").code == grpc.StatusCode.FAILED_PRECONDITION
        assert refusal(bob.upsert_user, "bob", ["admin"], ["*"]).code == grpc.StatusCode.PERMISSION_DENIED
        anna.submit_text(task, "hello there this is the test")

        entries = d.admin.audit_trail(task_id=task.task_id)
        by_action = {(e.action, e.actor, e.allowed): e for e in entries}
        created = by_action[("created", "dispatch", True)]
        assert json.loads(created.after)["state"] == "TASK_STATE_QUEUED"
        claimed = by_action[("ClaimNextTask", "anna", True)]
        assert json.loads(claimed.before)["state"] == "TASK_STATE_QUEUED"
        assert json.loads(claimed.after) | {"lease_expires_at": 0} == {
            "state": "TASK_STATE_CLAIMED",
            "tier": "annotator",
            "assignee": "anna",
            "lease_expires_at": 0,
            "base_version": 1,
            "rejections": 0,
            "reasons": [],
        }
        submitted = by_action[("SubmitCorrection", "anna", True)]
        assert json.loads(submitted.before)["state"] == "TASK_STATE_CLAIMED"
        assert json.loads(submitted.after)["state"] == "TASK_STATE_SUBMITTED"
        denied = by_action[("SubmitCorrection", "bob", False)]
        assert denied.outcome == "FAILED_PRECONDITION" and denied.after == "" and "bob" in denied.detail

        bob_trail = d.admin.audit_trail(actor="bob")
        assert [(e.action, e.allowed, e.outcome) for e in bob_trail] == [
            ("UpsertUser", False, "PERMISSION_DENIED"),
            ("SubmitCorrection", False, "FAILED_PRECONDITION"),
        ]
        assert refusal(anna.audit_trail).code == grpc.StatusCode.PERMISSION_DENIED


def test_tls_serves_clients_that_trust_the_certificate(tmp_path: Path) -> None:
    """GRPC_TLS_CERT / GRPC_TLS_KEY: the same API over TLS; a plaintext client gets nowhere."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    url = f"sqlite:///{tmp_path}/dispatch.db"
    with running_dispatch(url, tmp_path, grpc_tls_cert=cert, grpc_tls_key=key) as d:
        secure = DispatchClient(
            f"localhost:{d.server.port}", d.admin_token, root_certificates=cert, timeout_s=5
        )
        assert secure.whoami().subject == "root"
        secure.close()
        with pytest.raises(DispatchError) as plain:
            DispatchClient(f"localhost:{d.server.port}", d.admin_token, timeout_s=2).whoami()
        assert plain.value.code == grpc.StatusCode.UNAVAILABLE
