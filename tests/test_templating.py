"""Templates: Jinja2 through Robyn's `JinjaTemplate`, rendered by real handlers and fetched over real HTTP."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from pathlib import Path

import httpx
import pytest

import tiercel
from tiercel import JinjaTemplate, TestClient, Tiercel
from tiercel.config import RELOAD_CHILD_ENV


def write(directory: Path, **files: str) -> Path:
    """Writes each `name=text` (a `_` in the name standing for the dot) into `directory`."""
    for name, text in files.items():
        (directory / name.replace("_", ".")).write_text(text, encoding="utf-8")
    return directory


def test_renders_the_context_as_html(serve, tmp_path, loop_kind):
    write(tmp_path, page_html="<h1>Hello {{ name }}</h1>{% for n in items %}<i>{{ n * 2 }}</i>{% endfor %}")
    templates = JinjaTemplate(tmp_path)
    app = Tiercel(__file__)

    @app.get("/hello/:name")
    def hello(name: str):
        return templates.render_template("page.html", name=name, items=[1, 2, 3])

    s = serve(app, loop_kind)
    r = httpx.get(s.url + "/hello/Ada")
    assert (r.status_code, r.headers["content-type"]) == (200, "text/html; charset=utf-8")
    assert r.text == "<h1>Hello Ada</h1><i>2</i><i>4</i><i>6</i>"
    assert r.headers["content-length"] == str(len(r.content))


def test_values_are_escaped_unless_marked_safe(serve, tmp_path):
    write(tmp_path, page_html="<p>{{ q }}</p>{{ trusted|safe }}", page_jinja="{{ q }}", note_txt="{{ q }}")
    templates = JinjaTemplate(str(tmp_path))
    app = Tiercel(__file__)

    @app.get("/:name")
    def page(name: str, q: str):
        return templates.render_template(name, q=q, trusted="<em>ok</em>")

    s = serve(app)
    attack = "<script>alert('x')</script>"
    r = httpx.get(s.url + "/page.html", params={"q": attack})
    assert r.text == "<p>&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;</p><em>ok</em>"
    assert "<script>" not in httpx.get(s.url + "/page.jinja", params={"q": attack}).text
    assert httpx.get(s.url + "/note.txt", params={"q": attack}).text == attack  # plain text is not HTML


def test_a_template_extends_another(serve, tmp_path):
    write(
        tmp_path,
        base_html="<title>{% block title %}Site{% endblock %}</title><main>{% block body %}{% endblock %}</main>",
        child_html='{% extends "base.html" %}{% block title %}{{ super() }}: {{ who }}{% endblock %}'
        "{% block body %}<p>{{ who }}</p>{% endblock %}",
    )
    templates = JinjaTemplate(tmp_path)
    app = Tiercel(__file__)

    @app.get("/")
    def index():
        return templates.render_template("child.html", who="Grace & co")

    s = serve(app)
    assert httpx.get(s.url + "/").text == "<title>Site: Grace &amp; co</title><main><p>Grace &amp; co</p></main>"


def test_a_missing_template_is_a_500_whose_log_names_file_and_directory(serve, tmp_path, caplog):
    write(tmp_path, outer_html='{% include "gone.html" %}')
    templates = JinjaTemplate(tmp_path)
    app = Tiercel(__file__)

    @app.get("/:name")
    def page(name: str):
        return templates.render_template(name)

    s = serve(app)
    for name in ("nope.html", "gone.html", "outer.html"):
        caplog.clear()
        with caplog.at_level(logging.ERROR, logger="tiercel"):
            r = httpx.get(s.url + "/" + name)
        assert (r.status_code, r.text) == (500, "Internal Server Error\n")  # the client learns no path
        missing = "gone.html" if name == "outer.html" else name
        assert f"TemplateNotFound: '{missing}' not found in search path: '{tmp_path}'" in caplog.text


def test_a_syntax_error_names_file_and_line(serve, tmp_path, caplog):
    write(tmp_path, bad_html="<p>\n{% if x %}\n{{ x }\n{% endif %}", uses_html='{% include "bad.html" %}')
    templates = JinjaTemplate(tmp_path)
    app = Tiercel(__file__)

    @app.get("/:name")
    def page(name: str):
        return templates.render_template(name, x=1)

    s = serve(app)
    for name in ("bad.html", "uses.html", "bad.html"):  # the broken template is not cached: same error again
        caplog.clear()
        with caplog.at_level(logging.ERROR, logger="tiercel"):
            r = httpx.get(s.url + "/" + name)
        assert (r.status_code, r.text) == (500, "Internal Server Error\n")
        assert f"TemplateSyntaxError: unexpected '}}' ({tmp_path / 'bad.html'}, line 3)" in caplog.text


def test_async_templates_await_the_context(serve, tmp_path, loop_kind):
    write(tmp_path, user_html="{% for u in users() %}<b>{{ u }}</b>{% endfor %} {{ count() }}")
    templates = JinjaTemplate(tmp_path, enable_async=True)
    app = Tiercel(__file__)

    async def users():
        await asyncio.sleep(0.01)  # a real suspension while the template renders
        return ["<ann>", "bo"]

    async def count():
        await asyncio.sleep(0)
        return 2

    @app.get("/")
    async def index():
        return await templates.render_template_async("user.html", users=users, count=count)

    s = serve(app, loop_kind)
    r = httpx.get(s.url + "/")
    assert (r.status_code, r.headers["content-type"]) == (200, "text/html; charset=utf-8")
    assert r.text == "<b>&lt;ann&gt;</b><b>bo</b> 2"


def test_the_wrong_render_for_the_mode_says_which_to_use(tmp_path):
    write(tmp_path, a_html="x")
    with pytest.raises(ValueError, match=r"enable_async=True: await templates.render_template_async\('a.html'"):
        JinjaTemplate(tmp_path, enable_async=True).render_template("a.html")
    with pytest.raises(ValueError, match=r"needs JinjaTemplate\(\.\.\., enable_async=True\)"):
        asyncio.run(JinjaTemplate(tmp_path).render_template_async("a.html"))


def test_a_directory_that_does_not_exist_fails_at_construction(tmp_path):
    with pytest.raises(ValueError, match=f"template directory '{tmp_path / 'nowhere'}' does not exist"):
        JinjaTemplate(tmp_path / "nowhere")


def test_templates_are_cached_unless_auto_reload(tmp_path, monkeypatch):
    write(tmp_path, a_html="old")
    cached, reloading = JinjaTemplate(tmp_path), JinjaTemplate(tmp_path, auto_reload=True)
    assert cached.render_template("a.html").description == reloading.render_template("a.html").description == "old"
    write(tmp_path, a_html="new")
    later = os.stat(tmp_path / "a.html").st_mtime + 10
    os.utime(tmp_path / "a.html", (later, later))
    assert cached.render_template("a.html").description == "old"
    assert reloading.render_template("a.html").description == "new"
    assert not cached.env.auto_reload
    monkeypatch.setenv(RELOAD_CHILD_ENV, "3")  # the app runs under the --dev reloader
    assert JinjaTemplate(tmp_path).env.auto_reload


def test_robyn_names_and_spelling(serve, tmp_path):
    from tiercel.templating import JinjaTemplate as RobynJinjaTemplate
    from tiercel.templating import TemplateInterface, render

    assert RobynJinjaTemplate is tiercel.JinjaTemplate
    write(tmp_path, hi_html="Hi {{ name }}", shout_html="Hi {{ shout(name) }}")
    templates = RobynJinjaTemplate(str(tmp_path), encoding="utf-8", followlinks=False)
    templates.add_template_global(lambda s: s.upper(), "shout")
    with pytest.raises(TypeError, match="takes a callable, not str"):
        templates.add_template_global("nope")  # type: ignore[arg-type]

    class Upper(TemplateInterface):
        def __init__(self, directory: str) -> None:
            self.directory = directory

        def render_template(self, template_name: str, **kwargs: object) -> tiercel.Response:
            return tiercel.html(Path(self.directory, template_name).read_text().upper())

    with pytest.raises(TypeError):
        TemplateInterface()  # type: ignore[abstract]
    relative = os.path.relpath(tmp_path, os.path.dirname(os.path.abspath(__file__)))
    app = Tiercel(__file__)

    @app.get("/")
    def index():
        return templates.render_template(template_name="shout.html", name="ada")

    @app.get("/shortcut")
    def shortcut():
        return render("hi.html", templates_dir=relative, name="<b>")  # relative to this file's folder

    @app.get("/own")
    def own():
        return render("hi.html", templates_dir=tmp_path, template_engine=Upper)

    s = serve(app)
    assert httpx.get(s.url + "/").text == "Hi ADA"
    r = httpx.get(s.url + "/shortcut")
    assert (r.text, r.headers["content-type"]) == ("Hi &lt;b&gt;", "text/html; charset=utf-8")
    assert httpx.get(s.url + "/own").text == "HI {{ NAME }}"


def test_through_the_test_client(tmp_path):
    write(
        tmp_path,
        base_html="[{% block b %}{% endblock %}]",
        page_html='{% extends "base.html" %}{% block b %}{{ v }}{% endblock %}',
    )
    templates = JinjaTemplate(tmp_path)
    app = Tiercel(__file__)

    @app.get("/")
    def index(v: str):
        return templates.render_template("page.html", v=v)

    @app.get("/missing")
    def missing():
        return templates.render_template("missing.html")

    with TestClient(app) as client:
        r = client.get("/", params={"v": "<x>"})
        assert (r.status_code, r.text, r.headers["content-type"]) == (200, "[&lt;x&gt;]", "text/html; charset=utf-8")
        r = client.get("/missing")
        assert (r.status_code, r.text) == (500, "Internal Server Error\n")


def test_without_jinja2_the_error_names_the_install_command(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "jinja2", None)  # an import of jinja2 now fails as if it were not installed
    with pytest.raises(
        ModuleNotFoundError,
        match=r"JinjaTemplate needs jinja2, which is not installed: "
        r"pip install 'tiercel\[jinja2\]'",
    ):
        JinjaTemplate(tmp_path)
