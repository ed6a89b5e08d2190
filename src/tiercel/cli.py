"""`python -m tiercel module:app` (and the `tiercel` console script): runs an app with uvicorn-style flags.

Every flag has a TIERCEL_* environment variable and an `app.start(...)` keyword of the same name; the command
line wins over the environment, which wins over the code.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from typing import Any

from tiercel.config import FALSE_WORDS, OPTIONS, TRUE_WORDS, Settings, resolve
from tiercel.interfaces import ASGI, FACTORY, describe, interface_of
from tiercel.reload import child_fd, run_with_reload
from tiercel.start import Tiercel, run
from tiercel.startup_errors import is_setup_error, setup_error_line

GROUPS = {
    "server": "server",
    "run": "running",
    "limits": "limits (bad input is refused with the status shown)",
    "websocket": "WebSockets",
    "proxy": "behind a proxy",
    "processes": "worker processes",
    "tls": "TLS (HTTPS) and HTTP/2",
}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="tiercel",
        description="Serve a Tiercel app: tiercel [options] module:attribute (for example myapp.main:app).",
        epilog="Each --flag can also be set with the environment variable TIERCEL_<FLAG> (upper case, '_' for '-'), "
        "for example TIERCEL_PROCESSES=4, and as app.start(flag=...) in code.",
    )
    p.add_argument("app", help="the app to serve, as module:attribute (module.path:app, or path/to/file.py:app)")
    p.add_argument("--app-dir", default=".", help="directory put first on sys.path to import the app (default: .)")
    defaults = Settings()
    groups = {key: p.add_argument_group(title) for key, title in GROUPS.items()}
    for option in OPTIONS:
        default = getattr(defaults, option.name)
        help_text = f"{option.help} (default: {option.default_text or repr(default)}; env {option.env})"
        if option.is_bool:
            groups[option.group].add_argument(
                option.flag, dest=option.name, nargs="?", const="true", default=None, metavar="BOOL", help=help_text
            )
        else:
            groups[option.group].add_argument(
                option.flag, dest=option.name, default=None, metavar=option.metavar or "VALUE", help=help_text
            )
    return p


def load_app(target: str, app_dir: str = ".") -> Any:
    """The object `module:attribute` names; an error that says what to fix otherwise."""
    module_name, sep, attr = target.partition(":")
    if not sep or not module_name or not attr:
        raise SystemExit(f"tiercel: the app is given as module:attribute (for example main:app), got {target!r}")
    path = os.path.abspath(app_dir)
    if path not in sys.path:
        sys.path.insert(0, path)
    if module_name.endswith(".py"):  # a file path
        directory, file = os.path.split(os.path.abspath(module_name))
        sys.path.insert(0, directory)
        module_name = file[:-3]
    try:
        module = importlib.import_module(module_name)
    except Exception as e:
        if isinstance(e, ModuleNotFoundError) and (e.name == module_name or module_name.startswith(f"{e.name}.")):
            raise SystemExit(f"tiercel: cannot import {module_name!r} (looked in {path} and sys.path): {e}") from None
        if is_setup_error(e):  # a route or setting Tiercel refused while the module declared it
            raise SystemExit(setup_error_line(e)) from None
        raise
    obj: Any = module
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise SystemExit(f"tiercel: module {module_name!r} has no attribute {attr!r}") from None
    if callable(obj) and not isinstance(obj, Tiercel):
        kind = interface_of(obj)
        if kind == ASGI:
            return asgi_host(obj)
        if kind != FACTORY:
            raise SystemExit(
                f"tiercel: {target} is {describe(obj)}; Tiercel serves Tiercel and ASGI apps (WSGI: not yet)"
            )
        obj = obj()  # an app factory: a callable that takes no arguments
    if not isinstance(obj, Tiercel):
        raise SystemExit(f"tiercel: {target} is a {type(obj).__name__}, not a Tiercel app")
    return obj


def asgi_host(asgi_app: Any) -> Tiercel:
    """A Tiercel app that hands every request to `asgi_app` (its own /docs and /openapi.json included)."""
    host = Tiercel(__file__)
    host.mount("/", asgi_app)
    return host


def explicit_bools(argv: Sequence[str]) -> list[str]:
    """`--dev app:app` means `--dev=true app:app`: a true/false flag takes the next word only when it is a
    true/false word (argparse's optional value would swallow the app's name)."""
    flags = {o.flag for o in OPTIONS if o.is_bool}
    out = list(argv)
    for i, word in enumerate(out):
        if word in flags and (i + 1 == len(out) or out[i + 1].lower() not in (*TRUE_WORDS, *FALSE_WORDS)):
            out[i] = word + "=true"
    return out


def main(argv: Sequence[str] | None = None) -> None:
    args = parser().parse_args(explicit_bools(sys.argv[1:] if argv is None else argv))
    cli = {o.name: getattr(args, o.name) for o in OPTIONS if getattr(args, o.name) is not None}
    try:
        settings = resolve(None, os.environ, cli)
    except (ValueError, TypeError) as e:
        raise SystemExit(f"tiercel: {e}") from None
    if settings.dev and child_fd() is None:  # the watching parent: the app is imported (and may fail) in its child
        try:
            run_with_reload(settings, args.app_dir)
        except Exception as e:
            if is_setup_error(e):  # the socket cannot be bound, the uds path is not a socket
                raise SystemExit(setup_error_line(e)) from None
            raise
        return
    app = load_app(args.app, args.app_dir)
    run(app, settings)


if __name__ == "__main__":
    main()
