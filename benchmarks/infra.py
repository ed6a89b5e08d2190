"""What the servers need around them: free ports, a throwaway PostgreSQL cluster, TLS certificates, nginx's config."""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import re
import shutil
import signal
import socket
import string
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from benchmarks.measure import BENCH_DIR, LOAD_CPU

HOST = "127.0.0.1"
APPS_DIR = BENCH_DIR / "apps"
SCHEMA = APPS_DIR / "schema.sql"
NGINX_TEMPLATE = APPS_DIR / "nginx.conf.template"
NGINX_TLS_TEMPLATE = APPS_DIR / "nginx-tls.conf.template"

DB_NAME = "hello_world"
DB_USER = "bench"
DB_PASSWORD = "bench"
PG_TIMEOUT_S = 120
# TechEmpower's PostgreSQL settings (toolset/databases/postgres/postgresql.conf in TechEmpower/FrameworkBenchmarks:
# shared_buffers = 256MB, work_mem = 64MB, checkpoint_completion_target = 0.9, synchronous_commit = off), with
# max_connections sized for our pools (16 per server) instead of their 2000.
PG_SETTINGS = {
    "shared_buffers": "256MB",
    "work_mem": "64MB",
    "checkpoint_completion_target": "0.9",
    "synchronous_commit": "off",
    "max_connections": "200",
}


def free_port() -> int:
    """A port the kernel just handed out for HOST (bound to port 0, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _run(argv: list[str], what: str, timeout: float = PG_TIMEOUT_S) -> str:
    proc = subprocess.run(argv, check=False, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"{what} failed ({proc.returncode}): {(proc.stderr or proc.stdout).strip()[-800:]}")
    return proc.stdout


# ---------------------------------------------------------------------- PostgreSQL


def pg_bindir() -> Path:
    """The directory of initdb/pg_ctl/psql: `pg_config --bindir`, else the newest /usr/lib/postgresql/*/bin."""
    candidates = []
    if shutil.which("pg_config"):
        proc = subprocess.run(["pg_config", "--bindir"], check=False, capture_output=True, text=True)
        candidates.append(proc.stdout.strip())
    versions = glob.glob("/usr/lib/postgresql/*/bin")
    candidates += sorted(versions, key=lambda p: [int(n) for n in re.findall(r"\d+", p)], reverse=True)
    for candidate in candidates:
        if candidate and (Path(candidate) / "initdb").exists():
            return Path(candidate)
    raise RuntimeError("PostgreSQL server binaries (initdb) not found; run benchmarks/setup.sh")


