"""The teacher's console against the real server: a teacher creates a Chinese tutor and hears
its voice, builds its course material (a dropped document read live, its passages, the search
box), a student asks it questions over a real call, and "What students asked" lists the one the
material did not cover first. Screenshots of each page go to docs/screenshots/."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser_support import REPO, close_page, running_server, save_screenshot

pytestmark = pytest.mark.browser
expect = pytest.importorskip("playwright.sync_api").expect

TEACHER = ("teacher@example.com", "teacher-pass-" + secrets.token_hex(4))
STUDENT = ("student@example.com", "student-pass-" + secrets.token_hex(4))
DOCUMENT = (
    "光合作用在叶绿体中进行，植物利用光能把二氧化碳和水变成有机物，并释放氧气。\n\n"
    "火山喷发是因为地下的岩浆沿着地壳的裂缝上升，喷出地表形成熔岩。\n"
)
COVERED = "什么是光合作用？"
UNCOVERED = ("世界杯冠军是谁？", "哪个国家赢了世界杯？")
DROP_FILE = """([name, text]) => {
  const transfer = new DataTransfer();
  transfer.items.add(new File([text], name, { type: "text/plain" }));
  const zone = document.querySelector(".drop-zone");
  for (const type of ["dragover", "drop"]) {
    zone.dispatchEvent(new DragEvent(type, { dataTransfer: transfer, bubbles: true }));
  }
}"""


ADMIN = ("admin@example.com", "admin-pass-" + secrets.token_hex(4))


def post(url: str, body: dict[str, Any], token: str | None = None) -> dict[str, Any]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, json.dumps(body).encode(), headers, method="POST")
    with urllib.request.urlopen(request, timeout=30) as response:
        answer: dict[str, Any] = json.load(response)
        return answer


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The real server (API, engine with its voice models, web client), a teacher the admin
    adds through the accounts API, and the demo student in her class."""
    var = tmp_path_factory.mktemp("console")
    env = {
        "ADMIN_EMAIL": ADMIN[0],
        "ADMIN_PASSWORD": ADMIN[1],
        "DEMO_STUDENT_EMAIL": STUDENT[0],
        "DEMO_STUDENT_PASSWORD": STUDENT[1],
        "LLM_MAX_TOKENS": "24",
    }
    with running_server(var, env, timeout=300) as url:
        login = post(f"{url}/api/auth/login", {"email": ADMIN[0], "password": ADMIN[1]})
        teacher = {"email": TEACHER[0], "display_name": "Ms Chen", "role": "teacher"}
        post(f"{url}/api/users", {**teacher, "password": TEACHER[1]}, login["access_token"])
        # A teacher reads only their own students' sessions: the demo student joins her class.
        own = post(f"{url}/api/auth/login", {"email": TEACHER[0], "password": TEACHER[1]})
        group = post(f"{url}/api/classes", {"name": "7B"}, own["access_token"])
        members = f"{url}/api/classes/{group['id']}/members"
        post(members, {"email": STUDENT[0]}, own["access_token"])
        yield url


def log_in(page: Any, server: str, who: tuple[str, str]) -> None:
    page.goto(server + "/")
    page.get_by_label("Email").fill(who[0])
    page.get_by_label("Password").fill(who[1])
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Choose a tutor")).to_be_visible()


def ask(server: str, tutor_id: int, questions: tuple[str, ...]) -> None:
    """A student types `questions` to the tutor over a real WebRTC call (the CLI client)."""
    command = [sys.executable, "-m", "virtual_tutor.cli", "call", "--server", server]
    command += ["--email", STUDENT[0], "--password", STUDENT[1], "--tutor", str(tutor_id)]
    for question in questions:
        command += ["--text", question]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]


