"""All SQL of the customer service. Functions take a connection inside the caller's transaction
and return domain dataclasses; none of them opens or commits a transaction."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from asyncpg import Connection

from elms.core import sql
from elms.customer.domain import (
    Address,
    CreditPosition,
    Customer,
    HistoryEntry,
    Reservation,
)

_CUSTOMER = """customer_id, first_name, last_name, email, phone, date_of_birth,
    identification_number, identification_type, credit_limit, available_credit, used_credit,
    annual_income, employment_status, credit_score, account_status, kyc_status, risk_level,
    created_at, updated_at, last_login_at, version"""
_ADDRESS = """address_id, customer_id, address_type, street, city, state, zip_code, country,
    is_primary, created_at, updated_at"""
_RESERVATION = """reservation_id, customer_id, reserved_amount, purpose, loan_application_id,
    status, created_at, expires_at, released_at, actual_amount_used, notes"""
_HISTORY = """history_id, customer_id, transaction_type, amount, previous_available_credit,
    new_available_credit, reference_id, reference_type, description, created_at"""

# Columns a customer update may set; the names come from here, never from the request.
UPDATABLE = frozenset(
    {
        "first_name",
        "last_name",
        "email",
        "phone",
        "date_of_birth",
        "identification_number",
        "identification_type",
        "annual_income",
        "employment_status",
        "credit_score",
        "risk_level",
        "account_status",
        "kyc_status",
        "credit_limit",
        "available_credit",
    }
)


# --- customers ------------------------------------------------------------------------------


async def insert_customer(conn: Connection, values: dict[str, Any]) -> Customer:
    row = await conn.fetchrow(sql.insert("customers", values, _CUSTOMER), *values.values())
    return Customer(**row)


async def get_customer(conn: Connection, customer_id: str) -> Customer | None:
    row = await conn.fetchrow(
        f"SELECT {_CUSTOMER} FROM customers WHERE customer_id = $1", customer_id
    )
    return Customer(**row) if row else None


async def lock_customer(conn: Connection, customer_id: str) -> Customer | None:
    """The customer row, locked until the transaction ends: every credit movement takes it
    first, so two movements of one customer run one after the other."""
    row = await conn.fetchrow(
        f"SELECT {_CUSTOMER} FROM customers WHERE customer_id = $1 FOR UPDATE", customer_id
    )
    return Customer(**row) if row else None


async def update_customer(
    conn: Connection, customer_id: str, changes: dict[str, Any], now: datetime
) -> Customer:
    unknown = set(changes) - UPDATABLE
    if unknown:
        raise ValueError(f"not updatable: {sorted(unknown)}")
    row = await conn.fetchrow(
        f"UPDATE customers SET {sql.assignments(changes, 3, 'updated_at = $2')},"
        f" version = version + 1 WHERE customer_id = $1 RETURNING {_CUSTOMER}",
        customer_id,
        now,
        *changes.values(),
    )
    return Customer(**row)


async def set_credit(
    conn: Connection, customer_id: str, credit: CreditPosition, now: datetime
) -> Customer:
    row = await conn.fetchrow(
        f"""UPDATE customers
            SET credit_limit = $2, available_credit = $3, used_credit = $4, updated_at = $5,
                version = version + 1
            WHERE customer_id = $1 RETURNING {_CUSTOMER}""",
        customer_id,
        credit.limit,
        credit.available,
        credit.used,
        now,
    )
    return Customer(**row)


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def list_customers(
    conn: Connection, status: str | None, query: str | None, limit: int, offset: int
) -> tuple[list[Customer], int]:
    args: list[Any] = []
    pattern = f"%{_escape_like(query)}%" if query else None
    where = sql.conditions(
        [
            ("account_status = {}", status),
            (
                "(first_name ILIKE {0} OR last_name ILIKE {0} OR email ILIKE {0}"
                " OR (first_name || ' ' || last_name) ILIKE {0})",
                pattern,
            ),
        ],
        args,
    )
    rows, total = await sql.fetch_page(
        conn,
        source="customers",
        columns=_CUSTOMER,
        where=where,
        args=args,
        order_by="created_at DESC, customer_id DESC",
        limit=limit,
        offset=offset,
    )
    return [Customer(**r) for r in rows], total


# --- addresses ------------------------------------------------------------------------------


async def list_addresses(conn: Connection, customer_id: str) -> list[Address]:
    rows = await conn.fetch(
        f"SELECT {_ADDRESS} FROM customer_addresses WHERE customer_id = $1"
        " ORDER BY is_primary DESC, address_id",
        customer_id,
    )
    return [Address(**r) for r in rows]


async def get_address(conn: Connection, customer_id: str, address_id: int) -> Address | None:
    row = await conn.fetchrow(
        f"SELECT {_ADDRESS} FROM customer_addresses WHERE customer_id = $1 AND address_id = $2",
        customer_id,
        address_id,
    )
    return Address(**row) if row else None


async def insert_address(conn: Connection, customer_id: str, values: dict[str, Any]) -> Address:
    row = await conn.fetchrow(
        sql.insert("customer_addresses", ["customer_id", *values], _ADDRESS),
        customer_id,
        *values.values(),
    )
    return Address(**row)


_ADDRESS_COLUMNS = frozenset(
    {"address_type", "street", "city", "state", "zip_code", "country", "is_primary"}
)


async def update_address(
    conn: Connection, address_id: int, changes: dict[str, Any], now: datetime
) -> Address:
    if set(changes) - _ADDRESS_COLUMNS:
        raise ValueError(f"not updatable: {sorted(set(changes) - _ADDRESS_COLUMNS)}")
    row = await conn.fetchrow(
        f"UPDATE customer_addresses SET {sql.assignments(changes, 3, 'updated_at = $2')}"
        f" WHERE address_id = $1 RETURNING {_ADDRESS}",
        address_id,
        now,
        *changes.values(),
    )
    return Address(**row)


async def clear_primary(conn: Connection, customer_id: str, now: datetime) -> None:
    await conn.execute(
        "UPDATE customer_addresses SET is_primary = false, updated_at = $2"
        " WHERE customer_id = $1 AND is_primary",
        customer_id,
        now,
    )


async def delete_address(conn: Connection, address_id: int) -> None:
    await conn.execute("DELETE FROM customer_addresses WHERE address_id = $1", address_id)


async def promote_oldest_address(conn: Connection, customer_id: str, now: datetime) -> None:
    await conn.execute(
        """UPDATE customer_addresses SET is_primary = true, updated_at = $2
           WHERE address_id = (SELECT min(address_id) FROM customer_addresses
                               WHERE customer_id = $1)""",
        customer_id,
        now,
    )


# --- reservations ---------------------------------------------------------------------------


async def insert_reservation(conn: Connection, values: dict[str, Any]) -> Reservation:
    row = await conn.fetchrow(
        sql.insert("credit_reservations", values, _RESERVATION), *values.values()
    )
    return Reservation(**row)


async def lock_reservation(
    conn: Connection, customer_id: str, reservation_id: str
) -> Reservation | None:
    row = await conn.fetchrow(
        f"SELECT {_RESERVATION} FROM credit_reservations"
        " WHERE reservation_id = $1 AND customer_id = $2 FOR UPDATE",
        reservation_id,
        customer_id,
    )
    return Reservation(**row) if row else None


async def close_reservation(
    conn: Connection, reservation_id: str, status: str, amount_used: Decimal, now: datetime
) -> Reservation:
    row = await conn.fetchrow(
        f"""UPDATE credit_reservations
            SET status = $2, actual_amount_used = $3, released_at = $4
            WHERE reservation_id = $1 RETURNING {_RESERVATION}""",
        reservation_id,
        status,
        amount_used,
        now,
    )
    return Reservation(**row)


async def active_reservation_totals(conn: Connection, customer_id: str) -> tuple[int, Decimal]:
    row = await conn.fetchrow(
        "SELECT count(*) AS n, coalesce(sum(reserved_amount), 0.00) AS total"
        " FROM credit_reservations WHERE customer_id = $1 AND status = 'ACTIVE'",
        customer_id,
    )
    return row["n"], row["total"]


async def list_reservations(
    conn: Connection, customer_id: str, status: str | None, limit: int, offset: int
) -> tuple[list[Reservation], int]:
    args: list[Any] = []
    where = sql.conditions([("customer_id = {}", customer_id), ("status = {}", status)], args)
    rows, total = await sql.fetch_page(
        conn,
        source="credit_reservations",
        columns=_RESERVATION,
        where=where,
        args=args,
        order_by="created_at DESC, reservation_id DESC",
        limit=limit,
        offset=offset,
    )
    return [Reservation(**r) for r in rows], total


async def find_expired_reservations(
    conn: Connection, now: datetime, limit: int
) -> list[tuple[str, str]]:
    rows = await conn.fetch(
        "SELECT customer_id, reservation_id FROM credit_reservations"
        " WHERE status = 'ACTIVE' AND expires_at < $1 ORDER BY expires_at LIMIT $2",
        now,
        limit,
    )
    return [(r["customer_id"], r["reservation_id"]) for r in rows]


async def try_lock_customer(conn: Connection, customer_id: str) -> Customer | None:
    """Like `lock_customer`, but skips a customer another transaction holds (workers)."""
    row = await conn.fetchrow(
        f"SELECT {_CUSTOMER} FROM customers WHERE customer_id = $1 FOR UPDATE SKIP LOCKED",
        customer_id,
    )
    return Customer(**row) if row else None


# --- credit history -------------------------------------------------------------------------


async def insert_history(
    conn: Connection,
    customer_id: str,
    transaction_type: str,
    amount: Decimal,
    before: Decimal,
    after: Decimal,
    reference: tuple[str | None, str | None],
    description: str,
    now: datetime,
) -> None:
    await conn.execute(
        """INSERT INTO credit_history (customer_id, transaction_type, amount,
               previous_available_credit, new_available_credit, reference_id, reference_type,
               description, created_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)""",
        customer_id,
        transaction_type,
        amount,
        before,
        after,
        reference[0],
        reference[1],
        description,
        now,
    )


async def has_history(
    conn: Connection, customer_id: str, transaction_type: str, reference_id: str
) -> bool:
    return bool(
        await conn.fetchval(
            "SELECT true FROM credit_history WHERE customer_id = $1 AND transaction_type = $2"
            " AND reference_id = $3 LIMIT 1",
            customer_id,
            transaction_type,
            reference_id,
        )
    )


async def find_restore(
    conn: Connection, customer_id: str, reference_id: str
) -> HistoryEntry | None:
    row = await conn.fetchrow(
        f"SELECT {_HISTORY} FROM credit_history WHERE customer_id = $1 AND reference_id = $2"
        " AND transaction_type = 'CREDIT_RESTORED'",
        customer_id,
        reference_id,
    )
    return HistoryEntry(**row) if row else None


async def list_history(
    conn: Connection,
    customer_id: str,
    since: datetime | None,
    until: datetime | None,
    transaction_type: str | None,
    limit: int,
    offset: int,
) -> tuple[list[HistoryEntry], int]:
    args: list[Any] = []
    where = sql.conditions(
        [
            ("customer_id = {}", customer_id),
            ("created_at >= {}", since),
            ("created_at < {}", until),
            ("transaction_type = {}", transaction_type),
        ],
        args,
    )
    rows, total = await sql.fetch_page(
        conn,
        source="credit_history",
        columns=_HISTORY,
        where=where,
        args=args,
        order_by="created_at DESC, history_id DESC",
        limit=limit,
        offset=offset,
    )
    return [HistoryEntry(**r) for r in rows], total


async def lock_active_reservation_for_application(
    conn: Connection, customer_id: str, application_id: str
) -> Reservation | None:
    row = await conn.fetchrow(
        f"SELECT {_RESERVATION} FROM credit_reservations"
        " WHERE customer_id = $1 AND loan_application_id = $2 AND status = 'ACTIVE'"
        " ORDER BY created_at LIMIT 1 FOR UPDATE",
        customer_id,
        application_id,
    )
    return Reservation(**row) if row else None
