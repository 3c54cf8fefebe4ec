"""`elms db-stats`: the `database_performance_metrics` view (database-schema.md, monitoring),
which lives in the gateway's schema and covers every table of the four."""

from __future__ import annotations

from typing import Any

import asyncpg

COLUMNS = (
    "schemaname",
    "tablename",
    "size",
    "tuples_returned",
    "tuples_fetched",
    "tuples_inserted",
    "tuples_updated",
    "tuples_deleted",
)


async def read(admin_url: str) -> list[dict[str, Any]]:
    conn = await asyncpg.connect(admin_url)
    try:
        rows = await conn.fetch(
            f"SELECT {', '.join(COLUMNS)} FROM banking_gateway.database_performance_metrics"
            " ORDER BY schemaname, tablename"
        )
    finally:
        await conn.close()
    return [dict(row) for row in rows]


def render(rows: list[dict[str, Any]]) -> str:
    table = [COLUMNS, *([str(row[c]) for c in COLUMNS] for row in rows)]
    widths = [max(len(line[i]) for line in table) for i in range(len(COLUMNS))]
    return "\n".join(
        "  ".join(
            cell.ljust(width) if i < 3 else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(line, widths, strict=True))
        )
        for line in table
    )
