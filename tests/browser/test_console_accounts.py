"""The console's Students and classes page and the "change my password" dialog against a
scripted accounts API (page.route()), for what the live class flow (test_classes_live.py) does
not reach: a CSV's bad line, resets, disabling, adding a member by email, a phone's width, the
page in Chinese, a server without the accounts API, and the password dialog's errors."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from browser_support import close_page, new_page, save_screenshot

pytestmark = pytest.mark.browser
expect = pytest.importorskip("playwright.sync_api").expect

ME = {"id": 2, "email": "chen@example.com", "role": "teacher", "display_name": "Ms Chen"}
USERS = [
    {
        "id": 3,
        "email": "li@example.com",
        "display_name": "Li Wei",
        "role": "student",
        "disabled": False,
    },
    {
        "id": 4,
        "email": "sam@example.com",
        "display_name": "Sam",
        "role": "student",
        "disabled": True,
    },
]
CLASS = {"id": 9, "name": "7B Science", "members": [USERS[0]]}


class AccountsApi:
    """The accounts API as specified: users, imports, resets, classes, password changes."""

    def __init__(self, page: Any, *, accounts: bool = True) -> None:
        self.accounts = accounts
        self.calls: list[tuple[str, str, str]] = []
        page.route(re.compile(r".*/api/.*"), self.handle)

    def handle(self, route: Any) -> None:
        request = route.request
        path = "/" + request.url.split("//", 1)[1].split("/", 1)[1]
        self.calls.append((request.method, path, request.post_data or ""))
        method = request.method
        if path == "/api/auth/login":
            return self.json(
                route, {"access_token": "tok", "token_type": "bearer", "expires_in": 900}
            )
        if request.headers.get("authorization") not in ("Bearer tok", "Bearer tok2"):
            error = {"error": {"code": "unauthorized", "message": "token expired"}}
            return self.json(route, error, status=401)
        if path == "/api/auth/me":
            return self.json(route, ME)
        if path == "/api/tutors":
            return self.json(route, [])
        if not self.accounts:
            return self.json(route, {"error": {"code": "not_found", "message": path}}, status=404)
        if path == "/api/users" and method == "GET":
            return self.json(route, USERS)
        if path == "/api/users" and method == "POST":
            body = json.loads(request.post_data)
            user = {"id": 5, **body, "disabled": False, "one_time_password": "Kq7-one-time"}
            return self.json(route, user, status=201)
        if path.startswith("/api/users/import"):
            if "bad" in (request.post_data or ""):
                message = "line 3: 'bad' is not an email address"
                return self.json(
                    route, {"error": {"code": "invalid_csv", "message": message}}, status=422
                )
            created = [{"id": 6, "email": "ana@example.com", "one_time_password": "Zp4-imported"}]
            return self.json(route, {"class_id": 9, "users": created}, status=201)
        if re.fullmatch(r"/api/users/\d+/password", path):
            return self.json(route, {"one_time_password": "Rr2-reset"})
        if re.fullmatch(r"/api/users/\d+", path) and method == "PATCH":
            return self.json(route, {**USERS[0], **json.loads(request.post_data)})
        if path == "/api/classes" and method == "GET":
            return self.json(route, [{"id": 9, "name": "7B Science"}])
        if path == "/api/classes/9" and method == "GET":
            return self.json(route, CLASS)
        if path == "/api/classes/9/members":
            return self.json(route, CLASS, status=201)
        if path == "/api/auth/password":
            body = json.loads(request.post_data)
            if body["current_password"] != "old-password-1":
                error = {"error": {"code": "wrong_password", "message": "wrong current password"}}
                return self.json(route, error, status=403)
            # Every older token stops working; the answer carries a fresh one.
            fresh = {"access_token": "tok2", "token_type": "bearer", "expires_in": 900}
            return self.json(route, fresh)
        return self.json(route, {"error": {"code": "not_found", "message": path}}, status=404)

    @staticmethod
    def json(route: Any, body: Any, *, status: int = 200) -> None:
        route.fulfill(status=status, body=json.dumps(body), content_type="application/json")


def log_in(page: Any, site: str) -> None:
    page.goto(site + "/")
    page.get_by_label("Email").fill(ME["email"])
    page.get_by_label("Password").fill("right")
    page.get_by_role("button", name="Log in").click()
    # Logging in ends on the tutor list; a page.goto() before that would be overtaken by it.
    expect(page.get_by_role("heading", name="Choose a tutor")).to_be_visible()


def test_accounts_and_classes(quiet_browser: Any, static_site: str) -> None:
    page = new_page(quiet_browser)
    api = AccountsApi(page)
    log_in(page, static_site)
    page.get_by_role("link", name="Console").click()
    page.get_by_role("link", name="Students and classes").click()
    expect(page.get_by_role("heading", name="Students and classes", exact=True)).to_be_visible()
    expect(page.locator('[data-user-id="3"]')).to_contain_text("Li Wei")
    expect(page.locator('[data-class-id="9"]')).to_contain_text("Li Wei")
    # A teacher adds students only.
    assert page.get_by_label("Role").locator("option").all_inner_texts() == ["Student"]

    page.get_by_label("Email").first.fill("new@example.com")
    page.get_by_label("Display name").fill("New Student")
    page.get_by_role("button", name="Create").first.click()
    expect(page.locator(".one-time__password")).to_have_text("Kq7-one-time")
    posted = json.loads(next(c[2] for c in api.calls if c[:2] == ("POST", "/api/users")))
    assert posted == {"email": "new@example.com", "display_name": "New Student", "role": "student"}

    csv = page.get_by_label("CSV")
    csv.fill("email,display_name\nana@example.com,Ana\nbad,Bad")
    page.get_by_label("Add them to the class").select_option("9")
    page.get_by_role("button", name="Import").click()
    expect(page.get_by_role("alert")).to_contain_text("line 3")
    csv.fill("email,display_name\nana@example.com,Ana")
    page.get_by_role("button", name="Import").click()
    expect(page.locator(".one-time__password")).to_have_text("Zp4-imported")
    assert any(c[1] == "/api/users/import?class_id=9" for c in api.calls)

    page.get_by_role("button", name="Reset the password of Li Wei").click()
    expect(page.locator(".one-time__password")).to_have_text("Rr2-reset")
    row = page.locator('[data-user-id="3"]')
    row.get_by_label("Disabled").check()
    expect(
        page.get_by_role("status").filter(has_text="Li Wei can no longer log in.")
    ).to_be_visible()
    assert json.loads(next(c[2] for c in api.calls if c[0] == "PATCH")) == {"disabled": True}

    page.locator('[data-class-id="9"]').get_by_label("Student's email").fill("sam@example.com")
    page.get_by_role("button", name="Add to class").click()
    assert any(c[:2] == ("POST", "/api/classes/9/members") for c in api.calls)
    page.evaluate("window.scrollTo(0, 0)")
    save_screenshot(page, "console-students.png", for_readme=True)
    # At a phone's width the page still fits without sideways scrolling.
    page.set_viewport_size({"width": 390, "height": 780})
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.set_viewport_size({"width": 1100, "height": 820})

    page.locator("#language").select_option("zh")
    expect(page.get_by_role("heading", name="学生和班级", exact=True)).to_be_visible()
    expect(page.get_by_role("button", name="重置 Li Wei 的密码")).to_be_visible()
    close_page(page)


def test_the_page_says_when_the_server_has_no_accounts_api(
    quiet_browser: Any, static_site: str
) -> None:
    page = new_page(quiet_browser)
    AccountsApi(page, accounts=False)
    log_in(page, static_site)
    page.goto(static_site + "/#/console/students")
    expect(page.get_by_role("alert")).to_have_text(
        "Accounts and classes are not available on this server yet."
    )
    close_page(page)


def test_change_my_password(quiet_browser: Any, static_site: str) -> None:
    page = new_page(quiet_browser)
    api = AccountsApi(page)
    log_in(page, static_site)
    opener = page.get_by_role("button", name="Change password")
    opener.click()
    dialog = page.get_by_role("dialog", name="Change your password")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_label("Current password")).to_be_focused()
    dialog.get_by_label("Current password").fill("wrong-password")
    dialog.get_by_label("New password", exact=True).fill("new-password-22")
    dialog.get_by_label("New password again").fill("new-password-23")
    dialog.get_by_role("button", name="Change password").click()
    expect(dialog.get_by_role("alert")).to_have_text("The two new passwords are not the same.")
    dialog.get_by_label("New password again").fill("new-password-22")
    dialog.get_by_role("button", name="Change password").click()
    # A wrong current password is said in the dialog; the user stays logged in.
    expect(dialog.get_by_role("alert")).to_contain_text("wrong current password")
    dialog.get_by_label("Current password").fill("old-password-1")
    dialog.get_by_role("button", name="Change password").click()
    expect(dialog).to_be_hidden()
    expect(page.locator("#notice")).to_have_text("Your password was changed.")
    expect(opener).to_be_focused()
    changes = [c for c in api.calls if c[1] == "/api/auth/password"]
    assert json.loads(changes[-1][2]) == {
        "current_password": "old-password-1",
        "new_password": "new-password-22",
    }
    assert "tok2" in page.evaluate("localStorage.getItem('vt.token')")
    # Escape closes it too, focus back on the button.
    opener.click()
    page.keyboard.press("Escape")
    expect(page.get_by_role("dialog")).to_have_count(0)
    expect(opener).to_be_focused()
    close_page(page)
