"""A real Chromium (Debian's `chromium`, driven by Playwright for Python through its
`executable_path`; Playwright's own browser download is never used) for the dashboard tests and
the dashboard benchmark.

Import explicitly: `from tests.helpers.browser import chromium, ...`.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from typing import Any, Iterator

import pytest

#: Flags for a headless, quiet, offline-friendly Chromium (no background network, no sandbox
#: because CI runs as root in a container).
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"]
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1440, "height": 900}


def chromium_path() -> str:
    for candidate in (os.environ.get("MQTTPRINT_CHROMIUM"), shutil.which("chromium"), "/usr/bin/chromium",
                      shutil.which("chromium-browser")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise RuntimeError("chromium is not installed (apt-get install -y chromium): the dashboard tests need a real browser")


def launch(playwright: Any) -> Any:
    return playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS, headless=True)


@dataclass
class ConsoleLog:
    """Console errors and uncaught page errors of one page (a test asserts there are none)."""

    errors: list[str] = field(default_factory=list)

    def watch(self, page: Any) -> Any:
        page.on("console", lambda msg: self.errors.append(f"console.{msg.type}: {msg.text}")
                if msg.type in ("error", "warning") else None)
        page.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc}"))
        return page


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """One headless Chromium per test module (each test opens its own context). Not per session:
    Playwright's sync API keeps an asyncio loop running on the main thread while it is open,
    and later tests that call asyncio.run() (pyoctoprintapi) must not find it."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            yield browser
        finally:
            browser.close()


def login(page: Any, base: str, key: str) -> None:
    """Open the dashboard and log in with `key` through the form."""
    page.goto(base + "/")
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Log in").click()


def no_horizontal_scroll(page: Any) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))
