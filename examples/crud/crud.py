"""CRUD with PostgreSQL: a to-do list over asyncpg. The pool is opened at start-up and closed at shutdown; the
SQL files in migrations/ are applied in order at start-up, each once (a table records which ran); request bodies
are validated with pydantic (422); a missing row is a 404.

Run it with `DATABASE_URL=postgresql://user:password@localhost/dbname python examples/crud/crud.py`, then:

    curl -X POST localhost:8080/todos -d '{"title": "buy string"}'
    curl localhost:8080/todos
    curl -X PATCH localhost:8080/todos/1 -d '{"done": true}'
    curl -X DELETE localhost:8080/todos/1
"""

import logging
import os
import pathlib
from typing import Annotated

import asyncpg  # type: ignore[import-untyped]  # asyncpg ships no type hints
from pydantic import BaseModel, Field

from tiercel import HTTPException, Path, Tiercel

app = Tiercel(__file__)
log = logging.getLogger("crud")

MIGRATIONS = pathlib.Path(__file__).resolve().parent / "migrations"


async def migrate(pool: asyncpg.Pool) -> None:
    """Applies the migrations/NNN_name.sql files not yet recorded in schema_migrations, in order, in one
    transaction: all of them or none."""
    async with pool.acquire() as conn, conn.transaction():
        # Workers starting together: the first to take the lock migrates, the others wait and find nothing to do.
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext('schema_migrations'))")
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations"
            " (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        applied = {row["name"] for row in await conn.fetch("SELECT name FROM schema_migrations")}
        for path in sorted(MIGRATIONS.glob("[0-9][0-9][0-9]_*.sql")):
            if path.name not in applied:
                await conn.execute(path.read_text(encoding="utf-8"))
                await conn.execute("INSERT INTO schema_migrations (name) VALUES ($1)", path.name)
                log.info("applied migration %s", path.name)


@app.startup_handler
async def open_pool() -> None:
    app.state.pool = await asyncpg.create_pool(os.environ["DATABASE_URL"], min_size=1, max_size=8)
    await migrate(app.state.pool)


@app.shutdown_handler
async def close_pool() -> None:
    await app.state.pool.close()


class NewTodo(BaseModel):
    title: str = Field(min_length=1, max_length=200)


class TodoChanges(BaseModel):
    title: str | None = Field(default=None, min_length=1, max_length=200)
    done: bool | None = None


# A serial column holds 32-bit integers: a larger id is refused (422) rather than failing in the driver.
TodoId = Annotated[int, Path(ge=1, le=2**31 - 1)]


def not_found(todo_id: int) -> HTTPException:
    return HTTPException(404, detail={"error": f"no todo {todo_id}"})


@app.get("/todos")
async def list_todos():
    rows = await app.state.pool.fetch("SELECT id, title, done, created_at FROM todos ORDER BY id")
    return [dict(row) for row in rows]


@app.post("/todos", status_code=201)
async def create_todo(todo: NewTodo):
    row = await app.state.pool.fetchrow(
        "INSERT INTO todos (title) VALUES ($1) RETURNING id, title, done, created_at", todo.title
    )
    return dict(row)


@app.get("/todos/:todo_id")
async def read_todo(todo_id: TodoId):
    row = await app.state.pool.fetchrow("SELECT id, title, done, created_at FROM todos WHERE id = $1", todo_id)
    if row is None:
        raise not_found(todo_id)
    return dict(row)


@app.patch("/todos/:todo_id")
async def update_todo(todo_id: TodoId, changes: TodoChanges):
    # A field left out (None) keeps its value.
    row = await app.state.pool.fetchrow(
        "UPDATE todos SET title = coalesce($2, title), done = coalesce($3, done) WHERE id = $1"
        " RETURNING id, title, done, created_at",
        todo_id,
        changes.title,
        changes.done,
    )
    if row is None:
        raise not_found(todo_id)
    return dict(row)


@app.delete("/todos/:todo_id")
async def delete_todo(todo_id: TodoId):
    deleted = await app.state.pool.fetchval("DELETE FROM todos WHERE id = $1 RETURNING id", todo_id)
    if deleted is None:
        raise not_found(todo_id)
    return "", 204


if __name__ == "__main__":
    app.start(host="127.0.0.1", port=8080)
