"""The linguists' browser client on the real stack: pyannote's sample is streamed over the real
broker, drafted by the real ASR, sent to people by the quality gate (medical domain); in headless
Chromium an annotator logs in, claims it, plays it, corrects it with the keyboard and submits, a
reviewer approves it, and the correction appears on transcripts.corrected.v1. Refusals (an
expired token, a task outside the linguist's languages) show in the page.

Screenshots of each state go to ``VOXLOOP_SCREENSHOTS`` when set (``docs/screenshots`` for the
README), else to the test's temporary folder.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from google.protobuf import json_format

from protos import dispatch_pb2
from services.dispatch.client import DispatchClient, DispatchError
from services.dispatch.workload import make_verdict
from services.gateway import scripted
from services.gateway.browser import chromium, new_tab
from shared.stack import stack
from shared.stack.demo import reference_answer, sample_reference, stream_sample_to_people
from shared.stack.probe import collect, publish_verdicts, segment_id_of
from shared.stack.processes import StackState
from shared.text import normalise_text
from shared.topics import TRANSCRIPTS_CORRECTED
from tests.e2e.conftest import grpc_port

pytestmark = pytest.mark.e2e
STREAM = "browser-call"


@pytest.fixture(scope="module")
def web_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackState]:
    home = tmp_path_factory.mktemp("stack")
    services = ("ingest", "asr", "quality", "dispatch", "gateway")
    state = stack.up(home, stack.StackPorts.free(), services=services)
    yield state
    stack.down(home)


@pytest.fixture(scope="module")
def admin(web_stack: StackState) -> Iterator[DispatchClient]:
    client = DispatchClient(
        f"127.0.0.1:{grpc_port(web_stack, 'dispatch')}", stack.admin_token(Path(web_stack.home))
    )
    yield client
    client.close()


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("VOXLOOP_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def task_of_segment(admin: DispatchClient, segment_id: str, timeout_s: float = 30) -> dispatch_pb2.Task:
    """Dispatch reads the verdict from the broker on its own time: ask until its task is there."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return admin.get_task(segment_id=segment_id)
        except DispatchError:
            assert time.monotonic() < deadline, f"dispatch made no task of {segment_id}"
            time.sleep(0.2)


def token_for(admin: DispatchClient, subject: str, roles: list[str], languages: list[str]) -> str:
    admin.upsert_user(subject, roles, languages, ["medical"])
    return admin.issue_token(subject, ttl_days=1).token


def test_correct_review_and_publish_through_the_browser(
    web_stack: StackState, admin: DispatchClient, shots: Path
) -> None:
    stream_sample_to_people(web_stack.bootstrap, STREAM, timeout_s=180)
    url = web_stack.page_url
    ana = token_for(admin, "ana", ["annotator"], ["en"])
    rui = token_for(admin, "rui", ["reviewer"], ["en"])
    answer = reference_answer(sample_reference())

    with chromium() as browser:
        with new_tab(browser) as tab:
            tab.goto(url)
            tab.page.screenshot(path=str(shots / "login.png"))
            scripted.log_in(tab, url, ana)
            assert "ana" in scripted.logged_in(tab)
            task = scripted.claim_next(tab, "TASK_KIND_CORRECT")
            assert task["segment"]["segment_id"].startswith(STREAM)
            assert tab.page.locator("#words .word").count() == len(task["segment"]["words"])
            assert tab.page.locator("#waveform").is_visible()
            assert scripted.play_until_a_word_lights_up(tab)
            tab.page.screenshot(path=str(shots / "task.png"))

            reference = answer(json_format.ParseDict(task, dispatch_pb2.Task()))
            scripted.retype(tab, reference)
            assert tab.page.input_value("#text") == reference
            assert "submitted" in scripted.submit(tab).lower()
            assert tab.errors == []

        with new_tab(browser) as tab:
            scripted.log_in(tab, url, rui)
            scripted.logged_in(tab)
            review = scripted.claim_next(tab, "TASK_KIND_REVIEW")
            assert review["segment"]["segment_id"] == task["segment"]["segment_id"]
            assert tab.page.locator("#diff ins").count() + tab.page.locator("#diff del").count() > 0
            tab.page.screenshot(path=str(shots / "review.png"))
            scripted.submit(tab)
            assert tab.errors == []

    corrected = collect(
        web_stack.bootstrap,
        [TRANSCRIPTS_CORRECTED.name],
        lambda rs: any(segment_id_of(r.message).startswith(STREAM) for r in rs),
        60,
    )
    (published,) = [r.message for r in corrected if segment_id_of(r.message).startswith(STREAM)]
    assert (published.corrected_by, published.reviewed_by) == ("ana", "rui")
    assert normalise_text(published.segment.text, "en") == normalise_text(reference, "en")
    assert [v.kind for v in published.history] == ["draft", "correction", "review"]


def test_an_expired_token_is_refused_in_the_page(web_stack: StackState, admin: DispatchClient) -> None:
    token = token_for(admin, "eve", ["annotator"], ["en"])
    with sqlite3.connect(Path(web_stack.home) / "data" / "dispatch.db") as db:
        db.execute("UPDATE dispatch_tokens SET expires_at = ? WHERE subject = 'eve'", (time.time() - 60,))
    with chromium() as browser, new_tab(browser) as tab:
        scripted.log_in(tab, web_stack.page_url, token)
        message = scripted.login_error(tab)
        assert "UNAUTHENTICATED" in message and "expired at" in message
        assert tab.page.evaluate("() => window.voxloop.state") == "login"


def test_a_task_outside_the_linguist_s_languages_is_refused_in_the_page(
    web_stack: StackState, admin: DispatchClient
) -> None:
    publish_verdicts(web_stack.bootstrap, [make_verdict("english-only-0", recording_id="english-only")])
    english = task_of_segment(admin, "english-only-0")
    token = token_for(admin, "francoise", ["annotator", "reviewer"], ["fr"])
    with chromium() as browser, new_tab(browser) as tab:
        scripted.log_in(tab, web_stack.page_url, token)
        scripted.logged_in(tab)
        tab.page.goto(web_stack.page_url + f"#task={english.task_id}")
        message = scripted.error_message(tab)
        assert "PERMISSION_DENIED" in message and "fr" in message
        assert tab.page.locator("#words .word").count() == 0, "nothing of the task is shown"
