"""Debian's Chromium driven by Playwright, for the client's browser tests and its benchmark.

Playwright's own browser download cannot reach its host from here, so the driver launches the
system Chromium (``apt-get install chromium``; ``VOXLOOP_CHROMIUM`` points elsewhere). Without
the background-networking flags Chromium keeps dialling Google's hosts, which this closed
network refuses.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from playwright.sync_api import Browser, ConsoleMessage, Page, sync_playwright

CHROMIUM_ARGS = (
    "--no-sandbox",  # root in a container
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
)
VIEWPORT = {"width": 1280, "height": 800}


class ChromiumMissing(RuntimeError):
    pass


def chromium_path() -> str:
    path = os.environ.get("VOXLOOP_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        raise ChromiumMissing(
            "no Chromium found: install Debian's (apt-get install -y chromium; scripts/install.sh does) "
            "or set VOXLOOP_CHROMIUM to its path"
        )
    return path


@contextmanager
def chromium(headless: bool = True) -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium_path(), headless=headless, args=list(CHROMIUM_ARGS)
        )
        try:
            yield browser
        finally:
            browser.close()


# Chromium logs every answer of 400 and above as a console error; a refusal the page shows
# (nothing to claim, a lapsed lease) is not a fault of the page, so those are kept apart.
HTTP_STATUS_LINE = "Failed to load resource"


@dataclass
class Tab:
    """A page in a fresh browser context (its own storage), with the page's errors collected.

    The page's Content-Security-Policy forbids eval, so waits are written as functions
    (``"() => ..."``), which Playwright runs without evaluating a string."""

    page: Page
    errors: list[str] = field(default_factory=list)
    refused_requests: list[str] = field(default_factory=list)

    def goto(self, url: str, timeout_s: float = 30.0) -> None:
        self.page.goto(url)
        self.page.wait_for_function("() => window.voxloop && window.voxloop.ready", timeout=timeout_s * 1000)


@contextmanager
def new_tab(browser: Browser) -> Iterator[Tab]:
    context = browser.new_context(viewport=VIEWPORT, locale="en-GB")  # type: ignore[arg-type]
    page = context.new_page()
    tab = Tab(page)

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            is_status = message.text.startswith(HTTP_STATUS_LINE)
            (tab.refused_requests if is_status else tab.errors).append(message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda exc: tab.errors.append(f"uncaught: {exc}"))
    try:
        yield tab
    finally:
        context.close()
