"""Authentication: an `AuthenticationHandler` decides who sent a request; routes declared with
`auth_required=True` answer 401 (with `WWW-Authenticate`) when it returns None. Same names as Robyn's.

>>> class TokenAuth(AuthenticationHandler):
...     def authenticate(self, request):
...         token = self.token_getter.get_token(request)
...         return Identity(claims={"user": "ada"}) if token == "s3cret" else None
>>> # app.configure_authentication(TokenAuth(token_getter=BearerGetter()))
>>> # @app.get("/me", auth_required=True) def me(request): return request.identity.claims

The engine calls `authenticate` itself (sync or async) before the route's middleware, sets `request.identity`
from its result, and sends `unauthorized_response` (computed once, at start-up) when it is None.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable

from tiercel import _core
from tiercel._core import Identity  # native: an authenticate() that makes one runs no framework Python


class TokenGetter(ABC):
    """Reads the credentials of a request; `scheme` names them in `WWW-Authenticate`."""

    scheme: str = ""

    @classmethod
    @abstractmethod
    def get_token(cls, request: _core.Request) -> str | None:
        """The request's credentials, or None when it carries none."""

    @classmethod
    def set_token(cls, request: _core.Request, token: str) -> None:
        """Puts `token` in the request's `Authorization` header, with the getter's scheme."""
        request.headers.set("Authorization", f"{cls.scheme} {token}".strip())


class BearerGetter(TokenGetter):
    """`Authorization: Bearer <token>` (RFC 6750). The header is read in C++."""

    scheme = "Bearer"
    get_token = staticmethod(_core.bearer_token)


class AuthenticationHandler(ABC):
    """Subclass it and implement `authenticate(request)` (sync or async): an Identity, or None to refuse."""

    def __init__(self, token_getter: TokenGetter) -> None:
        self.token_getter = token_getter

    @abstractmethod
    def authenticate(self, request: _core.Request) -> Identity | None | Awaitable[Identity | None]:
        """Who sent `request`: an `Identity` (the handler then reads it as `request.identity`), or None to answer
        `unauthorized_response`. May be a coroutine function."""

    @property
    def unauthorized_response(self) -> _core.Response:
        """What a refused request gets: 401 with a `WWW-Authenticate` challenge for the getter's scheme."""
        scheme = self.token_getter.scheme or "Bearer"
        return _core.Response(401, {"WWW-Authenticate": scheme}, "Unauthorized")


__all__ = ["AuthenticationHandler", "BearerGetter", "Identity", "TokenGetter"]