class Postgres:
    """A throwaway cluster in a temporary directory: 127.0.0.1 on a free port, role bench, database
    hello_world with benchmarks/apps/schema.sql loaded, pinned to LOAD_CPU. As root the cluster runs as user
    postgres (initdb refuses root). Use as a context manager: the cluster is stopped and deleted on exit."""

    def __init__(self) -> None:
        self.bindir = pg_bindir()
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="tiercel-bench-pg-"))
        self.data = self.dir / "data"
        # As root, run the server-side tools as postgres; psql connects over the socket as any role (trust).
        self.as_owner: list[str] = []
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            os.chown(self.dir, owner.pw_uid, owner.pw_gid)
            self.as_owner = ["runuser", "-u", "postgres", "--"]

    @property
    def dsn(self) -> str:
        return f"postgresql://{DB_USER}:{DB_PASSWORD}@{HOST}:{self.port}/{DB_NAME}"

    def __enter__(self) -> Postgres:
        try:
            self._start()
        except BaseException:
            self.__exit__()
            raise
        return self

    def _start(self) -> None:
        _run(
            [
                *self.as_owner, str(self.bindir / "initdb"), "-D", str(self.data), "-U", "postgres", "-E", "UTF8",
                "--locale=C", "--auth-local=trust", "--auth-host=scram-sha-256", "--no-sync",
            ],
            "initdb",
        )  # fmt: skip
        settings = {
            **PG_SETTINGS,
            "listen_addresses": f"'{HOST}'",
            "port": str(self.port),
            "unix_socket_directories": f"'{self.dir}'",
        }
        with open(self.data / "postgresql.conf", "a") as conf:
            conf.write("\n# tiercel benchmarks\n" + "".join(f"{k} = {v}\n" for k, v in settings.items()))
        _run(
            [
                *self.as_owner, "taskset", "-c", str(LOAD_CPU), str(self.bindir / "pg_ctl"), "-D", str(self.data),
                "-l", str(self.dir / "postgres.log"), "-w", "-t", str(PG_TIMEOUT_S), "-s", "start",
            ],
            "pg_ctl start",
        )  # fmt: skip
        self.psql("postgres", "postgres", f"CREATE ROLE {DB_USER} LOGIN PASSWORD '{DB_PASSWORD}'")
        self.psql("postgres", "postgres", f"CREATE DATABASE {DB_NAME} OWNER {DB_USER}")
        self.psql(DB_USER, DB_NAME, file=SCHEMA)

    def psql(self, user: str, database: str, sql: str | None = None, *, file: Path | None = None) -> str:
        """Run one SQL command (or a file) over the cluster's Unix socket; return the unaligned output."""
        argv = [
            str(self.bindir / "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", str(self.dir),
            "-p", str(self.port), "-U", user, "-d", database,
        ]  # fmt: skip
        argv += ["-f", str(file)] if file else ["-c", str(sql)]
        return _run(argv, f"psql {file or sql}")

    def world_numbers(self, ids: list[int]) -> dict[int, int]:
        """randomnumber as stored now for the World rows ``ids``."""
        if not ids:
            return {}
        out = self.psql(DB_USER, DB_NAME, f"SELECT id, randomnumber FROM world WHERE id IN ({','.join(map(str, ids))})")
        return {int(i): int(n) for i, n in (line.split("|") for line in out.split())}

    def __exit__(self, *exc: object) -> None:
        if (self.data / "postmaster.pid").exists():
            pg_ctl = [*self.as_owner, str(self.bindir / "pg_ctl"), "-D", str(self.data), "-s", "-w", "-t", "30", "stop"]
            try:
                _run([*pg_ctl, "-m", "fast"], "pg_ctl stop", timeout=60)
            except (RuntimeError, subprocess.TimeoutExpired):
                self._kill_postmaster()
        shutil.rmtree(self.dir, ignore_errors=True)

    def _kill_postmaster(self) -> None:
        with contextlib.suppress(OSError, ValueError, IndexError):
            pid = int((self.data / "postmaster.pid").read_text().split()[0])
            os.kill(pid, signal.SIGQUIT)  # immediate shutdown: the postmaster takes its backends with it


def postgres_version() -> str | None:
    try:
        return _run([str(pg_bindir() / "postgres"), "--version"], "postgres --version").strip()
    except (RuntimeError, OSError):
        return None


# ------------------------------------------------------------------------------ TLS


@dataclass(frozen=True)
class TlsFiles:
    """A certificate for HOST (and localhost) from a CA made for the run, as PEM files every server can load."""

    cert: Path  # the server's certificate, signed by the CA itself (no intermediate)
    key: Path  # its private key, PKCS#8 (Granian reads no other format)
    ca: Path  # the CA's certificate: what the driver's checks trust

    def env(self) -> dict[str, str]:
        """The contract's variables for the apps (benchmarks/README.md): BENCH_TLS_CERT, BENCH_TLS_KEY."""
        return {"BENCH_TLS_CERT": str(self.cert), "BENCH_TLS_KEY": str(self.key)}


def make_tls_files(directory: Path) -> TlsFiles:
    """A fresh CA and a certificate for HOST and localhost, written into ``directory`` (created), with an ECDSA P-256
    key (trustme's default; the usual choice next to RSA 2048, and much cheaper to sign handshakes with). Made for
    one run, never committed."""
    import trustme
    from cryptography.hazmat.primitives import serialization

    directory.mkdir(parents=True)
    ca = trustme.CA()
    issued = ca.issue_cert(HOST, "localhost")
    files = TlsFiles(cert=directory / "cert.pem", key=directory / "key.pem", ca=directory / "ca.pem")
    issued.cert_chain_pems[0].write_to_path(str(files.cert))
    ca.cert_pem.write_to_path(str(files.ca))
    # trustme writes the "traditional" (SEC 1) key format; Granian (rustls) reads only PKCS#8, OpenSSL reads both.
    key = serialization.load_pem_private_key(issued.private_key_pem.bytes(), password=None)
    files.key.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    files.key.chmod(0o600)
    return files


# ---------------------------------------------------------------------------- nginx


def nginx_binary() -> str:
    return shutil.which("nginx") or "/usr/sbin/nginx"


def nginx_command(port: int, workdir: Path, tls: TlsFiles | None) -> list[str]:
    """Write nginx.conf for ``port`` into ``workdir`` (benchmarks/apps/nginx.conf.template, or with ``tls``
    nginx-tls.conf.template: string.Templates that also say `daemon off;`) and return the command that runs nginx
    in the foreground with everything (pid, temp files) in ``workdir`` and its log on stderr."""
    conf = workdir / "nginx.conf"
    from benchmarks.apps.bench_common import static_dir

    if tls is None:
        text = string.Template(NGINX_TEMPLATE.read_text()).substitute(
            host=HOST, port=port, workdir=workdir, static_dir=static_dir()
        )
    else:
        text = string.Template(NGINX_TLS_TEMPLATE.read_text()).substitute(
            host=HOST, port=port, workdir=workdir, cert=tls.cert, key=tls.key
        )
    conf.write_text(text)
    return [nginx_binary(), "-p", f"{workdir}/", "-c", str(conf), "-e", "stderr"]


def nginx_version() -> str | None:
    try:
        proc = subprocess.run([nginx_binary(), "-v"], check=False, capture_output=True, text=True, timeout=10)
    except OSError:
        return None
    return (proc.stderr or proc.stdout).strip() or None
