"""TLS termination in the native transport: TLS 1.2 and 1.3, ALPN, SNI with several certificates, session
resumption, client certificates (mTLS), plain HTTP to the TLS port, handshake timeouts and failures, certificate
reload without dropping connections, and every feature (bodies, files, streams, WebSockets) over TLS. The
certificates are made by the suite itself (trustme)."""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import socket
import ssl
import threading
import time
import warnings

import httpx
import pytest
import trustme
from cryptography.hazmat.primitives import serialization

from tiercel import StreamingResponse, Tiercel, WebSocketDisconnect


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def certs(ca, tmp_path):
    """Files: a certificate for localhost/127.0.0.1/a.test (key and chain in one file), one for b.test, the CA."""
    paths = {}
    for name, identities in (("a", ("localhost", "127.0.0.1", "a.test")), ("b", ("b.test",))):
        cert = ca.issue_cert(*identities)
        paths[name] = str(tmp_path / f"{name}.pem")
        cert.private_key_and_cert_chain_pem.write_to_path(paths[name])
    paths["ca"] = str(tmp_path / "ca.pem")
    ca.cert_pem.write_to_path(paths["ca"])
    return paths


def client_context(ca: trustme.CA, **kw) -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ca.configure_trust(ctx)
    for k, v in kw.items():
        setattr(ctx, k, v)
    return ctx


def make_app(tmp_path=None) -> Tiercel:
    app = Tiercel(__file__)

    @app.get("/info")
    def info(request):
        return {"scheme": request.url.scheme, "tls": request.tls, "cert": request.client_cert}

    @app.post("/echo")
    def echo(request):
        return request.raw_body

    @app.get("/big")
    def big():
        return b"b" * 65536

    @app.get("/stream")
    def stream():
        return StreamingResponse(f"line {i}\n" for i in range(1000))

    @app.websocket("/ws")
    async def ws(websocket):
        try:
            while True:
                await websocket.send_text(await websocket.receive_text())
        except WebSocketDisconnect:
            return

    if tmp_path is not None:
        app.serve_directory("/files", str(tmp_path))
    return app


def tls_serve(serve, certs, app=None, **settings):
    return serve(app or make_app(), ssl_certfile=certs["a"], **settings)


def https(s) -> str:
    return f"https://127.0.0.1:{s.port}"


