"""The class flow against the real server (no voice or language models): a teacher the admin
added through the accounts API creates a class on the console's Students and classes page,
imports two students from a CSV and sees their one-time passwords once, and makes a tutor for
that class only; one of the students logs in with the one-time password and sees that tutor
and not the tutor of another class."""

from __future__ import annotations

import json
import secrets
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from browser_support import close_page, running_server

pytestmark = pytest.mark.browser
expect = pytest.importorskip("playwright.sync_api").expect

ADMIN = ("admin@example.com", "admin-pass-" + secrets.token_hex(4))
TEACHER = ("teacher@example.com", "teacher-pass-" + secrets.token_hex(4))
CLASS_LIST = "email,display_name\nana@school.org,Ana Li\nben@school.org,Ben Wu\n"


def post(url: str, body: dict[str, Any], token: str | None = None) -> dict[str, Any]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, json.dumps(body).encode(), headers, method="POST")
    with urllib.request.urlopen(request, timeout=30) as response:
        answer: dict[str, Any] = json.load(response)
        return answer


def token(url: str, who: tuple[str, str]) -> str:
    return str(post(f"{url}/api/auth/login", {"email": who[0], "password": who[1]})["access_token"])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The real server without models; the admin adds the teacher through the accounts API,
    and the teacher already has another class, 8C, with its own tutor, Euclid."""
    var = tmp_path_factory.mktemp("classes")
    env = {
        "ADMIN_EMAIL": ADMIN[0],
        "ADMIN_PASSWORD": ADMIN[1],
        "LOAD_VOICE_MODELS": "false",
        "ENABLE_LLM": "false",
    }
    with running_server(var, env) as url:
        teacher = {"email": TEACHER[0], "display_name": "Ms Chen", "role": "teacher"}
        post(f"{url}/api/users", {**teacher, "password": TEACHER[1]}, token(url, ADMIN))
        own = token(url, TEACHER)
        other = post(f"{url}/api/classes", {"name": "8C"}, own)
        euclid = {"name": "Euclid", "subject": "Geometry", "everyone": False}
        post(f"{url}/api/tutors", {**euclid, "class_ids": [other["id"]]}, own)
        yield url


def log_in(page: Any, server: str, who: tuple[str, str]) -> None:
    page.goto(server + "/")
    page.get_by_label("Email").fill(who[0])
    page.get_by_label("Password").fill(who[1])
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Choose a tutor")).to_be_visible()


def test_a_class_its_students_and_its_tutor(
    quiet_browser: Any, server: str, open_page: Any
) -> None:
    page = open_page(quiet_browser)
    log_in(page, server, TEACHER)
    page.get_by_role("link", name="Console").click()
    page.get_by_role("link", name="Students and classes").click()
    expect(page.get_by_role("heading", name="Students and classes", exact=True)).to_be_visible()

    page.get_by_label("New class").fill("7B")
    page.locator("form", has=page.get_by_label("New class")).get_by_role("button").click()
    expect(page.get_by_role("status").filter(has_text="The class 7B was created.")).to_be_visible()

    page.get_by_label("CSV").fill(CLASS_LIST)
    page.get_by_label("Add them to the class").select_option(label="7B")
    page.get_by_role("button", name="Import").click()
    shown = page.locator(".one-time__password")
    expect(shown).to_have_count(2)
    lines = page.locator("li", has=shown).all_inner_texts()
    passwords = dict(line.split(": ", 1) for line in lines)
    assert set(passwords) == {"ana@school.org", "ben@school.org"}, lines
    new_class = page.locator(".admin-row", has_text="7B")
    expect(new_class).to_contain_text("Ana Li")
    expect(new_class).to_contain_text("Ben Wu")
    # Shown once: the page keeps them nowhere.
    page.reload()
    expect(page.get_by_role("heading", name="Students and classes", exact=True)).to_be_visible()
    expect(page.locator(".admin-row", has_text="Ana Li").first).to_be_visible()
    expect(shown).to_have_count(0)

    # A tutor for 7B only.
    page.locator(".console__tabs").get_by_role("link", name="Tutors").click()
    page.get_by_role("button", name="New tutor").click()
    form = page.locator("form.console-form")
    form.get_by_label("Name").fill("Rex")
    form.get_by_label("Subject").fill("History")
    form.get_by_label("Every student").uncheck()
    form.get_by_label("7B", exact=True).check()
    page.get_by_role("button", name="Create").click()
    expect(page.get_by_role("status").filter(has_text="Rex was created.")).to_be_visible()
    rex = page.locator(".admin-row", has_text="Rex").get_attribute("data-tutor-id")
    # Questions and sessions are offered only of her own tutors (the demo tutors are the admins').
    tabs = page.locator(".console__tabs")
    tabs.get_by_role("link", name="What students asked").click()
    expect(page.get_by_label("Tutor").locator("option")).to_have_text(["Euclid", "Rex"])
    expect(page.get_by_role("status").filter(has_text="0 questions in 0 topics")).to_be_visible()
    tabs.get_by_role("link", name="Sessions").click()
    options = page.get_by_label("Tutor").locator("option")
    expect(options).to_have_text(["All tutors", "Euclid", "Rex"])
    expect(page.locator(".session-list")).to_be_attached()
    expect(page.get_by_role("alert")).to_be_hidden()
    close_page(page)

    student = open_page(quiet_browser)
    log_in(student, server, ("ana@school.org", passwords["ana@school.org"]))
    expect(student.locator(f'.tutor[data-tutor-id="{rex}"]')).to_contain_text("Rex")
    names = student.locator(".tutor__name")
    expect(names.filter(has_text="Ada")).to_have_count(1)  # a demo tutor, for every student
    expect(names.filter(has_text="Euclid")).to_have_count(0)
    close_page(student)
