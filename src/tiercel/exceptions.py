"""Exceptions a handler raises to answer with an HTTP error.

>>> raise HTTPException(404, "no such user")  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus
from typing import Any


class TiercelError(Exception):
    """The base of the exceptions Tiercel defines: `except TiercelError` catches every one of them (an HTTP error a
    handler raised, a client's refused input, a WebSocket that closed). Mistakes in how an app is set up are
    `TypeError` / `ValueError`, raised at registration or start-up, as Python's own are; a missing optional
    dependency is a `ModuleNotFoundError` naming the command that installs it; a port that cannot be bound an
    `OSError`."""


class HTTPException(TiercelError):
    """Raised in a handler or a hook, becomes a response with `status_code`, `detail` as the body (a str as
    text, a dict or list as JSON; the status's reason phrase when omitted) and `headers`."""

    def __init__(self, status_code: int, detail: Any = None, headers: Mapping[str, str] | None = None) -> None:
        if not isinstance(status_code, int) or isinstance(status_code, bool) or not 400 <= status_code <= 599:
            raise ValueError(f"HTTPException needs an error status code (400-599), got {status_code!r}")
        if detail is None:
            try:
                detail = HTTPStatus(status_code).phrase
            except ValueError:
                detail = ""
        super().__init__(status_code, detail)
        self.status_code = status_code
        self.detail = detail
        self.headers = dict(headers) if headers is not None else None

    def __repr__(self) -> str:
        return f"HTTPException(status_code={self.status_code!r}, detail={self.detail!r})"


class ClientError(HTTPException):
    """An HTTPException Tiercel raises itself for bad client input (a refused path or query parameter, a body that
    is not JSON, a malformed form, a body too large or too slow): answered with its 4xx and not logged. Exception
    handlers registered for HTTPException or one of its subclasses see it; a catch-all `@app.exception`
    (Exception) does not, as it is not the app's error."""


class JSONBodyError(ClientError, ValueError):
    """`request.json()` on a body that is not JSON (malformed, empty, not UTF-8): a 400 whose body is
    `{"error": "Invalid JSON body: ..."}`. A ValueError too, so `except ValueError` in a handler catches it.

    >>> str(JSONBodyError("the body is empty"))
    'Invalid JSON body: the body is empty'
    """

    def __init__(self, problem: str) -> None:
        super().__init__(400, {"error": f"Invalid JSON body: {problem}"})
        self.problem = problem

    def __str__(self) -> str:
        return f"Invalid JSON body: {self.problem}"


class RequestValidationError(ClientError):
    """The request's parameters or body broke the handler's declared types or rules: a 422 whose body is FastAPI's,
    `{"detail": [{"type", "loc", "msg", "input", "ctx"?}, ...]}` listing every refusal (`loc` says where: "path",
    "query", "header", "cookie" or "body", then the name and, in a body, the path to the value). Register
    `@app.exception(RequestValidationError)` to answer differently; `errors()` gives the list, `body` the raw body
    when it was the body that was refused.

    >>> str(RequestValidationError([{"type": "missing", "loc": ["query", "q"], "msg": "Field required"}]))
    'query q: Field required'
    """

    def __init__(self, errors: list[dict[str, Any]], body: Any = None) -> None:
        super().__init__(422, {"detail": errors})
        self._errors = errors
        self.body = body

    def errors(self) -> list[dict[str, Any]]:
        """One dict per problem, FastAPI's shape: `type`, `loc` (where, as a path), `msg`, `input`."""
        return self._errors

    def __str__(self) -> str:
        return "; ".join(f"{' '.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', '')}" for e in self._errors)


class WebSocketDisconnect(TiercelError):
    """Raised by a WebSocket's receive_*/send_* once the connection is closed: `code` is the close code (1000
    normal, 1001 going away, 1006 when the connection dropped without a close frame), `reason` the peer's text."""

    def __init__(self, code: int = 1000, reason: str = "") -> None:
        super().__init__(code, reason)
        self.code = code
        self.reason = reason

    def __repr__(self) -> str:
        return f"WebSocketDisconnect(code={self.code!r}, reason={self.reason!r})"


class ClientDisconnected(OSError):
    """Raised by a mounted ASGI application's `send()` once the client has left (the ASGI spec asks for an OSError
    subclass): the application stops producing an answer no one will read."""


__all__ = [
    "ClientDisconnected",
    "ClientError",
    "HTTPException",
    "JSONBodyError",
    "RequestValidationError",
    "TiercelError",
    "WebSocketDisconnect",
]
