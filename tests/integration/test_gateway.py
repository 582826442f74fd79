"""The browser gateway over HTTP in front of the real dispatch service (its database, gRPC server,
tokens and audit trail): every refusal arrives with dispatch's own status and message."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from services.dispatch.store import AuditRow, DispatchTask, DispatchToken
from tests.browser_harness import BrowserStack, browser_stack


@pytest.fixture
def web(db_url: str, tmp_path: Path) -> Iterator[BrowserStack]:
    with browser_stack(db_url, tmp_path) as stack:
        yield stack


def call(stack: BrowserStack, path: str, body: Any = None, token: str | None = "", method: str = "POST"):
    """(HTTP status, headers, body) of one call; ``token`` "" means none, a name means theirs."""
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    request = urllib.request.Request(stack.url + path.lstrip("/"), data=data, method=method)
    if token:
        request.add_header("Authorization", f"Bearer {stack.tokens.get(token, token)}")
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, dict(answer.headers), answer.read()
    except urllib.error.HTTPError as refused:
        return refused.code, dict(refused.headers), refused.read()


def api(stack: BrowserStack, method: str, body: Any = None, token: str = "anna") -> Any:
    status, _, raw = call(stack, f"/api/dispatch/{method}", body or {}, token)
    assert status == 200, raw
    return json.loads(raw)


def refusal(
    stack: BrowserStack, path: str, body: Any = None, token: str | None = "anna", method: str = "POST"
):
    status, headers, raw = call(stack, path, body if body is not None else {}, token, method)
    assert headers["Content-Type"] == "application/json"
    answer = json.loads(raw)
    return status, answer["code"], answer["message"]


def test_the_page_and_its_files_are_served_without_a_token(web: BrowserStack) -> None:
    status, headers, page = call(web, "/", method="GET", token=None)
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert "default-src 'self'" in headers["Content-Security-Policy"]
    assert call(web, "/healthz", method="GET", token=None)[:1] == (200,)
    for src in ("static/app.css", "static/js/main.js"):
        assert src in page.decode(), f"index.html does not load {src}"
        status, headers, _ = call(web, "/" + src, method="GET", token=None)
        assert status == 200, src
    assert call(web, "/static/../settings.py", method="GET", token=None)[0] == 404


def test_a_linguist_works_a_task_through_the_gateway(web: BrowserStack) -> None:
    me = api(web, "WhoAmI")
    assert me == {"subject": "anna", "roles": ["annotator"], "languages": ["en"], "active": True}
    queue = api(web, "ListQueue", {"limit": 100})["tasks"]
    assert [t["segment"]["segment_id"] for t in queue] == ["pyannote-sample-0", "pyannote-sample-1"]
    task = api(web, "ClaimNextTask", {"kinds": ["TASK_KIND_CORRECT"]})
    assert task["state"] == "TASK_STATE_CLAIMED" and task["assignee"] == "anna"
    assert task["segment"]["words"][0] == {
        "text": "Hello?",
        "start_s": 6.68,
        "end_s": 7.112,
        "probability": 0.9,
        "speaker": "Diane",
    }

    status, headers, wav = call(
        web, f"/api/dispatch/tasks/{task['task_id']}/audio?context_s=2", token="anna", method="GET"
    )
    assert status == 200 and headers["Content-Type"] == "audio/wav" and wav[:4] == b"RIFF"
    assert (headers["X-Audio-Start-S"], headers["X-Audio-End-S"]) == ("0.000", "17.000")
    assert len(wav) == 44 + 17 * 16000 * 2  # the span and 2 s of the next segment, 16 kHz PCM16

    segment = task["segment"]
    segment["words"][0]["text"] = "Hallo?"
    done = api(
        web,
        "SubmitCorrection",
        {"task_id": task["task_id"], "segment": segment, "base_version": task["version"]},
    )
    assert done["state"] == "TASK_STATE_SUBMITTED"
    review = api(web, "ClaimNextTask", {"kinds": ["TASK_KIND_REVIEW"]}, token="rafael")
    assert "-[Hello?] +[Hallo?]" in review["diff"]
    approved = api(web, "ReviewTask", {"task_id": review["task_id"], "approve": True}, token="rafael")
    assert approved["state"] == "TASK_STATE_DONE"
    history = api(web, "GetTranscriptHistory", {"segment_id": "pyannote-sample-0"}, token="rafael")
    assert [v["kind"] for v in history["versions"]] == ["draft", "correction", "review"]


def test_refusals_carry_dispatch_s_status_and_message(web: BrowserStack) -> None:
    assert refusal(web, "/api/dispatch/WhoAmI", token=None) == (
        401,
        "UNAUTHENTICATED",
        "the call needs an Authorization: Bearer <token> header",
    )
    status, code, message = refusal(web, "/api/dispatch/WhoAmI", token="vxl_not-a-token")
    assert (status, code) == (401, "UNAUTHENTICATED") and "unknown token" in message

    english = api(web, "ListQueue")["tasks"][0]["task_id"]
    status, code, message = refusal(web, "/api/dispatch/GetTask", {"task_id": english}, token="layla")
    assert (status, code) == (403, "PERMISSION_DENIED") and "en" in message and "layla" in message

    claimed = api(web, "ClaimNextTask")
    audio = f"/api/dispatch/tasks/{claimed['task_id']}/audio"
    status, code, message = refusal(web, audio, None, token="rafael", method="GET")
    assert (status, code) == (403, "PERMISSION_DENIED") and "only the holder" in message
    assert refusal(web, audio + "?context_s=60", None, method="GET")[:2] == (400, "INVALID_ARGUMENT")

    status, code, message = refusal(web, "/api/dispatch/GetTask", b"{oops", token="anna")
    assert (status, code) == (400, "INVALID_ARGUMENT") and "not JSON" in message
    assert refusal(web, "/api/dispatch/IssueToken", {"subject": "anna"}, token="admin")[:2] == (
        404,
        "NOT_FOUND",
    )
    assert refusal(web, "/api/nothing/here")[:2] == (404, "NOT_FOUND")

    stale = {
        "task_id": claimed["task_id"],
        "segment": claimed["segment"],
        "base_version": claimed["version"] + 5,
    }
    assert refusal(web, "/api/dispatch/SubmitCorrection", stale)[:2] == (409, "ABORTED")
    status, code, message = refusal(
        web, "/api/dispatch/ReviewTask", {"task_id": claimed["task_id"]}, token="anna"
    )
    assert status in (403, 412) and code in ("PERMISSION_DENIED", "FAILED_PRECONDITION"), message

    status, code, message = refusal(web, "/api/quality/linguists", token="anna")
    assert (status, code) == (403, "PERMISSION_DENIED") and "qa_lead" in message
    assert refusal(web, "/api/quality/linguists", token="quinn")[:2] == (503, "UNAVAILABLE")

    with web.dispatch.ctx.sessions() as session:
        refused = session.scalars(select(AuditRow).where(AuditRow.allowed.is_(False))).all()
    assert {r.action for r in refused} >= {"GetTask", "StreamTaskAudio"}


def test_an_expired_token_and_a_lapsed_lease_say_so(web: BrowserStack) -> None:
    claimed = api(web, "ClaimNextTask")
    with web.dispatch.ctx.sessions.begin() as session:
        session.execute(
            update(DispatchTask)
            .where(DispatchTask.task_id == claimed["task_id"])
            .values(lease_expires_at=time.time() - 1)
        )
    lapsed = {
        "task_id": claimed["task_id"],
        "segment": claimed["segment"],
        "base_version": claimed["version"],
    }
    status, code, message = refusal(web, "/api/dispatch/SubmitCorrection", lapsed)
    assert (status, code) == (412, "FAILED_PRECONDITION") and "lease" in message

    with web.dispatch.ctx.sessions.begin() as session:
        session.execute(
            update(DispatchToken).where(DispatchToken.subject == "anna").values(expires_at=time.time() - 1)
        )
    status, code, message = refusal(web, "/api/dispatch/WhoAmI")
    assert (status, code) == (401, "UNAUTHENTICATED") and "expired at" in message


def test_a_queue_summary_lists_the_same_tasks_without_their_content(web: BrowserStack) -> None:
    full = api(web, "ListQueue", {"limit": 100})["tasks"]
    summary = api(web, "ListQueue", {"limit": 100, "summary": True})["tasks"]
    assert [t["task_id"] for t in summary] == [t["task_id"] for t in full]
    for brief, whole in zip(summary, full, strict=True):
        assert "words" not in brief["segment"] and "context_segments" not in brief and "draft" not in brief
        assert brief["segment"]["text"] == whole["segment"]["text"]
        assert brief["segment"].get("end_s") == whole["segment"].get("end_s")
        assert brief["verdict"] == {
            k: whole["verdict"][k] for k in ("route", "confidence", "risk_tier") if k in whole["verdict"]
        }
        assert brief["context"] == whole["context"] and brief["deadline"] == whole["deadline"]
