"""The app's OpenAPI 3.1 document, made once at start-up from its compiled routes (never per request).

Each HTTP route (but `include_in_schema=False` ones, and CONNECT, which OpenAPI cannot describe) is an operation:

* its path in OpenAPI's spelling (`/users/:id` -> `/users/{id}`);
* its parameters from tiercel.params (path, query, header, cookie; types and rules as JSON Schema), and the
  query parameters of a Robyn `QueryParams` subclass;
* its request body: JSON (a model, or several members), or a form (urlencoded, or multipart with files);
* its responses: the success status (`status_code`, 200) with the response model (`response_model=`, or the
  return annotation), the `responses=` entries, and FastAPI's 422 whenever a value of the request is validated;
* summary and description from the docstring (first line, the rest; `summary=` / `openapi_name=` win), tags
  (the route's, after its SubRouters'), `deprecated`, an operationId unique in the document, and the security
  scheme of the route's authentication handler when it has `auth_required=True`.

>>> openapi_path("/files/:user/*rest")
'/files/{user}/{rest}'
"""

from __future__ import annotations

import copy
import http
import inspect
import re
import typing
from typing import Any

from tiercel import _core, fields
from tiercel import types as types_
from tiercel.json_schemas import REF, SchemaBook, jsonable, title, with_rules
from tiercel.models import annotated_with_rules, kind_of, library_for
from tiercel.openapi import OpenAPI
from tiercel.params import ParamInfo, describe_parameters, path_param_names
from tiercel.routers import CompiledRoute
from tiercel.routing import UNSET, declared_at, handler_name

METHODS = ("GET", "PUT", "POST", "DELETE", "OPTIONS", "HEAD", "PATCH", "TRACE")  # a path item's operations
VALIDATION_SCHEMAS: dict[str, dict[str, Any]] = {  # FastAPI's, for the 422 it answers
    "HTTPValidationError": {
        "properties": {"detail": {"items": {"$ref": REF + "ValidationError"}, "type": "array", "title": "Detail"}},
        "type": "object",
        "title": "HTTPValidationError",
    },
    "ValidationError": {
        "properties": {
            "loc": {
                "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
                "type": "array",
                "title": "Location",
            },
            "msg": {"type": "string", "title": "Message"},
            "type": {"type": "string", "title": "Error Type"},
            "input": {"title": "Input"},
            "ctx": {"type": "object", "title": "Context"},
        },
        "type": "object",
        "required": ["loc", "msg", "type"],
        "title": "ValidationError",
    },
}
VALIDATION_RESPONSE = {
    "description": "Validation Error",
    "content": {"application/json": {"schema": {"$ref": REF + "HTTPValidationError"}}},
}
BEARER = ("BearerAuth", {"type": "http", "scheme": "bearer"})
API_KEY = ("ApiKeyAuth", {"type": "apiKey", "in": "header", "name": "Authorization"})
ANSWERS = (_core.Response, _core.StreamingResponse)  # annotations that say nothing of the body


def openapi_path(path: str) -> str:
    """A route pattern in OpenAPI's spelling: `:name` and `*name` segments as `{name}`."""
    return "/".join("{" + s[1:] + "}" if s[:1] in (":", "*") and len(s) > 1 else s for s in path.split("/"))


def _hints(fn: Any) -> dict[str, Any]:
    target = fn if inspect.isroutine(fn) else type(fn).__call__
    try:
        return typing.get_type_hints(target, include_extras=True)
    except Exception:  # unresolvable annotations: route_plan already reported them if they matter
        return {}


def _texts(fn: Any, summary: str | None, description: str | None) -> tuple[str, str | None]:
    """(summary, description): `summary` or the docstring's first line (or the handler's name as a title);
    `description` or the rest of the docstring (all of it when `summary` was given)."""
    doc = inspect.getdoc(fn) if inspect.isroutine(fn) else None
    first, _, rest = (doc or "").partition("\n")
    if summary:
        return summary, description or doc or None
    name = getattr(fn, "__name__", type(fn).__name__)
    return first.strip() or title(name), description or rest.strip() or None


