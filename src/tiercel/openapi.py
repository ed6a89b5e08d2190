"""The OpenAPI document's settings, with Robyn's names: `Tiercel(__file__, openapi=OpenAPI(info=OpenAPIInfo(...)))`.

>>> openapi = OpenAPI(info=OpenAPIInfo(title="Shop", version="2.1.0", contact=Contact(email="ops@shop.example")))
>>> openapi.add_security_scheme("ApiKey", {"type": "apiKey", "in": "header", "name": "X-Key"})
>>> sorted(openapi.openapi_spec["components"]["securitySchemes"])
['ApiKey']

At start-up the document is made from the routes (tiercel.openapi_document) and served, as are the Swagger UI
page, by const routes: `/openapi.json` and `/docs`. An `openapi.json` beside the app file, or the file
`Tiercel(__file__, openapi_file_path=...)` names, is served instead of the generated document. `--disable-openapi`
(TIERCEL_DISABLE_OPENAPI=1, `app.start(disable_openapi=True)`) serves neither.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from typing import Any

from tiercel import _core


@dataclass
class Contact:
    """Who to ask about the API (the Info object's `contact`)."""

    name: str | None = None
    url: str | None = None
    email: str | None = None


@dataclass
class License:
    """The API's license (`name` is required by OpenAPI when a license is given)."""

    name: str | None = None
    url: str | None = None


@dataclass
class Server:
    """A base URL the API is served at (`servers`); without any, clients use the one the document came from."""

    url: str
    description: str | None = None


@dataclass
class ExternalDocumentation:
    """A link to more documentation (`externalDocs`)."""

    description: str | None = None
    url: str | None = None


@dataclass
class Components:
    """Reusable parts given by hand; merged into the generated `components` (what the routes make wins for
    `schemas` of the same name)."""

    schemas: dict[str, dict[str, Any]] = field(default_factory=dict)
    responses: dict[str, dict[str, Any]] = field(default_factory=dict)
    parameters: dict[str, dict[str, Any]] = field(default_factory=dict)
    examples: dict[str, dict[str, Any]] = field(default_factory=dict)
    requestBodies: dict[str, dict[str, Any]] = field(default_factory=dict)
    securitySchemes: dict[str, dict[str, Any]] = field(default_factory=dict)
    links: dict[str, dict[str, Any]] = field(default_factory=dict)
    callbacks: dict[str, dict[str, Any]] = field(default_factory=dict)
    pathItems: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass
class OpenAPIInfo:
    """The document's `info` (title, version, description, terms, contact, license), and its `servers`,
    `externalDocs` and hand-written `components`."""

    title: str = "Tiercel API"
    version: str = "1.0.0"
    description: str | None = None
    termsOfService: str | None = None
    contact: Contact = field(default_factory=Contact)
    license: License = field(default_factory=License)
    servers: list[Server] = field(default_factory=list)
    externalDocs: ExternalDocumentation | None = field(default_factory=ExternalDocumentation)
    components: Components = field(default_factory=Components)


def _present(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v not in (None, {}, [])}


@dataclass
class OpenAPI:
    """The app's OpenAPI settings and document (`openapi_spec`: the override file's content, or after start-up
    the generated document)."""

    info: OpenAPIInfo = field(default_factory=OpenAPIInfo)
    openapi_file_override: bool = False  # True: openapi_spec came from a file and is served as it is
    openapi_spec: dict[str, Any] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.info, OpenAPIInfo):
            raise TypeError(f"OpenAPI(info=...) takes an OpenAPIInfo, got {self.info!r}")
        self.openapi_spec = {} if self.openapi_file_override else self.base_document()

    def base_document(self) -> dict[str, Any]:
        """The document without paths: `openapi`, `info`, `servers`, `externalDocs`, the hand-written components."""
        info = self.info
        doc: dict[str, Any] = {"openapi": "3.1.0"}
        contact = _present(asdict(info.contact))
        license_ = _present(asdict(info.license))
        doc["info"] = _present({
            "title": info.title, "version": info.version, "description": info.description,
            "termsOfService": info.termsOfService, "contact": contact,
            "license": license_ if license_.get("name") else None,
        })  # fmt: skip
        servers = [_present(asdict(s)) for s in info.servers]
        if servers:
            doc["servers"] = servers
        doc["paths"] = {}
        doc["components"] = asdict(info.components)
        external = _present(asdict(info.externalDocs)) if info.externalDocs is not None else {}
        if external.get("url"):
            doc["externalDocs"] = external
        return doc

    def add_security_scheme(self, name: str, scheme: dict[str, Any]) -> None:
        """Declares a security scheme (`{"type": "http", "scheme": "bearer"}`, an apiKey...). Routes declared
        with `auth_required=True` require it when the authentication handler does not name a Bearer token."""
        if not isinstance(scheme, dict) or "type" not in scheme:
            raise ValueError(f"a security scheme is an OpenAPI Security Scheme object with a 'type', got {scheme!r}")
        self.info.components.securitySchemes[name] = scheme
        if not self.openapi_file_override:
            self.openapi_spec.setdefault("components", {}).setdefault("securitySchemes", {})[name] = scheme

    def override_openapi(self, openapi_json_spec_path: str | os.PathLike[str]) -> None:
        """Serves the OpenAPI document in this JSON file instead of the generated one."""
        path = os.fspath(openapi_json_spec_path)
        try:
            with open(path, encoding="utf-8") as f:
                spec = json.load(f)
        except OSError as e:
            raise ValueError(f"OpenAPI document {path}: cannot read it ({e.strerror})") from None
        except ValueError as e:
            raise ValueError(f"OpenAPI document {path} is not JSON: {e}") from None
        if not isinstance(spec, dict) or "openapi" not in spec:
            raise ValueError(f"OpenAPI document {path} must be a JSON object with an 'openapi' member")
        self.openapi_spec = spec
        self.openapi_file_override = True

    def prune_empty_components(self) -> None:
        """Drops the empty members of the document's `components` (and `components` when all are)."""
        components = self.openapi_spec.get("components")
        if isinstance(components, dict):
            for key in [k for k, v in components.items() if v in ({}, None)]:
                del components[key]
            if not components:
                del self.openapi_spec["components"]

    def get_openapi_config(self) -> dict[str, Any]:
        """The document, as a dict (generated at start-up, or the override file's)."""
        return self.openapi_spec

    def get_openapi_docs_page(self) -> _core.Response:
        """The Swagger UI page served at /docs."""
        from tiercel.docs_page import docs_page

        return docs_page(self.info.title)


def app_openapi(directory: str, openapi: OpenAPI | None, openapi_file_path: str | None) -> OpenAPI:
    """The app's OpenAPI: `openapi` or a default one, overridden by `openapi_file_path` (relative to the app's
    directory) or else by an `openapi.json` beside the app file."""
    if openapi is None:
        openapi = OpenAPI()
    elif not isinstance(openapi, OpenAPI):
        raise TypeError(f"Tiercel(openapi=...) takes a tiercel.openapi.OpenAPI, got {openapi!r}")
    if openapi_file_path:
        openapi.override_openapi(os.path.join(directory, openapi_file_path))
    elif os.path.isfile(os.path.join(directory, "openapi.json")):
        openapi.override_openapi(os.path.join(directory, "openapi.json"))
    return openapi


__all__ = ["Components", "Contact", "ExternalDocumentation", "License", "OpenAPI", "OpenAPIInfo", "Server"]
