"""The body's part of a handler's plan: validated JSON bodies, form fields and uploaded files, as FastAPI takes them.

* one body parameter (a model, or any type under `Body()`): the whole JSON body validated into its type;
* several, or one with `Body(embed=True)`: a JSON object whose members, named after the parameters (or their
  aliases), are validated into each;
* `Form()` fields one by one (converted as query values are), or `Annotated[Model, Form()]`: the whole form;
* `UploadFile` / `list[UploadFile]` (or `File()`): the uploaded files of that field.

Each gets, in the plan, the native callables of its library's codec (tiercel.models); per request C++ calls them
and, on a refusal, the codec's `errors` (the only Python of the path, and only when the request is refused).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

from tiercel import params
from tiercel.models import PYDANTIC, Codec, annotated_with_rules, codec, kind_of, library_for
from tiercel.optional import require


def _rules(info: params.ParamInfo) -> dict[str, Any]:
    return info.marker.rules() if info.marker is not None else {}


def _container(library: str, infos: list[params.ParamInfo], handler: str) -> Codec:
    """A codec for a JSON object with one member per body parameter (named by its key)."""
    type_name = "Body_" + "".join(c if c.isalnum() else "_" for c in handler)
    if library == PYDANTIC:
        pydantic = require("pydantic", "pydantic", "a validated body")
        members: dict[str, Any] = {}
        for info in infos:
            default = ... if info.required else info.default
            alias = info.key if info.key != info.name else None
            members[info.name] = (info.annotation, pydantic.Field(default, alias=alias, **_rules(info)))
        return dataclasses.replace(codec(library, pydantic.create_model(type_name, **members)), members=True)
    msgspec = require("msgspec", "msgspec", "a validated body")
    struct_fields: list[tuple[Any, ...]] = []
    for info in infos:
        tp = annotated_with_rules(library, info.annotation, _rules(info))
        struct_fields.append((info.name, tp) if info.required else (info.name, tp, info.default))
    renames = {i.name: i.key for i in infos if i.key != i.name}
    struct = msgspec.defstruct(type_name, struct_fields, rename=renames or None)
    return dataclasses.replace(codec(library, struct), members=True)


def _failure(c: Codec) -> Any:
    """What C++ calls when the codec refuses the body: (exception, the data) -> FastAPI's error list, or None. For
    pydantic, (that, its ValidationError, members): C++ then words the common refusals itself."""
    described = functools.partial(c.errors, prefix=("body",))
    if c.library != PYDANTIC:
        return described
    return described, require("pydantic", "pydantic", "a validated body").ValidationError, c.members


def fill_body_arguments(plan: list[params.Arg], bodies: list[tuple[int, params.ParamInfo]], handler: str) -> None:
    """Replaces the placeholders of `plan` at the places `bodies` name with the body, form and file arguments."""
    where = f"handler {handler}"
    locations = {info.location for _, info in bodies}
    json_bodies = [(i, info) for i, info in bodies if info.location == "body"]
    if json_bodies and locations - {"body"}:
        raise TypeError(f"{where}: a request has one body: take JSON (Body, models) or a form (Form, File), not both")
    for i, info in bodies:
        if info.location == "form" and kind_of(info.annotation) is None:
            plan[i] = _form_field(plan[i], info, where)
        elif info.location == "form":
            c = codec(library_for([info.annotation], where), info.annotation)
            plan[i] = (params.FORM_MODEL, *plan[i][1:3], (c.decode, c.validate, _failure(c)), *plan[i][4:7], None)
        elif info.location == "file":
            is_upload, is_list = params.upload_kind(info.annotation)
            if not is_upload and info.annotation not in (bytes, list[bytes]):
                raise TypeError(f"{where}: a File() parameter is an UploadFile, list[UploadFile] or bytes")
            many = is_list or info.annotation == list[bytes]
            raw = info.annotation in (bytes, list[bytes])
            check = {"loc": "body", "key": info.key, "bytes": raw}
            plan[i] = (params.FILE_LIST if many else params.FILE, *plan[i][1:3], None, *plan[i][4:7], check)
    if not json_bodies:
        return
    library = library_for([info.annotation for _, info in json_bodies], where)
    embed = len(json_bodies) > 1 or any(getattr(info.marker, "embed", False) for _, info in json_bodies)
    if not embed:
        i, info = json_bodies[0]
        c = codec(library, annotated_with_rules(library, info.annotation, _rules(info)))
        plan[i] = (params.MODEL, *plan[i][1:3], (c.decode, c.validate, _failure(c)), *plan[i][4:7], None)
        return
    c = _container(library, [info for _, info in json_bodies], handler)
    for i, info in json_bodies:
        extra = (c.decode, c.validate, _failure(c), info.name, info.key)
        plan[i] = (params.BODY_FIELD, *plan[i][1:3], extra, *plan[i][4:7], None)


def _form_field(arg: params.Arg, info: params.ParamInfo, where: str) -> params.Arg:
    """A Form() field of a simple type: converted and checked as a query value is, refused at ("body", key)."""
    conv, extra, is_list, refusal = params.conversion(info.annotation, f"{where}, parameter {info.name!r}")
    if is_list:
        raise TypeError(f"{where}: Form() parameter {info.name!r} takes one value, not a list")
    check = params.value_check("body", info.key, info.marker, refusal)
    return (params.FORM_FIELD, arg[1], conv, extra, *arg[4:7], check)


__all__ = ["fill_body_arguments"]
