"""The documentation site (docs/, mkdocs.yml): every Python sample runs, page by page in order as a reader meets
them (one namespace per page, so a later sample uses the app an earlier one made), and `mkdocs build --strict`
builds the site with no broken link, missing page or unknown reference."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_docs_page import requested_urls

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PYTHON_SAMPLE = re.compile(r"^```python\n(.*?)^```", re.S | re.M)
SAMPLE_FILE = re.compile(r"# file: ([A-Za-z_][A-Za-z0-9_]*\.py)\n")


def samples(page: Path) -> list[str]:
    return PYTHON_SAMPLE.findall(page.read_text(encoding="utf-8"))


PAGES = sorted(p for p in DOCS.rglob("*.md") if samples(p))


def test_every_tutorial_step_has_samples() -> None:
    # Each step of the tutorial ends with an app that runs: a step without samples would be tested by nothing.
    steps = {p for p in (DOCS / "tutorial").glob("*.md") if p.name != "index.md"}
    assert len(steps) >= 5
    assert steps <= set(PAGES), sorted(str(p.relative_to(DOCS)) for p in steps - set(PAGES))
    assert DOCS / "index.md" in PAGES


@pytest.fixture(scope="module")
def database_url() -> Iterator[str]:
    """A throwaway PostgreSQL cluster for the pages whose samples read DATABASE_URL (started only for them)."""
    sys.path.append(str(ROOT))  # benchmarks.infra: the suite's PostgreSQL, after site-packages
    from benchmarks.infra import Postgres

    with Postgres() as pg:
        yield pg.dsn


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(DOCS)))
def test_every_sample_runs(
    page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    monkeypatch.chdir(tmp_path)
    text = page.read_text(encoding="utf-8")
    if "DATABASE_URL" in text:
        monkeypatch.setenv("DATABASE_URL", request.getfixturevalue("database_url"))
    codes = samples(page)
    server = None
    if "TIERCEL_URL" in text:
        # A page tested against a running server: its first sample is the app, run as the reader runs it
        # (`python app.py`, on a free port), and the others are its clients.
        server, url = serve(codes.pop(0), tmp_path)
        monkeypatch.setenv("TIERCEL_URL", url)
    # Not "__main__": a sample's `if __name__ == "__main__": app.start(...)` stays what the reader runs by hand.
    namespace: dict[str, object] = {"__name__": "docs_sample", "__file__": str(tmp_path / "app.py")}
    monkeypatch.syspath_prepend(str(tmp_path))
    modules = set(sys.modules)
    try:
        for i, code in enumerate(codes):
            if (named := SAMPLE_FILE.match(code)) is not None:
                # A sample that says "# file: name.py" is a module of its own (a guide comparing two apps): written
                # where the later samples import it from.
                (tmp_path / named[1]).write_text(code, encoding="utf-8")
                continue
            exec(compile(code, f"{page.relative_to(DOCS)} sample {i + 1}", "exec"), namespace)
    finally:
        for name in set(sys.modules) - modules:  # the page's own modules do not outlive it
            if (tmp_path / f"{name}.py").exists():
                del sys.modules[name]
        if server is not None:
            server.terminate()
            server.wait(10)


def serve(code: str, where: Path) -> tuple[subprocess.Popen[bytes], str]:
    """Runs `code` as `python app.py` with PORT set to a free port; returns it and its URL once it answers."""
    (where / "app.py").write_text(code, encoding="utf-8")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "app.py"], cwd=where, env={**os.environ, "PORT": str(port)})
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the page's app stopped at start-up"
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc, f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise AssertionError("the page's app did not listen within 30 s")


def build_site(site: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        # Not --quiet: it hides the warnings, and --strict then has none to fail on.
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_site_builds_strict(tmp_path: Path) -> None:
    site = tmp_path / "site"
    done = build_site(site)
    assert done.returncode == 0, done.stdout + done.stderr
    for page in ("index.html", "tutorial/index.html", "tutorial/first-app/index.html", "search/search_index.json"):
        assert (site / page).is_file(), page
    # The Robyn guide includes the README's "Differences from Robyn" list (one text in two places): it is there.
    robyn = (site / "how-to/migrate-from-robyn/index.html").read_text(encoding="utf-8")
    assert "Session keys" in robyn and "--8&lt;--" not in robyn


def test_the_command_lines_use_flags_tiercel_has() -> None:
    # The shell samples are not run (they serve until stopped), but every flag they give `tiercel` must exist.
    shell = re.compile(r"^```bash\n(.*?)^```", re.S | re.M)
    used: set[str] = set()
    for page in DOCS.rglob("*.md"):
        for block in shell.findall(page.read_text(encoding="utf-8")):
            for line in block.splitlines():
                if re.search(r"(^|/)tiercel\s", line):
                    used |= set(re.findall(r"(?<!\S)--[a-z][a-z0-9-]*", line.split("#")[0]))
    assert "--processes" in used, "the pattern found no command line"
    known = subprocess.run(
        [sys.executable, "-m", "tiercel", "--help"], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    assert sorted(flag for flag in used if flag not in known) == []


def test_the_site_in_a_browser(tmp_path: Path, serve, browser) -> None:
    """The built site, served by Tiercel itself, in headless Chromium: the home page, a tutorial page and a search,
    with nothing asked of another host and no error in the console; screenshots go to build/artifacts/."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    from tiercel import Tiercel

    site = tmp_path / "site"
    assert build_site(site).returncode == 0
    app = Tiercel(__file__)
    app.serve_directory("/", str(site), index_file="index.html")
    url = serve(app).url
    artifacts = ROOT / "build" / "artifacts"
    artifacts.mkdir(parents=True, exist_ok=True)
    wait = WebDriverWait(browser, 20)

    browser.get(url + "/")
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "article h1")))
    assert browser.find_element(By.CSS_SELECTOR, "article h1").text == "Tiercel"
    browser.save_screenshot(str(artifacts / "site-home.png"))

    browser.get(url + "/tutorial/first-app/")
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "article h1")))
    assert browser.find_element(By.CSS_SELECTOR, "article h1").text == "First app"
    nav = [a.get_attribute("textContent").strip() for a in browser.find_elements(By.CSS_SELECTOR, "nav.md-nav a")]
    assert "Running in production" in nav
    browser.save_screenshot(str(artifacts / "site-tutorial.png"))

    box = wait.until(ec.element_to_be_clickable((By.CSS_SELECTOR, "input.md-search__input")))
    box.click()
    box.send_keys("sessions")
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, ".md-search-result__item")))
    found = " ".join(e.text for e in browser.find_elements(By.CSS_SELECTOR, ".md-search-result__item"))
    assert "Authentication and sessions" in found
    browser.save_screenshot(str(artifacts / "site-search.png"))

    # A reference page rendered from the docstrings, and the benchmark chart the build hook brings in.
    browser.get(url + "/reference/app/")
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "article h1")))
    headings = [e.get_attribute("textContent") for e in browser.find_elements(By.CSS_SELECTOR, "article h2, h3")]
    assert any("Tiercel" in h for h in headings) and any("before_request" in h for h in headings), headings
    browser.save_screenshot(str(artifacts / "site-reference.png"))
    browser.get(url + "/benchmarks/")
    chart = wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "article img")))
    wait.until(lambda _: browser.execute_script("return arguments[0].complete", chart))
    assert browser.execute_script("return arguments[0].naturalWidth", chart) > 500

    others = [u for u in requested_urls(browser) if not u.startswith(("data:", "blob:", url + "/"))]
    assert others == [], f"the site asked other hosts: {others}"
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == []
    for shot in ("site-home.png", "site-tutorial.png", "site-search.png", "site-reference.png"):
        assert (artifacts / shot).stat().st_size > 10_000, shot
