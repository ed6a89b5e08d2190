"""The README's commands leave the user in the repository root: everything documented works from there.

The package's sources live in src/tiercel, so the checkout's root never shadows the installed package (which has
the compiled _core) with a folder that has none.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


def run_in_root(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), cwd=ROOT, capture_output=True, text=True, timeout=60)


def test_python_m_tiercel_from_the_root():
    r = run_in_root(sys.executable, "-m", "tiercel", "--help")
    assert r.returncode == 0, r.stderr
    assert "--processes" in r.stdout


def test_tiercel_script_from_the_root():
    script = Path(sys.executable).parent / "tiercel"
    r = run_in_root(str(script), "--help")
    assert r.returncode == 0, r.stderr
    assert "--processes" in r.stdout


def test_no_tiercel_package_at_the_root():
    assert not (ROOT / "tiercel").exists(), "a tiercel/ folder at the root would shadow the installed package"


def test_example_script_from_the_root(run_script):
    p = run_script("examples/hello.py", cwd=str(ROOT))
    assert httpx.get(p.url + "/").text == "Hello, World!"


def test_example_module_through_the_cli_from_the_root(run_script):
    p = run_script("-m", "tiercel", "examples.hello:app", cwd=str(ROOT))
    assert httpx.get(p.url + "/users/7").json() == {"id": "7"}
