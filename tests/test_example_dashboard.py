"""examples/dashboard/dashboard.py run as a user runs it: its /metrics stream read with httpx, and its page in
headless Chromium, where EventSource must show at least two pushed values (screenshot in build/artifacts/)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = str(ROOT / "examples" / "dashboard" / "dashboard.py")


def read_events(lines: Iterator[str], count: int) -> list[tuple[str, dict]]:
    """The next `count` events of an SSE stream's lines as (event name, JSON data)."""
    events: list[tuple[str, dict]] = []
    name = data = ""
    for line in lines:
        if line.startswith("event:"):
            name = line[len("event:") :].strip()
        elif line.startswith("data:"):
            data += line[len("data:") :].strip()
        elif line == "" and data:
            events.append((name, json.loads(data)))
            name = data = ""
            if len(events) == count:
                break
    return events


def test_metrics_stream(run_script) -> None:
    server = run_script(EXAMPLE)
    with httpx.Client(base_url=server.url, timeout=10) as client, client.stream("GET", "/metrics") as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"].startswith("no-cache")
        lines = response.iter_lines()
        started = time.monotonic()
        (name, first), (_, second) = read_events(lines, 2)
        took = time.monotonic() - started
        for _ in range(3):
            assert client.get("/").status_code == 200
        [(_, third)] = read_events(lines, 1)
    assert name == "metrics"
    assert set(first) == {"uptime", "requests", "load"}
    assert 0.5 < took < 5, "one event about every second"
    assert first["uptime"] < second["uptime"] < third["uptime"]
    assert third["requests"] >= second["requests"] + 3  # the three page loads were counted
    assert isinstance(first["load"], float)
    # The stream is closed: its generator ends with it, so nothing holds the graceful shutdown back.
    started = time.monotonic()
    assert server.stop(timeout=15) == 0
    assert time.monotonic() - started < 10


def test_the_page_in_a_browser(run_script, browser) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    server = run_script(EXAMPLE)
    browser.get(server.url + "/")
    seen: set[str] = set()

    def two_values_shown(driver) -> bool:
        seen.add(driver.find_element(By.ID, "uptime").text)
        return len(seen - {"-"}) >= 2

    WebDriverWait(browser, 10, poll_frequency=0.1).until(two_values_shown)
    assert all(v.isdigit() for v in seen - {"-"}), seen
    assert browser.find_element(By.ID, "status").text == "live"
    assert int(browser.find_element(By.ID, "requests").text) >= 2  # the page and the event stream
    artifacts = ROOT / "build" / "artifacts"
    artifacts.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(artifacts / "example-dashboard.png"))
    assert (artifacts / "example-dashboard.png").stat().st_size > 5_000
    assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []
