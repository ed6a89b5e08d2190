"""examples/login/login.py run as a user runs it: the login form with its CSRF token (403 without it or with
another), the members' page, logout, and the bearer-token API for the same users (401 for a bad token)."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

EXAMPLE = str(Path(__file__).resolve().parent.parent / "examples" / "login" / "login.py")
CSRF_FIELD = re.compile(r'<input type="hidden" name="csrf_token" value="([^"]+)">')


@pytest.fixture
def url(run_script) -> str:
    return str(run_script(EXAMPLE).url)


def csrf_of(page: httpx.Response) -> str:
    assert page.status_code == 200
    found = CSRF_FIELD.search(page.text)
    assert found, page.text
    return found[1]


def log_in(browser: httpx.Client, username: str = "ada", password: str = "lovelace") -> httpx.Response:
    token = csrf_of(browser.get("/login"))
    return browser.post("/login", data={"csrf_token": token, "username": username, "password": password})


def test_log_in_see_the_page_log_out(url: str) -> None:
    with httpx.Client(base_url=url, timeout=10) as browser:
        assert browser.get("/account").headers["location"] == "/login"  # not logged in yet
        logged_in = log_in(browser)
        assert (logged_in.status_code, logged_in.headers["location"]) == (303, "/account")
        assert "httponly" in logged_in.headers["set-cookie"].lower()

        account = browser.get("/account")
        assert account.status_code == 200
        assert "Logged in as <strong>ada</strong>" in account.text

        # Logging out needs the CSRF token too: a forged POST does not log anyone out.
        assert browser.post("/logout").status_code == 403
        assert browser.get("/account").status_code == 200
        logged_out = browser.post("/logout", data={"csrf_token": csrf_of(account)})
        assert (logged_out.status_code, logged_out.headers["location"]) == (303, "/login")
        assert browser.get("/account").status_code == 303


def test_wrong_password_or_user(url: str) -> None:
    with httpx.Client(base_url=url, timeout=10) as browser:
        for username, password in (("ada", "hopper"), ("nobody", "lovelace"), ("ada", "")):
            refused = log_in(browser, username, password)
            assert refused.status_code == 401, (username, password)
            assert "Wrong user name or password." in refused.text
            assert browser.get("/account").status_code == 303
        assert log_in(browser, "grace", "hopper").status_code == 303
        assert "Logged in as <strong>grace</strong>" in browser.get("/account").text


def test_login_form_posts_need_the_sessions_csrf_token(url: str) -> None:
    credentials = {"username": "ada", "password": "lovelace"}
    with httpx.Client(base_url=url, timeout=10) as browser, httpx.Client(base_url=url, timeout=10) as attacker:
        token = csrf_of(browser.get("/login"))
        # Without a token, with a made-up one, or with a real one from another session (the attacker's own).
        assert browser.post("/login", data=credentials).status_code == 403
        assert browser.post("/login", data={**credentials, "csrf_token": "guess"}).status_code == 403
        assert browser.post("/login", data={**credentials, "csrf_token": ""}).status_code == 403
        attackers = csrf_of(attacker.get("/login"))
        assert attackers != token
        assert browser.post("/login", data={**credentials, "csrf_token": attackers}).status_code == 403
        # A client with no session at all has no token to match, not even an empty one.
        assert httpx.post(url + "/login", data={**credentials, "csrf_token": ""}).status_code == 403
        assert browser.get("/account").status_code == 303  # none of those logged in
        assert browser.post("/login", data={**credentials, "csrf_token": token}).status_code == 303
        assert browser.get("/account").status_code == 200


def test_bearer_token_api(url: str) -> None:
    with httpx.Client(base_url=url, timeout=10) as api:
        issued = api.post("/api/tokens", json={"username": "ada", "password": "lovelace"})
        assert issued.status_code == 201
        token = issued.json()["token"]
        assert len(token) >= 32 and issued.json()["token_type"] == "bearer"
        assert api.cookies.get("session") is None  # the API keeps no session
        me = api.get("/api/me", headers={"Authorization": f"Bearer {token}"})
        assert (me.status_code, me.json()) == (200, {"user": "ada"})

        for header in ({}, {"Authorization": "Bearer " + token[:-1]}, {"Authorization": "Basic YWRhOmxvdmVsYWNl"}):
            refused = api.get("/api/me", headers=header)
            assert refused.status_code == 401, header
            assert refused.headers["www-authenticate"] == "Bearer"

        assert api.post("/api/tokens", json={"username": "ada", "password": "nope"}).status_code == 401
        assert api.post("/api/tokens", json={"username": "ghost", "password": "lovelace"}).status_code == 401
        assert api.post("/api/tokens", json={"username": "ada"}).status_code == 422

        # Revoking the token ends it; another token of the same user still works.
        other = api.post("/api/tokens", json={"username": "ada", "password": "lovelace"}).json()["token"]
        assert api.delete("/api/tokens", headers={"Authorization": f"Bearer {token}"}).status_code == 204
        assert api.get("/api/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
        assert api.get("/api/me", headers={"Authorization": f"Bearer {other}"}).json() == {"user": "ada"}


def test_a_session_cookie_is_not_a_bearer_token(url: str) -> None:
    with httpx.Client(base_url=url, timeout=10) as browser:
        assert log_in(browser).status_code == 303
        assert browser.get("/api/me").status_code == 401
