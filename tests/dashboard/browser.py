"""Headless Debian Chromium driven by Playwright, watching what a person would see go wrong:
console errors, uncaught exceptions, failed requests and requests leaving the host."""
from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@contextmanager
def chromium(width: int = 1280, height: int = 900) -> Iterator:
    """A fresh browser context on Debian's chromium (no browser download)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        try:
            context = browser.new_context(viewport={"width": width, "height": height})
            yield context
        finally:
            browser.close()


class Watched:
    """A page whose problems are collected as they happen."""

    def __init__(self, context, base_url: str):
        self.page = context.new_page()
        self.host = urlsplit(base_url).netloc
        self.problems: list[str] = []
        self.page.on("console", lambda msg: msg.type == "error" and self.problems.append(f"console: {msg.text}"))
        self.page.on("pageerror", lambda exc: self.problems.append(f"exception: {exc}"))
        self.page.on("requestfailed", lambda req: self.problems.append(f"failed: {req.url} {req.failure}"))
        self.page.on("response", self._response)
        self.page.on("request", self._request)

    def _response(self, response):
        if response.status >= 400:
            self.problems.append(f"HTTP {response.status}: {response.url}")

    def _request(self, request):
        if not request.url.startswith("data:") and urlsplit(request.url).netloc != self.host:
            self.problems.append(f"outside: {request.url}")
