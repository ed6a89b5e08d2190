"""The checked-in type stub of tiercel._core matches what nanobind generates from the built module."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import tiercel

CHECKED_IN = Path(__file__).parent.parent / "src" / "tiercel" / "_core.pyi"


def test_checked_in_stub_is_current(tmp_path):
    out = tmp_path / "_core.pyi"
    subprocess.run(
        [sys.executable, "-m", "nanobind.stubgen", "-q", "-m", "tiercel._core", "-o", str(out)],
        check=True,
        cwd=tmp_path,  # never the source tree, whose src/tiercel/ has no compiled module
    )
    assert out.read_text() == CHECKED_IN.read_text(), (
        "src/tiercel/_core.pyi is stale: copy the generated stub over it "
        "(cp build/*/_core.pyi src/tiercel/_core.pyi after scripts/install.sh)"
    )


def test_installed_package_ships_the_stub_and_marker():
    pkg = Path(tiercel.__file__).parent
    assert (pkg / "_core.pyi").read_text() == CHECKED_IN.read_text()
    assert (pkg / "py.typed").exists()
