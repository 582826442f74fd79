"""A linguist's moves in the browser client, as Playwright steps: the end-to-end tests check them,
the client benchmark times them. Everything goes through the page as a person would: clicks,
keyboard shortcuts and typing, never the page's internals (``window.voxloop`` is read, not set).
"""

from __future__ import annotations

from typing import Any

from services.gateway.browser import Tab

TIMEOUT_MS = 30_000


def state(tab: Tab) -> Any:
    return tab.page.evaluate("() => ({...window.voxloop})")


def log_in(tab: Tab, url: str, token: str) -> None:
    tab.goto(url)
    tab.page.fill("#login-token", token)
    tab.page.click("#login-submit")


def logged_in(tab: Tab) -> str:
    """The header's who-am-I line once the queue shows."""
    tab.page.wait_for_function("() => window.voxloop.state === 'queue'", timeout=TIMEOUT_MS)
    return tab.page.inner_text("#whoami")


def login_error(tab: Tab) -> str:
    tab.page.wait_for_selector("#login-error:not(:empty)", timeout=TIMEOUT_MS)
    return tab.page.inner_text("#login-error")


def claim_next(tab: Tab, kind: str = "", wait_s: float = 60.0) -> dict[str, Any]:
    """Click "claim next" until a task opens (dispatch reads verdicts from the broker on its own
    time); return the task as the page holds it, once its audio is ready."""
    if kind:
        tab.page.select_option("#claim-kind", kind)
    deadline_ms = wait_s * 1000
    waited = 0.0
    while True:
        tab.page.click("#claim-next")
        try:
            tab.page.wait_for_function("() => window.voxloop.state === 'task'", timeout=2000)
            break
        except Exception:
            waited += 2000
            if waited >= deadline_ms:
                raise
    tab.page.wait_for_function("() => window.voxloop.audioReady", timeout=TIMEOUT_MS)
    task: dict[str, Any] = tab.page.evaluate("() => window.voxloop.task")
    return task


def play_until_a_word_lights_up(tab: Tab) -> str:
    """Ctrl+Space plays; the word under the playhead is highlighted; Ctrl+Space pauses."""
    tab.page.focus("#text")
    tab.page.keyboard.press("Control+Space")
    tab.page.wait_for_selector("#play[data-playing='true']", timeout=TIMEOUT_MS)
    current = tab.page.wait_for_selector("#words .word.current", timeout=TIMEOUT_MS)
    assert current is not None
    word = current.inner_text()
    tab.page.keyboard.press("Control+Space")
    tab.page.wait_for_selector("#play[data-playing='false']", timeout=TIMEOUT_MS)
    return word


def retype(tab: Tab, text: str) -> None:
    """Type over the whole text with the keyboard, as a transcriber does after listening."""
    tab.page.focus("#text")
    tab.page.keyboard.press("Control+A")
    tab.page.keyboard.type(text)


def fix_next_low_confidence_word(tab: Tab, replacement: str) -> str:
    """Alt+N selects the next low-confidence word in the text; typing replaces it."""
    tab.page.focus("#text")
    tab.page.keyboard.press("Alt+KeyN")
    selected: str = tab.page.evaluate(
        "() => { const t = document.querySelector('#text');"
        " return t.value.slice(t.selectionStart, t.selectionEnd); }"
    )
    tab.page.keyboard.type(replacement)
    return selected


def submit(tab: Tab) -> str:
    """Ctrl+Enter submits (or approves a review); answer the confirmation shown."""
    tab.page.keyboard.press("Control+Enter")
    tab.page.wait_for_selector("#message[data-kind='ok']", timeout=TIMEOUT_MS)
    return tab.page.inner_text("#message")


def error_message(tab: Tab) -> str:
    tab.page.wait_for_selector("#message[data-kind='error']", timeout=TIMEOUT_MS)
    return tab.page.inner_text("#message")
