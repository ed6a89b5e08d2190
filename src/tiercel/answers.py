"""A route's response model and success status (FastAPI's `response_model=` / return annotation, `status_code=`),
made into what the engine calls per request: the model's native validate and encode callables.

>>> import dataclasses
>>> from tiercel.routing import Route
>>> @dataclasses.dataclass
... class Out:
...     id: int
>>> def h() -> Out: ...
>>> validate, encode, status, exact = model_of_route(Route("GET", "/", h))
>>> encode(validate({"id": 1, "extra": 2}))
b'{"id":1}'
"""

from __future__ import annotations

import typing
from typing import Any

from tiercel.models import codec, kind_of, library_for
from tiercel.routing import UNSET, Route, declared_at, handler_name

# (validate or None, encode or None, status or 0, the model's class when it is one: its instances skip validate)
Answer = tuple[Any, Any, int, Any]


def response_model(route: Route) -> Any:
    """The route's response model: `response_model=` when given (None: none), else the handler's return
    annotation when it is a model (pydantic, msgspec, dataclass, or a list/dict of them)."""
    if route.docs.response_model is not UNSET:
        return route.docs.response_model
    target = route.handler if callable(route.handler) and hasattr(route.handler, "__code__") else None
    if target is None:
        return None
    try:
        ann = typing.get_type_hints(target).get("return")
    except Exception:  # an annotation that does not resolve at run time is not a model
        return None
    return ann if ann is not None and kind_of(ann) is not None else None


def model_of_route(route: Route) -> Answer | None:
    """(validate, encode, status, exact class) for the engine's set_answer, or None when the route declares neither."""
    model = response_model(route)
    status = route.docs.status_code or 0
    if model is None:
        return (None, None, status, None) if status else None
    where = f"{route.method} {route.path} ({handler_name(route.handler)} at {declared_at(route.handler)})"
    c = codec(library_for([model], where), model)
    return c.validate, c.encode, status, model if isinstance(model, type) else None


__all__ = ["model_of_route", "response_model"]
