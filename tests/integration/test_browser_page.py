"""The browser client in headless Chromium against the real dispatch service and gateway
(in-process, SQLite, real audio): right-to-left and CJK editing, drafts surviving a reload, a
lost connection that loses nothing, the shortcuts listed, a long queue. The whole-stack flow
(ASR, quality gate, publication on the broker) is tests/e2e/test_browser_client.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser

from protos import common_pb2
from services.dispatch.workload import make_verdict
from services.gateway import scripted
from services.gateway.browser import Tab, chromium, new_tab
from shared.topics import LABELS_REVIEWED
from tests.browser_harness import ARABIC_TEXT, BrowserStack, browser_stack
from tests.dispatch_harness import make_annotated


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


@pytest.fixture
def web(tmp_path: Path) -> Iterator[BrowserStack]:
    with browser_stack(f"sqlite:///{tmp_path / 'dispatch.db'}", tmp_path) as stack:
        yield stack


@pytest.fixture
def tab(browser: Browser) -> Iterator[Tab]:
    with new_tab(browser) as opened:
        yield opened
    assert opened.errors == [], "the page logged errors"


def submitted_segment(web: BrowserStack, segment_id: str) -> common_pb2.TranscriptSegment:
    """The correction as dispatch stored it: the newest version of the segment."""
    history = web.dispatch.admin.history(segment_id)
    assert history.versions[-1].kind == "correction", [v.kind for v in history.versions]
    return history.versions[-1].segment


def test_arabic_is_edited_right_to_left(web: BrowserStack, tab: Tab) -> None:
    scripted.log_in(tab, web.url, web.tokens["layla"])
    scripted.logged_in(tab)
    task = scripted.claim_next(tab, "TASK_KIND_CORRECT")
    assert task["segment"]["segment_id"] == "call-ar-0"
    for selector in ("#text", "#words"):
        assert tab.page.get_attribute(selector, "dir") == "rtl", selector
        assert tab.page.get_attribute(selector, "lang") == "ar", selector
    assert tab.page.input_value("#text") == ARABIC_TEXT
    corrected = ARABIC_TEXT.replace("أربعة", "خمسة")  # "four" -> "five", typed
    scripted.retype(tab, corrected)
    assert "submitted" in scripted.submit(tab).lower()
    segment = submitted_segment(web, "call-ar-0")
    assert segment.text == corrected
    assert [w.text for w in segment.words] == corrected.split()
    draft_words = task["segment"]["words"]
    assert segment.words[0].start_s == draft_words[0].get("start_s", 0.0), "kept words keep their times"


def test_japanese_without_spaces_stays_words(web: BrowserStack, tab: Tab) -> None:
    scripted.log_in(tab, web.url, web.tokens["kenji"])
    scripted.logged_in(tab)
    task = scripted.claim_next(tab, "TASK_KIND_CORRECT")
    assert task["segment"]["segment_id"] == "call-ja-0"
    assert tab.page.get_attribute("#text", "lang") == "ja"
    corrected = "注文の状況を確認したいです"  # typed without spaces, as Japanese is written
    scripted.retype(tab, corrected)
    scripted.submit(tab)
    segment = submitted_segment(web, "call-ja-0")
    assert segment.text == corrected, "no spaces are put between Japanese words"
    assert len(segment.words) > 1 and "".join(w.text for w in segment.words) == corrected
    times = [(w.start_s, w.end_s) for w in segment.words]
    assert times == sorted(times) and all(a <= b for a, b in times)
    assert segment.words[0].start_s >= 0 and segment.words[-1].end_s <= 5.0


def test_unsaved_edits_survive_a_reload(web: BrowserStack, tab: Tab) -> None:
    scripted.log_in(tab, web.url, web.tokens["anna"])
    scripted.logged_in(tab)
    scripted.claim_next(tab, "TASK_KIND_CORRECT")
    scripted.fix_next_low_confidence_word(tab, "Okay")
    tab.page.check("#flag-overlap")
    tab.page.fill("#notes", "crosstalk at 0:09")
    typed = tab.page.input_value("#text")
    tab.page.reload()
    tab.page.wait_for_function("() => window.voxloop.state === 'task'", timeout=30_000)
    assert tab.page.is_visible("#restored")
    assert tab.page.input_value("#text") == typed
    assert tab.page.is_checked("#flag-overlap") and tab.page.input_value("#notes") == "crosstalk at 0:09"


def test_a_lost_connection_is_shown_and_the_submit_goes_out_when_it_is_back(
    web: BrowserStack, tab: Tab
) -> None:
    scripted.log_in(tab, web.url, web.tokens["anna"])
    scripted.logged_in(tab)
    task = scripted.claim_next(tab, "TASK_KIND_CORRECT")
    tab.page.context.set_offline(True)
    tab.page.wait_for_selector("#connection[data-state='offline']", timeout=30_000)
    scripted.retype(tab, "hello hello typed while offline")
    tab.page.keyboard.press("Control+Enter")
    tab.page.wait_for_function("() => window.voxloop.pending > 0", timeout=30_000)
    assert web.dispatch.admin.get_task(task["task_id"]).state == 2, "nothing reached dispatch yet"  # CLAIMED
    tab.page.context.set_offline(False)
    tab.page.wait_for_selector("#connection[data-state='online']", timeout=30_000)
    tab.page.wait_for_function("() => window.voxloop.pending === 0", timeout=30_000)
    assert submitted_segment(web, task["segment"]["segment_id"]).text == "hello hello typed while offline"


def test_shortcuts_are_listed_and_the_lease_counts_down(web: BrowserStack, tab: Tab) -> None:
    scripted.log_in(tab, web.url, web.tokens["anna"])
    scripted.logged_in(tab)
    scripted.claim_next(tab)
    listed = tab.page.inner_text("#shortcuts")
    for key in ("Ctrl", "Space", "Alt", "Enter", "Esc"):
        assert key in listed
    first = float(tab.page.get_attribute("#lease", "data-seconds") or 0)
    tab.page.wait_for_timeout(2100)
    later = float(tab.page.get_attribute("#lease", "data-seconds") or 0)
    assert 0 < later < first <= 300
    tab.page.keyboard.press("Alt+KeyS")  # skip
    tab.page.wait_for_selector("#message[data-kind='ok']", timeout=30_000)
    assert tab.page.evaluate("() => window.voxloop.state") == "queue"


def test_a_thirty_minute_recording_s_queue_is_drawn_and_the_page_answers(web: BrowserStack, tab: Tab) -> None:
    for i in range(360):  # 30 minutes in 5 s segments
        web.dispatch.feed(
            make_verdict(
                f"long-{i:03d}", "my order has not arrived", recording_id="long", index=i, start_s=5.0 * i
            )
        )
    scripted.log_in(tab, web.url, web.tokens["anna"])
    scripted.logged_in(tab)
    tab.page.wait_for_function(
        "() => document.querySelectorAll('#queue-rows tr[data-task-id]').length >= 362", timeout=30_000
    )
    started = tab.page.evaluate("() => performance.now()")
    task = scripted.claim_next(tab, "TASK_KIND_CORRECT")
    took_ms = tab.page.evaluate("() => performance.now()") - started
    assert task["task_id"] and took_ms < 10_000


def test_a_label_review_is_checked_in_the_page(web: BrowserStack, tab: Tab) -> None:
    annotated = make_annotated("labels-0", recording_id="labels", version=3)
    web.dispatch.feed_annotated(annotated)
    scripted.log_in(tab, web.url, web.tokens["anna"])
    scripted.logged_in(tab)
    task = scripted.claim_next(tab, "TASK_KIND_LABEL_REVIEW")
    assert task["kind"] == "TASK_KIND_LABEL_REVIEW"
    marked = tab.page.locator("#labelled-text mark.entity")
    assert [marked.nth(i).get_attribute("data-label") for i in range(marked.count())] == [
        "PERSON",
        "CARDINAL",
    ]
    tab.page.locator("#entities button.remove-entity").nth(1).click()  # "4417" is an order number
    tab.page.select_option("#sentiment", "neutral")
    tab.page.select_option("#intent", "order_status")
    tab.page.focus("#sentiment")
    scripted.submit(tab)  # Ctrl+Enter submits the labels
    (review,) = web.dispatch.published(LABELS_REVIEWED.name)
    assert [(e.label, e.start_char, e.end_char) for e in review.entities] == [("PERSON", 0, 9)]
    assert (review.sentiment, review.intent, review.reviewed_by) == ("neutral", "order_status", "anna")


def test_a_reviewer_sends_a_correction_back_with_reasons(web: BrowserStack, browser: Browser) -> None:
    with new_tab(browser) as tab:
        scripted.log_in(tab, web.url, web.tokens["anna"])
        scripted.logged_in(tab)
        scripted.claim_next(tab, "TASK_KIND_CORRECT")
        scripted.retype(tab, "Hello hello oh hello I did not know you were there")
        scripted.submit(tab)
    with new_tab(browser) as tab:
        scripted.log_in(tab, web.url, web.tokens["rafael"])
        scripted.logged_in(tab)
        scripted.claim_next(tab, "TASK_KIND_REVIEW")
        tab.page.click("#reject")  # without reasons: refused in the page, nothing sent
        assert tab.page.get_attribute("#message", "data-kind") == "error"
        tab.page.fill("#reject-reasons", "dropped half the segment, wrong speaker")
        tab.page.click("#reject")
        tab.page.wait_for_selector("#message[data-kind='ok']", timeout=30_000)
        assert tab.errors == []
    with new_tab(browser) as tab:
        scripted.log_in(tab, web.url, web.tokens["anna"])
        scripted.logged_in(tab)
        again = scripted.claim_next(tab, "TASK_KIND_CORRECT")
        assert again["review_reasons"] == ["dropped half the segment", "wrong speaker"]
        assert "dropped half the segment" in tab.page.inner_text("#review-reasons")
        assert tab.page.input_value("#text").startswith("Hello hello oh hello"), (
            "continues from the rejected text"
        )


def test_a_segment_is_split_at_a_word(web: BrowserStack, tab: Tab) -> None:
    scripted.log_in(tab, web.url, web.tokens["anna"])
    scripted.logged_in(tab)
    task = scripted.claim_next(tab, "TASK_KIND_CORRECT")
    words = tab.page.locator("#words .word")
    cut = words.nth(6)
    cut_at = float(cut.get_attribute("data-start") or 0)
    cut.click()
    tab.page.focus("#text")
    tab.page.keyboard.press("Alt+KeyK")
    tab.page.wait_for_selector("#message[data-kind='ok']", timeout=30_000)
    stored = web.dispatch.admin.get_task(task["task_id"])
    assert list(stored.split_at) == [pytest.approx(cut_at, abs=0.01)]
