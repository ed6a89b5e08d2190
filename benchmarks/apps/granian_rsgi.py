"""Granian RSGI hello app (Granian's own protocol, its fastest path), run by `granian --interface rsgi`."""

HEADERS = [("content-type", "text/plain")]


async def app(scope, proto):
    if scope.proto != "http":
        return
    proto.response_str(200 if scope.path == "/" else 404, HEADERS, "Hello, World!")
