"""Small builders for the SQL every repository writes the same way. Table and column names
always come from the repository's own constants, never from a request; values are always
bound parameters."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from asyncpg import Connection, Record


def insert(table: str, columns: Iterable[str], returning: str | None = None) -> str:
    names = list(columns)
    placeholders = ", ".join(f"${i}" for i in range(1, len(names) + 1))
    sql = f"INSERT INTO {table} ({', '.join(names)}) VALUES ({placeholders})"
    return f"{sql} RETURNING {returning}" if returning else sql


def assignments(columns: Iterable[str], first: int, *fixed: str) -> str:
    """`a = $first, b = $first+1, …` and the `fixed` ones, for an UPDATE's SET list."""
    numbered = [f"{column} = ${i}" for i, column in enumerate(columns, start=first)]
    return ", ".join([*numbered, *fixed])


def conditions(filters: Sequence[tuple[str, Any]], args: list[Any]) -> list[str]:
    """One condition per filter whose value is not None, its value appended to `args`. Each
    filter is a SQL fragment with `{}` where the parameter goes (`"status = {}"`)."""
    found = []
    for fragment, value in filters:
        if value is not None:
            args.append(value)
            found.append(fragment.format(f"${len(args)}"))
    return found


async def fetch_page(
    conn: Connection,
    *,
    source: str,
    columns: str,
    where: list[str],
    args: list[Any],
    order_by: str,
    limit: int,
    offset: int,
) -> tuple[list[Record], int]:
    """One page of rows and the total count: the list shape of api.md §1."""
    clause = f" WHERE {' AND '.join(where)}" if where else ""
    total = await conn.fetchval(f"SELECT count(*) FROM {source}{clause}", *args)
    n = len(args)
    rows = await conn.fetch(
        f"SELECT {columns} FROM {source}{clause} ORDER BY {order_by}"
        f" LIMIT ${n + 1} OFFSET ${n + 2}",
        *args,
        limit,
        offset,
    )
    return rows, total
