"""MkDocs hook: the benchmark charts (benchmarks/results/*.png, written by `python -m benchmarks run`) become part of
the site under the same path, so docs/benchmarks.md shows the committed charts themselves, never a copy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

RESULTS = Path(__file__).resolve().parent.parent.parent / "benchmarks" / "results"


def on_files(files: Files, config: Any, **kwargs: Any) -> Files:
    for chart in sorted(RESULTS.glob("*.png")):
        files.append(File.generated(config, f"benchmarks/results/{chart.name}", abs_src_path=str(chart)))
    return files
