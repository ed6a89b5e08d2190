"""Logging in: a session cookie for the browser (a login form protected against CSRF, a page only for logged-in
users, logout) and bearer tokens for a JSON API, both for the same users, whose passwords are stored hashed.

Run it with `python examples/login/login.py`, open http://127.0.0.1:8080/login and log in as ada / lovelace.
The API:

    curl -X POST localhost:8080/api/tokens -d '{"username": "ada", "password": "lovelace"}'
    curl localhost:8080/api/me -H "Authorization: Bearer <the token>"

Set SESSION_SECRET (`python -c "import secrets; print(secrets.token_urlsafe(32))"`) to keep sessions valid when
the server restarts; without it, a fresh key is made at every start.
"""

import hashlib
import hmac
import os
import secrets
from html import escape
from typing import Any

from pydantic import BaseModel

from tiercel import AuthenticationHandler, BearerGetter, HTTPException, Identity, Tiercel, html, redirect

app = Tiercel(__file__)
app.configure_sessions(os.environ.get("SESSION_SECRET") or secrets.token_urlsafe(32))


def hash_password(password: str, salt: bytes | None = None) -> str:
    """'salt$digest' in hex, with scrypt: slow and memory-hard on purpose, so a stolen table is costly to crack."""
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1)
    return f"{salt.hex()}${digest.hex()}"


def check_password(password: str, stored: str) -> bool:
    salt, _ = stored.split("$")
    return hmac.compare_digest(hash_password(password, bytes.fromhex(salt)), stored)


USERS = {"ada": hash_password("lovelace"), "grace": hash_password("hopper")}  # in a real app: a database
# Checked for an unknown user too, so that the time taken does not tell which user names exist.
NOBODY = hash_password(secrets.token_urlsafe())


def authenticate_user(username: str, password: str) -> bool:
    return check_password(password, USERS.get(username, NOBODY)) and username in USERS


# ---- the browser: a session cookie, and a CSRF token in the session checked on every form POST

PAGE = """<!doctype html>
<html lang="en"><meta charset="utf-8"><title>{title}</title><link rel="icon" href="data:,">
<h1>{title}</h1>
{body}
</html>"""


def page(title: str, body: str, status_code: int = 200):
    return html(PAGE.format(title=escape(title), body=body), status_code)


def csrf_token(session: dict[str, Any]) -> str:
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    token: str = session["csrf"]
    return token


def check_csrf(request) -> None:
    """A form POST must carry the token from the session: another site can make a browser post here, with its
    cookies, but cannot read the token."""
    sent = request.form_data.get("csrf_token", "")
    expected = request.session.get("csrf", "")
    if not (expected and hmac.compare_digest(sent, expected)):
        raise HTTPException(403, detail="CSRF token missing or wrong: reload the form and try again")


def login_form(request, error: str = "", status_code: int = 200):
    message = f'<p role="alert">{escape(error)}</p>' if error else ""
    form = f"""{message}<form method="post" action="/login">
  <input type="hidden" name="csrf_token" value="{escape(csrf_token(request.session))}">
  <label>User name <input name="username" autocomplete="username" required></label>
  <label>Password <input name="password" type="password" autocomplete="current-password" required></label>
  <button>Log in</button>
</form>"""
    return page("Log in", form, status_code)


@app.get("/")
async def index():
    return redirect("/account", 303)


@app.get("/login")
async def show_login(request):
    return login_form(request)


@app.post("/login", blocking=True)  # scrypt takes a while: in the thread pool, not on the event loop
def login(request):
    check_csrf(request)
    username = request.form_data.get("username", "")
    if not authenticate_user(username, request.form_data.get("password", "")):
        return login_form(request, "Wrong user name or password.", 401)
    request.session.clear()  # a fresh session (and CSRF token) for the logged-in user
    request.session["user"] = username
    return redirect("/account", 303)


@app.get("/account")
async def account(request):
    user = request.session.get("user")
    if user is None:
        return redirect("/login", 303)
    logout = f"""<p>Logged in as <strong>{escape(user)}</strong>.</p>
<form method="post" action="/logout">
  <input type="hidden" name="csrf_token" value="{escape(csrf_token(request.session))}">
  <button>Log out</button>
</form>"""
    return page("Your account", logout)


@app.post("/logout")
async def logout(request):
    check_csrf(request)
    request.session.clear()
    return redirect("/login", 303)


# ---- the API: bearer tokens

TOKENS: dict[str, str] = {}  # SHA-256 of a token -> user: the table alone gives no usable token


def token_key(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class TokenAuth(AuthenticationHandler):
    def authenticate(self, request):
        token = self.token_getter.get_token(request)
        key = token_key(token) if token else ""
        user = TOKENS.get(key)
        return Identity(claims={"user": user, "token_key": key}) if user else None


app.configure_authentication(TokenAuth(token_getter=BearerGetter()))


class Credentials(BaseModel):
    username: str
    password: str


@app.post("/api/tokens", blocking=True)
def issue_token(credentials: Credentials):
    if not authenticate_user(credentials.username, credentials.password):
        raise HTTPException(401, detail="wrong user name or password", headers={"WWW-Authenticate": "Bearer"})
    token = secrets.token_urlsafe(32)
    TOKENS[token_key(token)] = credentials.username
    return {"token": token, "token_type": "bearer"}, 201


@app.get("/api/me", auth_required=True)
async def me(request):
    return {"user": request.identity.claims["user"]}


@app.delete("/api/tokens", auth_required=True)
async def revoke_token(request):
    del TOKENS[request.identity.claims["token_key"]]
    return "", 204


if __name__ == "__main__":
    app.start(host="127.0.0.1", port=8080)