def test_https_versions_and_alpn(serve, certs, ca):
    s = tls_serve(serve, certs)
    with httpx.Client(verify=client_context(ca)) as c:
        body = c.get(https(s) + "/info").json()
    assert body["scheme"] == "https" and body["cert"] is None
    assert body["tls"]["version"] == "TLSv1.3" and body["tls"]["resumed"] is False
    assert body["tls"]["alpn"] == "http/1.1"  # httpx offers http/1.1 only without http2=True
    # TLS 1.2, with the ALPN offer of a browser (h2 first): h2 is agreed (tests/test_http2.py speaks it); with
    # http2 off, HTTP/1.1
    ctx = client_context(ca, maximum_version=ssl.TLSVersion.TLSv1_2)
    ctx.set_alpn_protocols(["h2", "http/1.1"])
    with socket.create_connection(("127.0.0.1", s.port)) as raw, ctx.wrap_socket(raw, server_hostname="localhost") as t:
        assert t.selected_alpn_protocol() == "h2"
    s = tls_serve(serve, certs, http2=False)
    with socket.create_connection(("127.0.0.1", s.port)) as raw, ctx.wrap_socket(raw, server_hostname="localhost") as t:
        assert t.version() == "TLSv1.2" and t.selected_alpn_protocol() == "http/1.1"
        assert "GCM" in t.cipher()[0] or "CHACHA20" in t.cipher()[0]  # AEAD suites only
        t.sendall(b"GET /info HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        data = read_all(t)
    assert b'"version":"TLSv1.2"' in data
    # TLS 1.1 and older are refused, and the server goes on
    old = client_context(ca)
    with warnings.catch_warnings():  # Python deprecates TLS 1.0/1.1 too: this client offers them on purpose
        warnings.simplefilter("ignore", DeprecationWarning)
        old.minimum_version = ssl.TLSVersion.TLSv1
        old.maximum_version = ssl.TLSVersion.TLSv1_1
    old.set_ciphers("DEFAULT:@SECLEVEL=0")
    with pytest.raises(ssl.SSLError), socket.create_connection(("127.0.0.1", s.port)) as raw:
        old.wrap_socket(raw, server_hostname="localhost")
    assert httpx.get(https(s) + "/info", verify=client_context(ca)).status_code == 200


def read_all(sock) -> bytes:
    chunks = []
    while True:
        try:
            data = sock.recv(65536)
        except (ssl.SSLZeroReturnError, ConnectionResetError):
            break
        if not data:
            break
        chunks.append(data)
    return b"".join(chunks)


def peer_names(s, ctx, server_hostname) -> list[str]:
    with (
        socket.create_connection(("127.0.0.1", s.port)) as raw,
        ctx.wrap_socket(raw, server_hostname=server_hostname) as t,
    ):
        return [v for k, v in t.getpeercert()["subjectAltName"] if k == "DNS"]


def test_sni_picks_the_certificate(serve, certs, ca):
    s = serve(make_app(), ssl_certfile=f"{certs['a']},{certs['b']}")
    ctx = client_context(ca)
    assert "b.test" in peer_names(s, ctx, "b.test")
    assert "a.test" in peer_names(s, ctx, "a.test")
    ctx.check_hostname = False
    assert "a.test" in peer_names(s, ctx, "unknown.test")  # no match: the first certificate


def test_session_resumption(serve, certs, ca):
    s = tls_serve(serve, certs)
    for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
        ctx = client_context(ca, maximum_version=version)
        with (
            socket.create_connection(("127.0.0.1", s.port)) as raw,
            ctx.wrap_socket(raw, server_hostname="localhost") as t,
        ):
            t.sendall(b"GET /info HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            read_all(t)  # TLS 1.3 tickets come after the handshake: read them
            session = t.session
        with (
            socket.create_connection(("127.0.0.1", s.port)) as raw,
            ctx.wrap_socket(raw, server_hostname="localhost", session=session) as t,
        ):
            t.sendall(b"GET /info HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            data = read_all(t)
            assert t.session_reused, version
        assert b'"resumed":true' in data


def test_client_certificates(serve, certs, ca, tmp_path):
    client = ca.issue_cert("client.test")
    client_pem = str(tmp_path / "client.pem")
    client.private_key_and_cert_chain_pem.write_to_path(client_pem)
    s = tls_serve(serve, certs, ssl_ca_certs=certs["ca"], ssl_cert_reqs="required")
    with_cert = client_context(ca)
    with_cert.load_cert_chain(client_pem)
    body = httpx.get(https(s) + "/info", verify=with_cert).json()
    assert "client.test" in body["cert"]["dns_names"]
    assert body["cert"]["issuer"] and body["cert"]["pem"].startswith("-----BEGIN CERTIFICATE-----")
    with pytest.raises((httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError)):
        httpx.get(https(s) + "/info", verify=client_context(ca))  # no certificate: refused
    other_ca = trustme.CA().issue_cert("intruder.test")
    intruder = str(tmp_path / "intruder.pem")
    other_ca.private_key_and_cert_chain_pem.write_to_path(intruder)
    bad = client_context(ca)
    bad.load_cert_chain(intruder)
    with pytest.raises((httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError)):
        httpx.get(https(s) + "/info", verify=bad)  # a certificate from another CA: refused
    assert httpx.get(https(s) + "/info", verify=with_cert).status_code == 200
    optional = tls_serve(serve, certs, ssl_ca_certs=certs["ca"], ssl_cert_reqs="optional")
    assert httpx.get(https(optional) + "/info", verify=client_context(ca)).json()["cert"] is None
    assert httpx.get(https(optional) + "/info", verify=with_cert).json()["cert"]["subject"]


def test_plain_http_to_the_tls_port(serve, certs):
    s = tls_serve(serve, certs)
    with socket.create_connection(("127.0.0.1", s.port), timeout=5) as c:
        c.sendall(b"GET /info HTTP/1.1\r\nHost: x\r\n\r\n")
        data = read_all(c)
    assert data.startswith(b"HTTP/1.1 400 Bad Request") and b"https://" in data
    head, body = data.split(b"\r\n\r\n", 1)
    assert f"Content-Length: {len(body)}".encode() in head


def test_handshake_timeout_and_garbage(serve, certs, ca):
    s = tls_serve(serve, certs, header_timeout=1)
    with socket.create_connection(("127.0.0.1", s.port), timeout=5) as c:
        t0 = time.monotonic()
        c.sendall(b"\x16\x03\x01")  # the start of a ClientHello, and nothing more
        assert read_all(c) == b""
        assert 0.9 <= time.monotonic() - t0 < 4
    with socket.create_connection(("127.0.0.1", s.port), timeout=5) as c:
        c.sendall(b"\x16\x03\x01\x00\x05hello" + os.urandom(300))  # a record that is no ClientHello
        data = read_all(c)
        assert data[:1] in (b"", b"\x15")  # nothing, or an alert
    assert httpx.get(https(s) + "/info", verify=client_context(ca)).status_code == 200
    assert s.server.engine.tls_failures >= 1 and "TLS handshake failed" in s.server.engine.last_tls_error


def test_bodies_files_streams_and_websockets_over_tls(serve, certs, ca, tmp_path):
    files = tmp_path / "files"
    files.mkdir()
    blob = os.urandom(8 << 20)
    (files / "big.bin").write_bytes(blob)
    s = tls_serve(serve, certs, app=make_app(files), max_body=32 << 20)
    with httpx.Client(verify=client_context(ca), base_url=https(s), timeout=30) as c:
        upload = os.urandom(5 << 20)
        assert c.post("/echo", content=upload).content == upload
        r = c.get("/files/big.bin")
        assert hashlib.sha256(r.content).digest() == hashlib.sha256(blob).digest()
        assert c.get("/files/big.bin", headers={"Range": "bytes=100-199"}).content == blob[100:200]
        assert c.get("/stream").text == "".join(f"line {i}\n" for i in range(1000))

    from websockets.asyncio.client import connect

    async def talk():
        async with connect(f"wss://localhost:{s.port}/ws", ssl=client_context(ca)) as ws:
            await ws.send("over tls")
            return await ws.recv()

    assert asyncio.run(talk()) == "over tls"


def test_pipelined_requests_with_a_slow_reader(serve, certs, ca):
    """Many requests in one TLS write while the client reads slowly: the session stops reading, and the records
    OpenSSL already holds are handed on when it resumes (no new bytes will arrive to trigger it)."""
    s = tls_serve(serve, certs)
    ctx = client_context(ca)
    n = 120
    with (
        socket.create_connection(("127.0.0.1", s.port), timeout=20) as raw,
        ctx.wrap_socket(raw, server_hostname="localhost") as t,
    ):
        t.sendall(
            b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n" * n + b"GET /info HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        data = b""
        while True:
            chunk = t.recv(65536)
            if not chunk:
                break
            data += chunk
            if len(data) < 2 << 20:
                time.sleep(0.001)
    assert data.count(b"HTTP/1.1 200 OK") == n + 1
    assert data.endswith(b"}") and b'"scheme":"https"' in data


def test_certificate_reload_keeps_open_connections(serve, certs, ca, tmp_path):
    s = tls_serve(serve, certs)
    ctx = client_context(ca)
    ctx.check_hostname = False
    with httpx.Client(verify=ctx, base_url=https(s)) as kept:
        assert kept.get("/info").status_code == 200
        # Replace the certificate file with one for another name, then reload.
        ca.issue_cert("reloaded.test").private_key_and_cert_chain_pem.write_to_path(certs["a"])
        assert s.call(s.server.reload_tls) is True
        assert "reloaded.test" in peer_names(s, ctx, "localhost")  # new connections: the new certificate
        assert kept.get("/info").status_code == 200  # the open connection goes on
        # A broken file is refused and the working certificate stays.
        with open(certs["a"], "w") as f:
            f.write("not a certificate")
        assert s.call(s.server.reload_tls) is False
        assert "reloaded.test" in peer_names(s, ctx, "localhost")


def test_sighup_reloads_certificates(run_script, certs, ca, tmp_path):
    script = tmp_path / "tls_app.py"
    script.write_text(
        "import os\nfrom tiercel import Tiercel\napp = Tiercel(__file__)\n"
        "@app.get('/')\ndef index():\n    return 'hi'\n"
        f"app.start(host='127.0.0.1', port=int(os.environ['TIERCEL_PORT']), ssl_certfile={certs['a']!r})\n"
    )
    p = run_script(str(script))
    ctx = client_context(ca)
    ctx.check_hostname = False
    assert "a.test" in peer_names(p, ctx, "localhost")
    ca.issue_cert("after-hup.test").private_key_and_cert_chain_pem.write_to_path(certs["a"])
    p.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 5
    while "after-hup.test" not in peer_names(p, ctx, "localhost"):
        assert time.monotonic() < deadline, "SIGHUP did not reload the certificate"
        time.sleep(0.05)
    assert p.proc.poll() is None


def test_encrypted_keys_and_bad_settings(serve, ca, tmp_path):
    cert = ca.issue_cert("localhost", "127.0.0.1")
    key = serialization.load_pem_private_key(cert.private_key_pem.bytes(), password=None)
    encrypted = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"s3cret"),
    )
    (tmp_path / "key.pem").write_bytes(encrypted)
    cert.cert_chain_pems[0].write_to_path(str(tmp_path / "cert.pem"))
    files = {"ssl_certfile": str(tmp_path / "cert.pem"), "ssl_keyfile": str(tmp_path / "key.pem")}
    s = serve(make_app(), ssl_keyfile_password="s3cret", **files)
    assert httpx.get(https(s) + "/info", verify=client_context(ca)).status_code == 200
    with pytest.raises(ValueError, match="ssl_keyfile_password"):
        serve(make_app(), **files)
    with pytest.raises(ValueError, match="is ssl_keyfile_password right"):
        serve(make_app(), ssl_keyfile_password="wrong", **files)
    other = ca.issue_cert("other")
    other.private_key_pem.write_to_path(str(tmp_path / "other-key.pem"))
    with pytest.raises(ValueError, match="does not match"):
        serve(make_app(), ssl_certfile=files["ssl_certfile"], ssl_keyfile=str(tmp_path / "other-key.pem"))
    with pytest.raises(ValueError, match="cannot load the certificate"):
        serve(make_app(), ssl_certfile=str(tmp_path / "missing.pem"))
    with pytest.raises(ValueError, match="needs ssl_ca_certs"):
        serve(make_app(), ssl_cert_reqs="required", **files, ssl_keyfile_password="s3cret")
    with pytest.raises(ValueError, match="ssl_certfile is not"):
        serve(make_app(), ssl_keyfile=files["ssl_keyfile"])
    with pytest.raises(ValueError, match="no usable cipher"):
        serve(make_app(), ssl_ciphers="NOT-A-CIPHER", ssl_keyfile_password="s3cret", **files)


def test_many_concurrent_handshakes(serve, certs, ca):
    s = tls_serve(serve, certs)
    errors: list[BaseException] = []

    def client():
        try:
            with httpx.Client(verify=client_context(ca)) as c:
                for _ in range(5):
                    assert c.get(https(s) + "/info").json()["scheme"] == "https"
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=client) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []


def test_metrics_count_tls_requests(serve, certs, ca):
    """The TLS settings make the server early; requests must still reach the metrics (and the access log)."""
    s = tls_serve(serve, certs, metrics="/metrics")
    with httpx.Client(verify=client_context(ca), base_url=https(s)) as c:
        for _ in range(3):
            c.get("/info")
        text = c.get("/metrics").text
    assert 'tiercel_requests_total{route="/info",method="GET",status="2xx"} 3' in text


def test_unset_tls_settings_may_be_given_as_none():
    from tiercel.config import resolve

    s = resolve({"ssl_certfile": None, "ssl_keyfile": None, "ssl_ca_certs": None})
    assert s.ssl_certfile is None and s.ssl_keyfile is None
