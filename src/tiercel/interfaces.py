"""What kind of application a callable is: a Tiercel app's factory, an ASGI 3 application (`async app(scope,
receive, send)`: FastAPI, Starlette, Litestar, Django's ASGI handler), or a WSGI one (`app(environ,
start_response)`: Flask, Django's WSGI handler), by its signature.

>>> async def asgi(scope, receive, send): ...
>>> interface_of(asgi)
'asgi'
"""

from __future__ import annotations

import inspect
from typing import Any

ASGI, WSGI, FACTORY = "asgi", "wsgi", "factory"


def required_positional(obj: Any) -> int | None:
    """How many positional arguments calling `obj` needs; None when its signature cannot be read."""
    try:
        params = inspect.signature(obj).parameters.values()
    except (TypeError, ValueError):
        return None
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return sum(1 for p in params if p.kind in kinds and p.default is inspect.Parameter.empty)


def interface_of(obj: Any) -> str | None:
    """ "asgi", "wsgi", "factory" (a callable taking no argument), or None (another callable, or not one)."""
    if not callable(obj):
        return None
    required = required_positional(obj)
    if required is None or required == 0:
        return FACTORY
    call = obj if inspect.isfunction(obj) or inspect.ismethod(obj) else type(obj).__call__
    if required == 3 and inspect.iscoroutinefunction(call):
        return ASGI
    if required == 2:
        return WSGI
    return None


def describe(obj: Any) -> str:
    """What a callable that is no app factory is, for an error message."""
    kind = interface_of(obj)
    if kind == ASGI:
        return f"an ASGI application ({type(obj).__name__})"
    if kind == WSGI:
        return f"a WSGI application ({type(obj).__name__})"
    count = required_positional(obj) or 0
    return f"a callable taking {count} argument{'s' if count > 1 else ''}, not an app or an app factory"


__all__ = ["ASGI", "FACTORY", "WSGI", "describe", "interface_of"]
