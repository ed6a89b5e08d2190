"""Starting an app for real: `Tiercel`, the app object with `start()` and `server()`, and `run(app, settings)`,
which `app.start()` and the CLI call.

* One process (the default): the engine serves in this process (tiercel.server); SIGTERM/SIGINT drain it.
* A supervisor (`processes > 1`, `max_requests`, `max_rss`): it forks and watches the workers (tiercel.supervisor).
* Development mode (`dev=True`): the app runs in a child restarted on every change (tiercel.reload).

>>> app = Tiercel(__file__)
>>> # app.start(port=8000, processes=4)
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

from tiercel.app import App
from tiercel.config import Settings, resolve
from tiercel.reload import child_fd, run_with_reload
from tiercel.server import Server, configure_logging, serve_in_process
from tiercel.startup_errors import is_setup_error
from tiercel.supervisor import Supervisor

logger = logging.getLogger("tiercel")


class Tiercel(App):
    """A Tiercel application. Same names as Robyn's `Robyn` class: what is declared on it (routes, routers,
    handlers, settings) is tiercel.app's App; this adds how it runs."""

    def server(self, host: str = "127.0.0.1", port: int = 8080, **settings: Any) -> Server:
        """A Server for this app, for embedding in an asyncio program (`await server.serve()`). Takes the
        settings app.start() takes; TIERCEL_* variables do not apply."""
        return Server(self, resolve({"host": host, "port": port, **settings}, where="app.server()"))

    def start(self, host: str | None = None, port: int | None = None, **settings: Any) -> None:
        """Serves until Ctrl-C or SIGTERM (graceful: in-flight requests finish). Every setting of
        `python -m tiercel --help` is a keyword here (`processes=4`, `access_log=True`, `max_body=...`), and
        TIERCEL_* environment variables override them (as Robyn's ROBYN_HOST / ROBYN_PORT do). With
        processes > 1, a supervisor forks and watches the workers."""
        code = {k: v for k, v in (("host", host), ("port", port)) if v is not None}
        run(self, resolve({**code, **settings}, os.environ))


def run(app: App, settings: Settings) -> None:
    """Runs the app with these settings until it is stopped: in this process, or under a supervisor. A mistake
    Tiercel finds in the app or the settings at start-up ends the process with one line on stderr."""
    configure_logging(settings.log_level)
    try:
        _run(app, settings)
    except Exception as e:
        if not is_setup_error(e):
            raise
        logger.debug("start-up failed", exc_info=True)
        raise SystemExit(f"tiercel: error: {e}") from None  # no place: the app.start() line says nothing


def _run(app: App, settings: Settings) -> None:
    if settings.dev:
        fd = child_fd()
        if fd is None:
            run_with_reload(settings)
        else:
            serve_in_process(app, settings, fd=fd, announce=False)
        return
    if settings.needs_supervisor():
        code = Supervisor(app, settings).run()
        if code:
            sys.exit(code)
        return
    serve_in_process(app, settings)


__all__ = ["Tiercel", "run"]
