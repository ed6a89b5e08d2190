"""FastAPI's parameter markers: where a handler parameter comes from, and the rules its value must follow.

Use one inside `Annotated` (or as the parameter's default, FastAPI's older spelling):

>>> from typing import Annotated
>>> def items(size: Annotated[int, Query(ge=1, le=100, alias="page-size")] = 10,
...           agent: Annotated[str | None, Header()] = None): ...

* `Query`, `Path`, `Header` (`user_agent` reads `User-Agent`: `_` becomes `-` unless `convert_underscores=False`),
  `Cookie`: one value of that part of the request, converted to the annotation and checked against the rules;
* `Body`: the request body (JSON) validated into the annotation; with `embed=True`, or when a handler has several
  body parameters, each is the member of the JSON object named after it. A bare `Body` annotation (no call) is
  Robyn's: the raw body, as `request.body`;
* `Form`: a form field (urlencoded or multipart), or with a model annotation the whole form validated into it;
  `File`: an uploaded file of that field (annotate with `UploadFile`, `list[UploadFile]` or `bytes`).

Rules: `gt`, `ge`, `lt`, `le` for numbers; `min_length`, `max_length`, `pattern` (searched, as pydantic does) for
text. The checks are compiled into the handler's plan at registration and run in C++ per request; a value that
breaks one is a 422 in FastAPI's shape, naming the parameter and the rule.
"""

from __future__ import annotations

import re
from typing import Any

REQUIRED: Any = ...  # FastAPI's spelling of "no default": Query(...) or Query()


class Param:
    """A parameter marker; `location` says which part of the request it reads."""

    location = ""

    def __init__(
        self,
        default: Any = REQUIRED,
        *,
        alias: str | None = None,
        title: str | None = None,
        description: str | None = None,
        gt: float | None = None,
        ge: float | None = None,
        lt: float | None = None,
        le: float | None = None,
        min_length: int | None = None,
        max_length: int | None = None,
        pattern: str | None = None,
        regex: str | None = None,
        examples: list[Any] | None = None,
        deprecated: bool | None = None,
        include_in_schema: bool = True,
        json_schema_extra: dict[str, Any] | None = None,
    ) -> None:
        self.default = default
        self.alias = alias
        self.title = title
        self.description = description
        self.gt, self.ge, self.lt, self.le = gt, ge, lt, le
        for name in ("gt", "ge", "lt", "le"):
            bound = getattr(self, name)
            if bound is not None and (isinstance(bound, bool) or not isinstance(bound, (int, float))):
                raise TypeError(f"{type(self).__name__}({name}=...) is a number, got {bound!r}")
        for name in ("min_length", "max_length"):
            length = locals()[name]
            if length is not None and (isinstance(length, bool) or not isinstance(length, int) or length < 0):
                raise TypeError(f"{type(self).__name__}({name}=...) is a non-negative int, got {length!r}")
        self.min_length, self.max_length = min_length, max_length
        self.pattern = pattern if pattern is not None else regex
        if self.pattern is not None:
            try:
                re.compile(self.pattern)
            except re.error as e:
                name = type(self).__name__
                raise ValueError(f"{name}(pattern={self.pattern!r}) is not a valid pattern: {e}") from None
        self.examples = examples
        self.deprecated = deprecated
        self.include_in_schema = include_in_schema
        self.json_schema_extra = json_schema_extra

    @property
    def required(self) -> bool:
        """True when the parameter has no default: a request without it is refused with 422."""
        return self.default is REQUIRED

    def rules(self) -> dict[str, Any]:
        """The rules given, by name (gt, ge, lt, le, min_length, max_length, pattern)."""
        names = ("gt", "ge", "lt", "le", "min_length", "max_length", "pattern")
        return {n: getattr(self, n) for n in names if getattr(self, n) is not None}

    def __repr__(self) -> str:
        given = {"default": self.default} if not self.required else {}
        given.update(self.rules())
        if self.alias:
            given["alias"] = self.alias
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in given.items())})"


class Query(Param):
    """A query-string parameter (`?name=value`; a `list[T]` annotation takes every repetition)."""

    location = "query"


class Path(Param):
    """A path parameter of the route (`/items/{item_id}`): always required."""

    location = "path"


class Header(Param):
    """A request header; the parameter `user_agent` reads `User-Agent` unless `convert_underscores=False`."""

    location = "header"

    def __init__(self, default: Any = REQUIRED, *, convert_underscores: bool = True, **rules: Any) -> None:
        super().__init__(default, **rules)
        self.convert_underscores = convert_underscores


class Cookie(Param):
    """A cookie of the request, by name."""

    location = "cookie"


class Body(Param):
    """`Annotated[Model, Body()]`: the JSON body validated into Model (`embed=True`: the member named after the
    parameter). Bare, as an annotation (`def h(raw: Body)`), it is Robyn's marker: the body as `request.body`."""

    location = "body"

    def __init__(
        self, default: Any = REQUIRED, *, embed: bool = False, media_type: str = "application/json", **rules: Any
    ) -> None:
        super().__init__(default, **rules)
        self.embed = embed
        self.media_type = media_type


class Form(Param):
    """A field of a urlencoded or multipart form; with a model annotation, the whole form validated into it."""

    location = "form"

    def __init__(self, default: Any = REQUIRED, *, media_type: str = "application/x-www-form-urlencoded", **rules: Any):
        super().__init__(default, **rules)
        self.media_type = media_type


class File(Form):
    """An uploaded file of a multipart form, by field name (annotate with `UploadFile`, `list[UploadFile]`,
    `bytes` or `list[bytes]`)."""

    location = "file"

    def __init__(self, default: Any = REQUIRED, *, media_type: str = "multipart/form-data", **rules: Any):
        super().__init__(default, media_type=media_type, **rules)


__all__ = ["REQUIRED", "Body", "Cookie", "File", "Form", "Header", "Param", "Path", "Query"]
