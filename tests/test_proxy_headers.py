"""Proxy headers: X-Forwarded-For/-Proto and Forwarded set request.ip_addr and url.scheme, from trusted proxies
only."""

from __future__ import annotations

import httpx
import pytest

from tiercel import Tiercel


def make_app() -> Tiercel:
    app = Tiercel(__file__)

    @app.get("/who")
    def who(request):
        return {"ip": request.ip_addr, "scheme": request.url.scheme}

    return app


@pytest.mark.parametrize(
    "headers, expected",
    [
        ({}, {"ip": "127.0.0.1", "scheme": "http"}),
        ({"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"}, {"ip": "203.0.113.7", "scheme": "https"}),
        # The rightmost address that is not a trusted proxy is the client (the left part can be forged).
        ({"X-Forwarded-For": "1.1.1.1, 203.0.113.7, 127.0.0.1"}, {"ip": "203.0.113.7", "scheme": "http"}),
        ({"X-Forwarded-For": "[2001:db8::1]:4711"}, {"ip": "2001:db8::1", "scheme": "http"}),
        ({"Forwarded": "for=192.0.2.60;proto=https;by=203.0.113.43"}, {"ip": "192.0.2.60", "scheme": "https"}),
        (
            {"Forwarded": 'for="[2001:db8:cafe::17]:4711";proto=http, for=127.0.0.1'},
            {"ip": "2001:db8:cafe::17", "scheme": "http"},
        ),  # fmt: skip
        # Forwarded wins over X-Forwarded-*; garbage is ignored.
        ({"Forwarded": "for=198.51.100.2", "X-Forwarded-For": "203.0.113.9"}, {"ip": "198.51.100.2", "scheme": "http"}),
        ({"X-Forwarded-For": "not-an-ip", "X-Forwarded-Proto": "gopher"}, {"ip": "127.0.0.1", "scheme": "http"}),
    ],
)
def test_trusted_proxy(serve, headers, expected):
    s = serve(make_app(), proxy_headers=True)  # 127.0.0.1 is trusted by default
    assert httpx.get(s.url + "/who", headers=headers).json() == expected


def test_untrusted_peer_is_ignored(serve):
    s = serve(make_app(), proxy_headers=True, forwarded_allow_ips="10.0.0.0/8, ::1")
    r = httpx.get(s.url + "/who", headers={"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"})
    assert r.json() == {"ip": "127.0.0.1", "scheme": "http"}


def test_off_by_default(serve):
    s = serve(make_app())
    r = httpx.get(s.url + "/who", headers={"X-Forwarded-For": "203.0.113.7", "Forwarded": "for=1.2.3.4"})
    assert r.json() == {"ip": "127.0.0.1", "scheme": "http"}


def test_trust_everyone_and_networks(serve):
    chain = {"X-Forwarded-For": "203.0.113.7, 198.51.100.9, 10.1.2.3"}
    s = serve(make_app(), proxy_headers=True, forwarded_allow_ips="*")
    assert httpx.get(s.url + "/who", headers=chain).json()["ip"] == "203.0.113.7"  # every hop trusted: the leftmost
    s = serve(make_app(), proxy_headers=True, forwarded_allow_ips="127.0.0.0/8,10.0.0.0/8")
    assert httpx.get(s.url + "/who", headers=chain).json()["ip"] == "198.51.100.9"  # the first untrusted from the right