def _merged(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """`base` with `extra` merged in, member by member for the dicts both have (FastAPI's openapi_extra)."""
    out = dict(base)
    for key, value in extra.items():
        out[key] = _merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


class DocumentBuilder:
    """Makes the operations of one document; model schemas are asked for as the operations are made and filled
    in at the end, all of a library at once (see SchemaBook.models)."""

    def __init__(self, openapi: OpenAPI) -> None:
        self.openapi = openapi
        self.book = SchemaBook()
        self.pending: list[tuple[str, Any, dict[str, Any]]] = []
        self.operation_ids: dict[str, str] = {}  # operationId -> the route that has it
        self.security: dict[str, dict[str, Any]] = {}
        self.validation = False

    # ---- schemas ------------------------------------------------------------------------------
    def model(self, library: str, tp: Any) -> dict[str, Any]:
        """A schema made by `library`: a dict filled in by resolve()."""
        placeholder: dict[str, Any] = {}
        self.pending.append((library, tp, placeholder))
        return placeholder

    def schema(self, tp: Any, where: str) -> dict[str, Any]:
        """The schema of any type: by its library for a model (or a list, dict, Optional of one), else plain."""
        if kind_of(tp) is None:
            return self.book.plain(tp)
        return self.model(library_for([tp], where), tp)

    def resolve(self) -> None:
        schemas = self.book.models([(library, tp) for library, tp, _ in self.pending])
        for (_, _, placeholder), schema in zip(self.pending, schemas, strict=True):
            placeholder.update(schema)

    def component(self, name: str, schema: dict[str, Any]) -> dict[str, Any]:
        """`schema` (which may hold placeholders) under `name`, kept as it is; a reference to it."""
        self.book.schemas[name] = schema
        return {"$ref": REF + name}

    # ---- operations ---------------------------------------------------------------------------
    def operation(self, compiled: CompiledRoute) -> dict[str, Any] | None:
        """The operation of a route, or None when it is not in the document."""
        route, docs = compiled.route, compiled.route.docs
        if not docs.include_in_schema or route.method not in METHODS:
            return None
        where = f"{route.method} {compiled.path} ({handler_name(route.handler)} at {declared_at(route.handler)})"
        op: dict[str, Any] = {}
        tags = list(compiled.tags) + [t for t in docs.tags or [] if t not in compiled.tags]
        if tags:
            op["tags"] = tags
        op["summary"], description = _texts(route.handler, docs.summary, docs.description)
        if description:
            op["description"] = description
        op["operationId"] = self.operation_id(compiled, where)
        try:
            infos = describe_parameters(
                route.handler, path_param_names(compiled.path), compiled.router_dependencies,
                compiled.global_dependencies,
            )  # fmt: skip
        except TypeError as e:
            raise TypeError(f"{where}: {e}") from None
        hints = _hints(route.handler)
        parameters = self.parameters(infos, compiled.path, hints)
        if parameters:
            op["parameters"] = parameters
        body = self.request_body(infos, op["operationId"], where) or self.robyn_body(hints)
        if body:
            op["requestBody"] = body
        validated = any(i.location is not None for i in infos)
        op["responses"] = self.responses(compiled, hints.get("return", inspect.Parameter.empty), validated, where)
        if docs.deprecated:
            op["deprecated"] = True
        if route.auth_required:
            op["security"] = self.security_of(compiled)
        return _merged(op, docs.openapi_extra or {})

    def operation_id(self, compiled: CompiledRoute, where: str) -> str:
        """The route's operation_id, or FastAPI's (handler name, path, method): unique in the document."""
        route = compiled.route
        given = route.docs.operation_id
        if given:
            if given in self.operation_ids:
                raise ValueError(f"{where}: operation_id {given!r} is already the one of {self.operation_ids[given]}")
            self.operation_ids[given] = where
            return given
        name = getattr(route.handler, "__name__", type(route.handler).__name__)
        base = re.sub(r"\W", "_", f"{name}{openapi_path(compiled.path)}") + "_" + route.method.lower()
        found, n = base, 2
        while found in self.operation_ids:
            found, n = f"{base}_{n}", n + 1
        self.operation_ids[found] = where
        return found

    def parameters(self, infos: list[ParamInfo], path: str, hints: dict[str, Any]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        seen: set[tuple[str, str]] = set()
        for info in infos:
            if info.location not in ("path", "query", "header", "cookie") or (info.key, info.location) in seen:
                continue
            marker = info.marker
            if info.location != "path" and marker is not None and not marker.include_in_schema:
                continue
            seen.add((info.key, info.location))
            out.append(self.parameter(info))
        for name in sorted(path_param_names(path) - {key for key, where in seen if where == "path"}):
            schema = {"type": "string", "title": title(name)}
            out.append({"name": name, "in": "path", "required": True, "schema": schema})
        for ann in hints.values():  # Robyn: `query_params: MyParams`, a QueryParams subclass with annotations
            if isinstance(ann, type) and issubclass(ann, _core.QueryParams) and ann is not _core.QueryParams:
                for name, tp in typing.get_type_hints(ann).items():
                    if (name, "query") not in seen:
                        seen.add((name, "query"))
                        schema = {**self.book.plain(tp), "title": title(name)}
                        out.append({"name": name, "in": "query", "required": False, "schema": schema})
        order = ("path", "query", "header", "cookie")  # FastAPI's order, the one Swagger UI shows
        return sorted(out, key=lambda p: order.index(p["in"]))

    def parameter(self, info: ParamInfo) -> dict[str, Any]:
        marker = info.marker
        schema = self.book.plain(info.annotation)
        rules = marker.rules() if marker is not None else {}
        if info.is_list and schema.get("type") == "array":
            schema["items"] = with_rules(schema["items"], rules)
        else:
            schema = with_rules(schema, rules)
        default = jsonable(info.default) if not info.required else None
        if default is not None:
            schema["default"] = default
        schema["title"] = (marker.title if marker is not None else None) or title(info.name)
        param: dict[str, Any] = {"name": info.key, "in": info.location}
        param["required"] = info.required or info.location == "path"
        if marker is not None:
            if marker.examples:
                schema["examples"] = marker.examples
            schema.update(marker.json_schema_extra or {})
            if marker.description:
                param["description"] = marker.description
            if marker.deprecated:
                param["deprecated"] = True
        param["schema"] = schema
        return param

    def request_body(self, infos: list[ParamInfo], operation_id: str, where: str) -> dict[str, Any] | None:
        """JSON (one body parameter: its type; several, or embed=True: an object with a member each) or a form."""
        body = [i for i in infos if i.location in ("body", "form", "file")]
        if not body:
            return None
        json_ = [i for i in body if i.location == "body"]
        required = any(i.required for i in body)
        name = "Body_" + re.sub(r"[^A-Za-z0-9._-]", "_", operation_id)  # a component name's characters
        if json_:
            library = library_for([i.annotation for i in json_], where)
            media = getattr(json_[0].marker, "media_type", None) or "application/json"
            if len(json_) == 1 and not getattr(json_[0].marker, "embed", False):
                info = json_[0]
                schema = self.model(library, annotated_with_rules(library, info.annotation, self._rules(info)))
            else:
                members = {i.key: self.model(library, annotated_with_rules(library, i.annotation, self._rules(i)))
                           for i in json_}  # fmt: skip
                schema = self.component(name, self._object(name, members, json_))
            return {"content": {media: {"schema": schema}}, "required": required}
        files = any(i.location == "file" for i in body)
        media = "multipart/form-data" if files else "application/x-www-form-urlencoded"
        media = next((m for i in body if (m := getattr(i.marker, "media_type", None)) == "multipart/form-data"), media)
        if len(body) == 1 and body[0].location == "form" and kind_of(body[0].annotation) is not None:
            schema = self.schema(body[0].annotation, where)  # Annotated[Model, Form()]: the whole form
        else:
            members = {}
            for i in body:
                if i.location == "file":
                    binary = {"type": "string", "format": "binary", "contentMediaType": "application/octet-stream"}
                    many = typing.get_origin(i.annotation) is list
                    members[i.key] = {"type": "array", "items": binary} if many else binary
                else:
                    members[i.key] = with_rules(self.book.plain(i.annotation), self._rules(i))
                members[i.key]["title"] = title(i.name)
            schema = self.component(name, self._object(name, members, body))
        return {"content": {media: {"schema": schema}}, "required": required}

    @staticmethod
    def _rules(info: ParamInfo) -> dict[str, Any]:
        return info.marker.rules() if info.marker is not None else {}

    @staticmethod
    def _object(name: str, members: dict[str, Any], infos: list[ParamInfo]) -> dict[str, Any]:
        required = [i.key for i in infos if i.required]
        return {"properties": members, "type": "object", **({"required": required} if required else {}),
                "title": name}  # fmt: skip

    def robyn_body(self, hints: dict[str, Any]) -> dict[str, Any] | None:
        """Robyn's documented bodies: a parameter annotated with a `Body` or `JsonBody` subclass, or a TypedDict,
        that has annotations (its members)."""
        for name, ann in hints.items():
            if name == "return" or not isinstance(ann, type):
                continue
            if typing.is_typeddict(ann):
                return {"content": {"application/json": {"schema": self.book.plain(ann)}}, "required": True}
            if (issubclass(ann, (fields.Body, types_.JsonBody))) and ann not in (fields.Body, types_.JsonBody):
                schema = self.book.ref(ann.__name__, self.book.object_of(ann))
                return {"content": {"application/json": {"schema": schema}}}
        return None

    def responses(self, compiled: CompiledRoute, returned: Any, validated: bool, where: str) -> dict[str, Any]:
        docs = compiled.route.docs
        status = docs.status_code or 200
        success: dict[str, Any] = {"description": docs.response_description}
        if status >= 200 and status not in (204, 205, 304):
            explicit = docs.response_model is not UNSET
            content = self.content(docs.response_model if explicit else returned, explicit, where)
            if content:
                success["content"] = content
        out: dict[str, Any] = {str(status): success}
        for code, value in (docs.responses or {}).items():
            key = str(code)
            out[key] = {**out.get(key, {}), **self.extra_response(code, value, where)}
        if validated and "422" not in out:
            out["422"] = copy.deepcopy(VALIDATION_RESPONSE)  # the document is the app's to change; these stay
            self.validation = True
        return out

    def content(self, model: Any, explicit: bool, where: str) -> dict[str, Any] | None:
        """The success response's content for a response model (or, not `explicit`, a return annotation)."""
        if model in (None, type(None), inspect.Parameter.empty) or (isinstance(model, type) and issubclass(
                model, ANSWERS)):  # fmt: skip
            return None
        if kind_of(model) is not None:
            return {"application/json": {"schema": self.schema(model, where)}}
        if not explicit and model is str:
            return {"text/plain": {"schema": {"type": "string"}}}
        if not explicit and model is bytes:
            return {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}
        schema = self.book.plain(model)
        return {"application/json": {"schema": schema}} if schema or explicit else None

    def extra_response(self, code: int | str, value: Any, where: str) -> dict[str, Any]:
        """A `responses=` entry: a dict (FastAPI's: `model`, `description`, `content`...), a model, or a text."""
        try:
            phrase = http.HTTPStatus(int(code)).phrase
        except ValueError:
            phrase = "Additional Response"
        if isinstance(value, str):
            return {"description": value}
        entry = dict(value) if isinstance(value, dict) else {"model": value}
        model = entry.pop("model", None)
        entry.setdefault("description", phrase)
        if model is not None:
            content = dict(entry.get("content") or {})
            content.setdefault("application/json", {})["schema"] = self.schema(model, where)
            entry["content"] = content
        return entry

    def security_of(self, compiled: CompiledRoute) -> list[dict[str, list[str]]]:
        """The security requirement of an auth_required route: BearerAuth when its handler reads a Bearer token;
        else the schemes declared with add_security_scheme, or an Authorization header (ApiKeyAuth)."""
        declared = self.openapi.info.components.securitySchemes
        getter = getattr(compiled.authentication_handler, "token_getter", None)
        scheme = (getattr(getter, "scheme", "") or "").lower()
        if scheme.startswith("bearer"):
            for name, s in declared.items():
                if s.get("type") == "http" and str(s.get("scheme", "")).lower() == "bearer":
                    return [{name: []}]
            self.security[BEARER[0]] = BEARER[1]
            return [{BEARER[0]: []}]
        if declared:
            return [{name: []} for name in declared]
        self.security[API_KEY[0]] = API_KEY[1]
        return [{API_KEY[0]: []}]


def build_document(openapi: OpenAPI, compiled_routes: list[CompiledRoute]) -> dict[str, Any]:
    """The document of these routes (or the override file's, as it is); also kept as `openapi.openapi_spec`."""
    if openapi.openapi_file_override:
        return openapi.openapi_spec
    builder = DocumentBuilder(openapi)
    paths: dict[str, dict[str, Any]] = {}
    for compiled in compiled_routes:
        op = builder.operation(compiled)
        if op is not None:
            paths.setdefault(openapi_path(compiled.path), {})[compiled.route.method.lower()] = op
    builder.resolve()
    doc = openapi.base_document()
    doc["paths"] = paths
    components = doc["components"]
    made = dict(builder.book.schemas)
    if builder.validation:
        for name, schema in VALIDATION_SCHEMAS.items():
            made.setdefault(name, copy.deepcopy(schema))
    components["schemas"] = dict(sorted({**components["schemas"], **made}.items()))
    components["securitySchemes"] = {**components["securitySchemes"], **builder.security}
    openapi.openapi_spec = doc
    openapi.prune_empty_components()
    return doc


__all__ = ["build_document", "openapi_path"]
