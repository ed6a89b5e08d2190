"""examples/crud/crud.py run as a user runs it, against a throwaway PostgreSQL: create, list, read, update and
delete over HTTP, the 422s and 404s, and migrations that run once, in order, even with two workers starting."""

from __future__ import annotations

import re
import secrets
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = str(ROOT / "examples" / "crud" / "crud.py")
MIGRATIONS = sorted(p.name for p in (ROOT / "examples" / "crud" / "migrations").glob("*.sql"))


@pytest.fixture(scope="module")
def cluster() -> Iterator[object]:
    sys.path.append(str(ROOT))  # benchmarks.infra: the suite's PostgreSQL, after site-packages
    from benchmarks.infra import Postgres

    with Postgres() as pg:
        yield pg


@pytest.fixture
def database_url(cluster) -> str:
    """A database of its own for each test, in the module's cluster."""
    name = "crud_" + secrets.token_hex(4)
    cluster.psql("postgres", "postgres", f"CREATE DATABASE {name} OWNER bench")
    return cluster.dsn.rsplit("/", 1)[0] + "/" + name


def applied(output: list[str]) -> list[str]:
    return re.findall(r"applied migration (\S+)", "".join(output))


def test_create_read_update_delete(run_script, database_url: str) -> None:
    server = run_script(EXAMPLE, env={"DATABASE_URL": database_url})
    with httpx.Client(base_url=server.url, timeout=10) as client:
        assert client.get("/todos").json() == []
        created = client.post("/todos", json={"title": "buy string"})
        assert created.status_code == 201
        todo = created.json()
        assert todo["title"] == "buy string" and todo["done"] is False and todo["id"] >= 1
        second = client.post("/todos", json={"title": "wind the clock"}).json()

        assert client.get(f"/todos/{todo['id']}").json() == todo
        assert [t["title"] for t in client.get("/todos").json()] == ["buy string", "wind the clock"]

        done = client.patch(f"/todos/{todo['id']}", json={"done": True})
        assert done.status_code == 200
        assert done.json() == {**todo, "done": True}  # the title is kept
        renamed = client.patch(f"/todos/{todo['id']}", json={"title": "buy more string"}).json()
        assert renamed == {**todo, "done": True, "title": "buy more string"}
        assert client.get(f"/todos/{todo['id']}").json() == renamed

        deleted = client.delete(f"/todos/{todo['id']}")
        assert (deleted.status_code, deleted.content) == (204, b"")
        assert client.get("/todos").json() == [second]

        for method in ("GET", "PATCH", "DELETE"):
            missing = client.request(method, f"/todos/{todo['id']}", json={"done": False})
            assert missing.status_code == 404, method
            assert missing.json() == {"error": f"no todo {todo['id']}"}
    assert server.stop() == 0  # the shutdown handler closes the pool


def test_bad_input_is_refused(run_script, database_url: str) -> None:
    server = run_script(EXAMPLE, env={"DATABASE_URL": database_url})
    with httpx.Client(base_url=server.url, timeout=10) as client:
        for body in ({}, {"title": ""}, {"title": "x" * 201}, {"title": 5}, ["buy string"]):
            refused = client.post("/todos", json=body)
            assert refused.status_code == 422, body
            assert refused.json()["detail"][0]["type"], body  # pydantic's errors, in FastAPI's shape
        missing = client.post("/todos", json={}).json()["detail"]
        assert [e["loc"][-1] for e in missing] == ["title"]
        bad_json = client.post("/todos", content=b"{not json", headers={"Content-Type": "application/json"})
        assert bad_json.status_code == 422
        assert bad_json.json()["detail"][0]["type"] == "json_invalid"

        todo = client.post("/todos", json={"title": "buy string"}).json()
        assert client.patch(f"/todos/{todo['id']}", json={"done": "perhaps"}).status_code == 422
        assert client.patch(f"/todos/{todo['id']}", json={"title": ""}).status_code == 422
        # Ids outside a serial column's range are refused before the query, not a 500 from the driver.
        for bad_id in ("0", "-1", str(2**31), "99999999999999999999"):
            assert client.get(f"/todos/{bad_id}").status_code == 422, bad_id
        not_a_number = client.get("/todos/abc")
        assert not_a_number.status_code == 422
        assert not_a_number.json()["detail"][0]["loc"] == ["path", "todo_id"]
        assert client.get("/todos").json() == [todo]  # nothing refused was stored


def test_migrations_run_once_in_order(run_script, cluster, database_url: str) -> None:
    assert MIGRATIONS == ["001_create_todos.sql", "002_add_done.sql"]
    first = run_script(EXAMPLE, env={"DATABASE_URL": database_url})
    assert applied(first.output) == MIGRATIONS
    todo = httpx.post(first.url + "/todos", json={"title": "survive a restart"}).json()
    assert first.stop() == 0

    again = run_script(EXAMPLE, env={"DATABASE_URL": database_url})
    assert applied(again.output) == []
    assert httpx.get(again.url + "/todos").json() == [todo]
    assert again.stop() == 0

    name = database_url.rsplit("/", 1)[1]
    recorded = cluster.psql("bench", name, "SELECT name FROM schema_migrations ORDER BY applied_at, name")
    assert recorded.split() == MIGRATIONS


def test_two_workers_starting_together_migrate_once(run_script, database_url: str) -> None:
    server = run_script(EXAMPLE, env={"DATABASE_URL": database_url, "TIERCEL_PROCESSES": "2"})
    assert server.wait_for_lines("applied migration", len(MIGRATIONS), 20)
    with httpx.Client(base_url=server.url, timeout=10) as client:
        created = [client.post("/todos", json={"title": f"todo {i}"}).status_code for i in range(6)]
        assert created == [201] * 6
    assert server.stop() == 0
    assert applied(server.output) == MIGRATIONS