def test_a_teacher_builds_a_chinese_tutor_and_reads_what_students_asked(
    quiet_browser: Any, server: str, open_page: Any, tmp_path: Path
) -> None:
    page = open_page(quiet_browser, accept_downloads=True)
    log_in(page, server, TEACHER)
    page.get_by_role("link", name="Console").click()
    expect(page.get_by_role("heading", name="Tutors", exact=True)).to_be_visible()

    # A tutor with a Chinese voice, heard before it is saved.
    page.get_by_role("button", name="New tutor").click()
    form = page.locator("form.console-form")
    form.get_by_label("Name").fill("周老师")
    form.get_by_label("Subject").fill("科学")
    form.get_by_label("Language").select_option("zh")
    voice = form.get_by_label("Voice")
    expect(voice).to_have_value("zf_xiaobei")
    assert all(v.startswith("z") for v in voice.locator("option").all_inner_texts())
    voice.select_option("zm_yunxi")
    page.get_by_role("button", name="Play sample").click()
    sample = page.locator("audio.voice-sample")
    expect(sample).to_be_visible(timeout=60_000)
    page.wait_for_function(
        "document.querySelector('audio.voice-sample').duration > 1", timeout=30_000
    )
    form.get_by_label("Questions beyond the course material").select_option("course_only")
    save_screenshot(page, "console-tutors.png", for_readme=True)
    page.get_by_role("button", name="Create").click()
    expect(page.get_by_role("status").filter(has_text="周老师 was created.")).to_be_visible()
    row = page.locator(".admin-row", has_text="周老师")
    expect(row).to_contain_text("zm_yunxi")
    tutor_id = int(row.get_attribute("data-tutor-id") or 0)

    # Course material, reached from the keyboard: a base, a dropped document read live.
    tab = page.locator(".console__tabs").get_by_role("link", name="Course material")
    tab.focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Course material", exact=True)).to_be_visible()
    page.get_by_label("New knowledge base").fill("植物与火山")
    page.get_by_role("button", name="Create").click()
    expect(page.get_by_label("Knowledge base", exact=True)).to_contain_text("植物与火山")
    page.evaluate(DROP_FILE, ["notes.txt", DOCUMENT])
    document = page.locator(".doc", has_text="notes.txt")
    expect(document).to_have_attribute("data-status", "ready", timeout=120_000)
    expect(document.locator(".doc__state")).to_contain_text("Ready:")
    document.locator("summary").click()
    expect(document.locator(".passage").first).to_contain_text("光合作用")
    page.get_by_label("A student's question").fill(COVERED)
    page.get_by_role("button", name="Search").click()
    found = page.locator(".search-result--relevant").first
    expect(found).to_contain_text("光合作用")
    save_screenshot(page, "console-material.png", for_readme=True)

    # The tutor answers from that material.
    tabs = page.locator(".console__tabs")
    tabs.get_by_role("link", name="Tutors").click()
    page.get_by_role("button", name="Edit 周老师").click()
    page.locator("form.console-form").get_by_label("Course material", exact=True).select_option(
        label="植物与火山"
    )
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status").filter(has_text="was saved")).to_be_visible()

    ask(server, tutor_id, (COVERED, *UNCOVERED))

    tabs.get_by_role("link", name="What students asked").click()
    # The view is drawn after the click: until then "Tutor" also names the tutors' list.
    heading = page.get_by_role("heading", name="What students asked", exact=True)
    expect(heading).to_be_visible()
    page.get_by_label("Tutor", exact=True).select_option(str(tutor_id))
    topics = page.locator(".topic")
    expect(topics).to_have_count(2)
    expect(topics.first).to_have_attribute("data-covered", "false")
    expect(topics.first).to_contain_text("Add material about this.")
    expect(topics.first).to_contain_text("2 asked")
    for question in UNCOVERED:
        expect(topics.first.locator(".topic__question", has_text=question)).to_be_visible()
    expect(topics.nth(1)).to_have_attribute("data-covered", "true")
    expect(topics.nth(1)).to_contain_text(COVERED)
    save_screenshot(page, "console-questions.png", for_readme=True)
    with page.expect_download() as download:
        page.get_by_role("button", name="Export CSV").click()
    saved = tmp_path / "questions.csv"
    download.value.save_as(saved)
    lines = saved.read_text(encoding="utf-8-sig").splitlines()
    assert lines[0].startswith("topic,topic_covered") and len(lines) == 4, lines
    assert lines[1].split(",")[1] == "no" and lines[3].split(",")[1] == "yes", lines

    # In Chinese.
    page.locator("#language").select_option("zh")
    expect(page.get_by_role("heading", name="学生问了什么")).to_be_visible()
    expect(page.get_by_role("button", name="导出 CSV")).to_be_visible()
    expect(topics.first).to_contain_text("请补充这方面的资料。")
    save_screenshot(page, "console-questions-zh.png", for_readme=True)
    page.locator("#language").select_option("en")

    # The student's session, read-only, with the reply's sources.
    tabs.get_by_role("link", name="Sessions").click()
    session = page.locator(".admin-row", has_text="周老师").first
    expect(session).to_contain_text("Demo Student")
    session.get_by_role("link").click()
    expect(page.locator(".turn--user .turn__text").first).to_have_text(COVERED)
    expect(page.locator(".turn--assistant .sources").first).to_be_visible()
    save_screenshot(page, "console-sessions.png", for_readme=True)
    close_page(page)


def test_students_see_no_console(quiet_browser: Any, server: str, open_page: Any) -> None:
    page = open_page(quiet_browser)
    log_in(page, server, STUDENT)
    expect(page.get_by_role("link", name="Console")).to_be_hidden()
    page.goto(server + "/#/console/questions")
    expect(page.get_by_role("heading", name="Choose a tutor")).to_be_visible()
    close_page(page)
