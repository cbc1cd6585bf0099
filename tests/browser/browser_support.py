"""Paths, credentials and page helpers shared by the browser tests."""

from __future__ import annotations

import secrets
import shutil
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
WEB = REPO / "web"
ARTIFACTS = REPO / "tests" / "artifacts"
SCREENSHOTS = REPO / "docs" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
STUDENT_EMAIL = "student@example.com"
STUDENT_PASSWORD = "student-pass-" + secrets.token_hex(4)
QUESTION = "What is photosynthesis?"


def new_page(browser: Any, *, locale: str = "en-US", phone: bool = False, **options: Any) -> Any:
    viewport = {"width": 390, "height": 780} if phone else {"width": 1100, "height": 820}
    # Playwright's wait_for_function evaluates its predicate as a string, which the server's
    # strict CSP (no eval) forbids; the page's own scripts need nothing the CSP refuses
    # (tests/test_http_headers.py checks web/ for inline scripts and handlers).
    options.setdefault("bypass_csp", True)
    context = browser.new_context(locale=locale, viewport=viewport, **options)
    page = context.new_page()
    page.set_default_timeout(15_000)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.page_errors = errors
    return page


def close_page(page: Any) -> None:
    """Close the page's context, failing the test if the page threw an uncaught error."""
    errors = list(page.page_errors)
    page.context.close()
    assert not errors, f"uncaught errors in the page: {errors}"


def save_screenshot(page: Any, name: str, *, for_readme: bool = False) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    # A focus ring left by autofocus says nothing in a picture.
    page.evaluate("document.activeElement && document.activeElement.blur()")
    page.screenshot(path=str(path), full_page=False)
    if for_readme:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, SCREENSHOTS / name)
