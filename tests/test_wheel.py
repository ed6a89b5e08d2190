"""The release wheel (issue 18, item 3): `scripts/wheels.sh` builds an sdist, a wheel from it, and `auditwheel
repair` makes that wheel manylinux by bundling the native libraries the module links. Here the repaired wheel for
this interpreter is installed, with every extra, into a fresh virtualenv that has no access to the checkout, checked
with `auditwheel show` and `ldd` (nothing outside the manylinux policy resolves from the system), and serves the
hello example over HTTP/1.1, and over TLS with HTTP/2 (the bundled OpenSSL and nghttp2).
"""

from __future__ import annotations

import re
import shutil
import ssl
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import trustme
from conftest import Subprocess

ROOT = Path(__file__).resolve().parent.parent
DIST = ROOT / "build" / "dist"
VERSION = f"{sys.version_info.major}.{sys.version_info.minor}"
TAG = f"cp{sys.version_info.major}{sys.version_info.minor}"
BUNDLED = ("libuv", "libnghttp2", "libssl", "libcrypto", "libbrotlienc", "libbrotlicommon", "libzstd")
# What the manylinux policy lets a wheel take from the system (PEP 600's libraries, and the loader and vDSO).
SYSTEM_ALLOWED = re.compile(
    r"^(linux-vdso\.so\.1|ld-linux-x86-64\.so\.2|lib(c|m|dl|rt|pthread|gcc_s|stdc\+\+|z|util|crypt|nsl)\.so\.\d+)$"
)
EXTRAS = {"pydantic": "pydantic", "msgspec": "msgspec", "jinja": "jinja2", "uvloop": "uvloop", "reload": "watchfiles"}


def newest_source_change() -> float:
    sources = [ROOT / "pyproject.toml", ROOT / "CMakeLists.txt", *(ROOT / "src").rglob("*")]
    return max(p.stat().st_mtime for p in sources if p.is_file())


@pytest.fixture(scope="module")
def wheel() -> Path:
    """This interpreter's repaired wheel: the one scripts/test.sh just built, or built here when it is missing or
    older than the sources."""
    found = sorted(DIST.glob(f"tiercel-*-{TAG}-{TAG}-manylinux*.whl"))
    if not found or found[0].stat().st_mtime < newest_source_change():
        subprocess.run(["bash", str(ROOT / "scripts" / "wheels.sh"), VERSION], check=True, capture_output=True)
        found = sorted(DIST.glob(f"tiercel-*-{TAG}-{TAG}-manylinux*.whl"))
    assert len(found) == 1, found
    return found[0]


@pytest.fixture(scope="module")
def wheel_python(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A fresh virtualenv with the wheel and every extra installed; its python."""
    root = tmp_path_factory.mktemp("wheel-venv")
    subprocess.run([sys.executable, "-m", "venv", str(root / "venv")], check=True)
    python = root / "venv" / "bin" / "python"
    extras = ",".join(EXTRAS)
    install = subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "-q",
            "--disable-pip-version-check",
            f"tiercel[{extras}] @ {wheel.as_uri()}",
        ],
        capture_output=True,
        text=True,
        cwd=root,
    )
    assert install.returncode == 0, install.stdout + install.stderr
    yield python
    shutil.rmtree(root, ignore_errors=True)


def site_packages(python: Path) -> Path:
    out = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['platlib'])"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return Path(out.stdout.strip())


def test_the_wheel_is_manylinux_and_carries_its_libraries(wheel: Path) -> None:
    assert "manylinux_" in wheel.name
    show = subprocess.run(
        [str(Path(sys.executable).parent / "auditwheel"), "show", str(wheel)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert re.search(r'consistent with\s+the following platform tag: "manylinux_2_\d+_x86_64"', show.stdout), (
        show.stdout
    )
    names = zipfile.ZipFile(wheel).namelist()
    libs = [n.split("/")[-1] for n in names if n.startswith("tiercel.libs/") and ".so" in n]
    for lib in BUNDLED:
        assert any(name.startswith(lib + "-") for name in libs), (lib, libs)
    assert not [n for n in names if "_parser_probe" in n]  # the test-only module stays out of the release
    assert any(re.fullmatch(rf"tiercel/_core\.cpython-{TAG[2:]}-x86_64-linux-gnu\.so", n) for n in names), names


def test_every_extra_is_declared_and_installs(wheel: Path, wheel_python: Path) -> None:
    metadata = zipfile.ZipFile(wheel).read(next(n for n in zipfile.ZipFile(wheel).namelist() if n.endswith("METADATA")))
    declared = set(re.findall(r"^Provides-Extra: (\S+)$", metadata.decode(), re.M))
    assert set(EXTRAS) <= declared, declared
    probe = "import " + ", ".join(EXTRAS.values())
    subprocess.run([str(wheel_python), "-c", probe], check=True, cwd=wheel_python.parent)


def test_nothing_outside_the_policy_comes_from_the_system(wheel_python: Path) -> None:
    packages = site_packages(wheel_python)
    (module,) = (packages / "tiercel").glob("_core.*.so")
    ldd = subprocess.run(["ldd", str(module)], capture_output=True, text=True, check=True).stdout
    assert "not found" not in ldd, ldd
    from_wheel, from_system = [], []
    for line in ldd.splitlines():
        name = line.split()[0]
        target = line.split("=>")[1].split("(")[0].strip() if "=>" in line else name
        if Path(target).resolve().parent == (packages / "tiercel.libs").resolve():
            from_wheel.append(name)
        else:
            from_system.append(Path(name).name)
    assert sorted(name.split("-")[0] for name in from_wheel) == sorted(BUNDLED), ldd
    assert [name for name in from_system if not SYSTEM_ALLOWED.match(name)] == [], ldd


def test_the_installed_wheel_serves_the_hello_example(wheel_python: Path, tmp_path: Path) -> None:
    shutil.copy(ROOT / "examples" / "hello.py", tmp_path / "hello.py")
    server = Subprocess(["hello.py"], cwd=str(tmp_path), python=str(wheel_python))
    try:
        assert httpx.get(server.url + "/").text == "Hello, World!"
        assert httpx.get(server.url + "/users/7").json() == {"id": "7"}
        where = subprocess.run(
            [str(wheel_python), "-c", "import tiercel; print(tiercel.__file__)"],
            capture_output=True, text=True, check=True, cwd=tmp_path,
        )  # fmt: skip
        assert where.stdout.startswith(str(site_packages(wheel_python))), where.stdout  # the wheel, not the checkout
    finally:
        assert server.stop() == 0


def test_the_installed_wheel_speaks_tls_and_http2(wheel_python: Path, tmp_path: Path) -> None:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    cert.private_key_and_cert_chain_pem.write_to_path(str(tmp_path / "server.pem"))
    shutil.copy(ROOT / "examples" / "hello.py", tmp_path / "hello.py")
    server = Subprocess(
        ["-m", "tiercel", "hello:app", "--http2", "--ssl-certfile", "server.pem", "--ssl-keyfile", "server.pem"],
        cwd=str(tmp_path),
        python=str(wheel_python),
    )
    try:
        ctx = ssl.create_default_context()
        ca.configure_trust(ctx)
        with httpx.Client(http2=True, verify=ctx) as client:
            response = client.get(f"https://127.0.0.1:{server.port}/users/9")
        assert response.http_version == "HTTP/2"
        assert response.json() == {"id": "9"}
    finally:
        assert server.stop() == 0
