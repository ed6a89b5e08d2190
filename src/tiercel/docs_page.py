"""`/openapi.json` and the Swagger UI page at `/docs`, served offline: the page, its script and the assets of the
`swagger-ui-bundle-v2` package are const routes (bytes made once at start-up, answered by C++); nothing is fetched
from elsewhere.

    GET /openapi.json                          the document (tiercel.openapi_document), application/json
    GET /docs                                  the page
    GET /docs/swagger-initializer.js           what starts Swagger UI on the page (a file, not inline: a strict
                                               Content-Security-Policy of script-src 'self' lets it run)
    GET /docs/swagger-ui-<version>/<asset>     swagger-ui-bundle.js, swagger-ui.css, favicon-32x32.png; the
                                               version in the path lets browsers keep them (immutable)

A route the app declares itself on one of these paths wins over the framework's.
"""

from __future__ import annotations

import functools
import html
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from tiercel import _core
from tiercel.routers import CompiledRoute
from tiercel.routing import Route, RouteDocs

if TYPE_CHECKING:
    from tiercel.app import App
    from tiercel.config import Settings

logger = logging.getLogger("tiercel")
OPENAPI_PATH = "/openapi.json"
DOCS_PATH = "/docs"
INITIALIZER_PATH = "/docs/swagger-initializer.js"
ASSETS = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "favicon-32x32.png": "image/png",
}
ROUTE_COUNT = 3 + len(ASSETS)  # the most routes docs_routes adds (for the metrics table's size)
NO_CACHE = "no-cache"  # the page and the document change with the app: revalidate each time
IMMUTABLE = "public, max-age=31536000, immutable"


@functools.cache
def swagger_ui_directory() -> Path:
    """The directory of Swagger UI's files in the installed `swagger-ui-bundle-v2` package."""
    try:
        import swagger_ui_bundle  # type: ignore[import-untyped]  # (no type information)
    except ImportError:
        raise ModuleNotFoundError(
            "the /docs page needs the swagger-ui-bundle-v2 package (a dependency of tiercel): "
            "pip install swagger-ui-bundle-v2, or start with --disable-openapi",
            name="swagger_ui_bundle",
        ) from None
    directory = Path(str(swagger_ui_bundle.swagger_ui_path))
    version = directory.name.removeprefix("swagger-ui-")
    if not version[:1].isdigit() or int(version.split(".")[0]) < 5:
        raise ImportError(  # the installed package is not the one tiercel needs (as a too old version would be)
            f"Swagger UI {version} (package swagger-ui-bundle) cannot show an OpenAPI 3.1 document; "
            "install swagger-ui-bundle-v2 (Swagger UI 5) in its place: pip uninstall swagger-ui-bundle && "
            "pip install swagger-ui-bundle-v2",
            name="swagger_ui_bundle",
        )
    return directory


def asset_path(name: str) -> str:
    """The URL path of one of Swagger UI's files (with its version)."""
    return f"{DOCS_PATH}/{swagger_ui_directory().name}/{name}"


@functools.cache
def _asset(name: str) -> bytes:
    return (swagger_ui_directory() / name).read_bytes()


def docs_page(title: str) -> _core.Response:
    """The HTML page that shows Swagger UI for /openapi.json."""
    page = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)} - Swagger UI</title>
<link rel="stylesheet" href="{asset_path("swagger-ui.css")}">
<link rel="icon" type="image/png" href="{asset_path("favicon-32x32.png")}">
</head>
<body>
<div id="swagger-ui"></div>
<script src="{asset_path("swagger-ui-bundle.js")}"></script>
<script src="{INITIALIZER_PATH}"></script>
</body>
</html>
"""
    return _answer(page.encode(), "text/html; charset=utf-8", NO_CACHE)


def initializer() -> _core.Response:
    """The script that starts Swagger UI: the document at /openapi.json, no online validator, "Try it out"
    sending real requests to this server."""
    options = {
        "url": OPENAPI_PATH,
        "dom_id": "#swagger-ui",
        "deepLinking": True,
        "validatorUrl": None,
        "layout": "BaseLayout",
        "showExtensions": True,
        "showCommonExtensions": True,
    }
    script = (
        'window.addEventListener("load", function () {\n'
        f"  var options = {orjson.dumps(options).decode()};\n"
        "  options.presets = [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset];\n"
        "  window.ui = SwaggerUIBundle(options);\n"
        "});\n"
    )
    return _answer(script.encode(), "text/javascript; charset=utf-8", NO_CACHE)


def _asset_answer(name: str, content_type: str) -> _core.Response:
    return _answer(_asset(name), content_type, IMMUTABLE)


def _answer(body: bytes, content_type: str, cache: str) -> _core.Response:
    return _core.Response(200, {"Content-Type": content_type, "Cache-Control": cache}, body)


def _const(path: str, make: Any) -> CompiledRoute:
    """A const GET route whose answer `make()` computes once, when the engine is built."""
    route = Route("GET", path, make, const=True, docs=RouteDocs(include_in_schema=False))
    return CompiledRoute(route, path, [], [], {}, {}, None)


def docs_routes(app: App, settings: Settings, compiled: list[CompiledRoute]) -> list[CompiledRoute]:
    """The const routes of /openapi.json, /docs and its assets, to register after the app's own `compiled` routes
    (so that the document, made when its route's answer is computed, describes routes already checked); none
    with disable_openapi, and none for an app that only mounts others (an ASGI app served by the CLI): it has
    nothing of its own to document, and the mounted app's own /docs stays reachable."""
    if settings.disable_openapi or (not compiled and app.mounted_apps()):
        return []
    compiled = list(compiled)  # the caller adds these routes to its list; the document is of the app's alone
    from tiercel.openapi_document import build_document

    def document() -> _core.Response:
        body = orjson.dumps(build_document(app.openapi, compiled))
        return _answer(body, "application/json", NO_CACHE)

    routes = [
        _const(OPENAPI_PATH, document),
        _const(DOCS_PATH, lambda: docs_page(app.openapi.info.title)),
        _const(INITIALIZER_PATH, initializer),
    ]
    routes += [_const(asset_path(name), functools.partial(_asset_answer, name, kind)) for name, kind in ASSETS.items()]
    taken = {c.path for c in compiled if c.route.method == "GET"}
    for route in routes:
        if route.path in taken:
            logger.info("the app's own GET %s is served there, not the framework's", route.path)
    return [r for r in routes if r.path not in taken]


__all__ = ["DOCS_PATH", "OPENAPI_PATH", "ROUTE_COUNT", "docs_page", "docs_routes", "swagger_ui_directory"]
