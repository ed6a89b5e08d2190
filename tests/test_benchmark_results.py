"""The committed benchmark results (benchmarks/results): `latest.*` is the newest run there, not an older one."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

RESULTS = Path(__file__).resolve().parent.parent / "benchmarks" / "results"


def _started(path: Path) -> datetime:
    return datetime.fromisoformat(json.loads(path.read_text())["environment"]["date"])


def test_latest_is_the_newest_run():
    runs = sorted((p for p in RESULTS.glob("*.json") if p.name != "latest.json"), key=_started)
    newest = runs[-1]
    assert (RESULTS / "latest.json").read_bytes() == newest.read_bytes(), f"latest.json is not {newest.name}"
    report = newest.with_suffix(".md").read_text().replace(f"({newest.stem}.png)", "(latest.png)")
    assert (RESULTS / "latest.md").read_text() == report  # the same report, its chart named latest.png
    png = newest.with_suffix(".png")
    if png.exists():  # a memory-only run draws no chart
        assert (RESULTS / "latest.png").read_bytes() == png.read_bytes()
