"""Jinja2 templates with Robyn's names (`robyn.templating`): `JinjaTemplate`, `TemplateInterface`, `render`.

Jinja2 is optional (`pip install 'tiercel[jinja2]'`) and imported only when a `JinjaTemplate` is made. Nothing
here runs unless a handler calls it. Autoescaping is on for every template but `.txt` ones, so a value reaches
HTML as text; mark trusted markup with `|safe`. Compiled templates are cached by Jinja and not re-read from disk
unless `auto_reload=True` (the default under the `--dev` reloader, which restarts only for Python files, so an
edited template shows at the next request).

>>> import tempfile, pathlib
>>> d = tempfile.mkdtemp(); _ = pathlib.Path(d, "hi.html").write_text("Hi {{ name }}")
>>> JinjaTemplate(d).render_template("hi.html", name="<b>").description
'Hi &lt;b&gt;'
"""

from __future__ import annotations

import os
import sys
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any

from tiercel._core import Response, html
from tiercel.config import RELOAD_CHILD_ENV
from tiercel.optional import require

StrPath = str | os.PathLike[str]


class TemplateInterface(ABC):
    """What a template engine offers a handler: `render_template(...)` giving a `Response` (Robyn's interface,
    for engines of one's own)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()

    @abstractmethod
    def render_template(self, *args: Any, **kwargs: Any) -> Response: ...


class JinjaTemplate(TemplateInterface):
    """Templates from `directory` (a path, or a list of paths searched in order), rendered into a 200
    `text/html; charset=utf-8` Response.

    `enable_async=True` lets templates call async functions of the context (Jinja awaits them); render those
    with `await templates.render_template_async(...)`. `auto_reload` (None: on only under `--dev`) re-reads a
    template whose file changed. `env` is the `jinja2.Environment`, for filters, tests and globals.
    """

    def __init__(
        self,
        directory: StrPath | Sequence[StrPath],
        encoding: str = "utf-8",
        followlinks: bool = False,
        *,
        enable_async: bool = False,
        auto_reload: bool | None = None,
    ) -> None:
        jinja2 = require("jinja2", "jinja2", "JinjaTemplate")
        paths = [directory] if isinstance(directory, (str, os.PathLike)) else list(directory)
        self.directories = [os.path.abspath(os.fspath(p)) for p in paths]
        for path in self.directories:
            if not os.path.isdir(path):
                raise ValueError(f"JinjaTemplate: the template directory {path!r} does not exist")
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(self.directories, encoding=encoding, followlinks=followlinks),
            autoescape=jinja2.select_autoescape(disabled_extensions=("txt",), default=True),
            auto_reload=bool(os.environ.get(RELOAD_CHILD_ENV)) if auto_reload is None else auto_reload,
            enable_async=enable_async,
        )
        self._syntax_error = jinja2.TemplateSyntaxError

    def render_template(self, template_name: str, **kwargs: Any) -> Response:
        """`template_name` rendered with `kwargs` as its context: `Response(200, text/html; charset=utf-8)`."""
        if self.env.is_async:
            raise ValueError(
                "this JinjaTemplate was made with enable_async=True: "
                f"await templates.render_template_async({template_name!r}, ...)"
            )
        try:
            return html(self.env.get_template(template_name).render(**kwargs))
        except self._syntax_error as e:
            _locate(e)
            raise

    async def render_template_async(self, template_name: str, **kwargs: Any) -> Response:
        """As render_template, for `enable_async=True`: the template may call async functions of `kwargs`."""
        if not self.env.is_async:
            raise ValueError("render_template_async needs JinjaTemplate(..., enable_async=True)")
        try:
            return html(await self.env.get_template(template_name).render_async(**kwargs))
        except self._syntax_error as e:
            _locate(e)
            raise

    def add_template_global(self, func: Callable[..., Any], name: str | None = None) -> None:
        """Makes `func` callable by `name` (default: its own) in every template."""
        if not callable(func):
            raise TypeError(f"add_template_global takes a callable, not {type(func).__name__}")
        self.env.globals[name or func.__name__] = func


def _locate(error: Any) -> None:
    """Names the file and the line in a TemplateSyntaxError's message (Jinja names them only in a traceback
    frame): "unexpected '}' (/app/templates/page.html, line 3)"."""
    where = f"({error.filename or error.name}, line {error.lineno})"
    if where not in error.message:
        error.args = (f"{error.message} {where}", *error.args[1:])


_engines: dict[tuple[type[TemplateInterface], str], TemplateInterface] = {}


def render(
    template_name: str,
    *,
    templates_dir: StrPath = "templates",
    template_engine: type[TemplateInterface] = JinjaTemplate,
    **kwargs: Any,
) -> Response:
    """`template_name` from `templates_dir` (relative to the calling file's folder unless absolute), rendered by
    one `template_engine` made on first use and kept: `return render("index.html", name="Batman")`."""
    directory = os.fspath(templates_dir)
    if not os.path.isabs(directory):
        caller = sys._getframe(1).f_globals.get("__file__")
        directory = os.path.join(os.path.dirname(os.path.abspath(caller)) if caller else os.getcwd(), directory)
    key = (template_engine, directory)
    engine = _engines.get(key)
    if engine is None:
        engine = _engines[key] = template_engine(directory)
    return engine.render_template(template_name, **kwargs)


__all__ = ["JinjaTemplate", "TemplateInterface", "render"]
