"""Robyn's parameter marker types: annotate a handler parameter with one to receive that part of the request,
whatever the parameter's name. The plan is made at registration; per request C++ fills the argument.

>>> from tiercel.types import Body, JsonBody, PathParams
>>> def create(payload: JsonBody, params: PathParams, raw: Body): ...

* `Body` (or a subclass): `request.body`; `JsonBody` (or a subclass, with annotations for the docs) and any
  `TypedDict` subclass: `request.json()`, a 400 naming the problem when the body is not JSON;
* `PathParams`, `Method`, `FormData`, `Files`, `IPAddress`: the path parameters, the method, the form fields,
  the uploaded files, the client's address; `QueryParams` (or a subclass), `Headers`, `Url`, `Request`,
  `Identity`: the request's own objects.
"""

from __future__ import annotations

from typing import Literal, NewType, TypedDict

from tiercel._core import Headers, Identity, QueryParams, Request, Url
from tiercel.fields import Body

PathParams = NewType("PathParams", dict[str, str])
Method = NewType("Method", str)
FormData = NewType("FormData", dict[str, str])
Files = NewType("Files", dict[str, bytes])
IPAddress = NewType("IPAddress", str)

# What request.method, request.body and request.url hold, for type checkers.
RequestMethod = Literal["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "CONNECT", "TRACE"]
RequestBody = str | bytes
RequestURL = Url


class JSONResponse(TypedDict):
    """Subclass it to describe a JSON response body (for the docs)."""


class JsonBody:
    """Annotate a parameter with it (or a subclass with annotations) to receive the body parsed as JSON; a body
    that is not JSON answers 400 `{"error": "invalid JSON body: ..."}` before the handler runs."""


__all__ = [
    "Body",
    "Files",
    "FormData",
    "Headers",
    "IPAddress",
    "Identity",
    "JSONResponse",
    "JsonBody",
    "Method",
    "PathParams",
    "QueryParams",
    "Request",
    "RequestBody",
    "RequestMethod",
    "RequestURL",
    "Url",
]
