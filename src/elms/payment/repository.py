"""All SQL of the payment service. Functions take a connection inside the caller's transaction
and return dataclasses; none of them opens or commits a transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from asyncpg import Connection

from elms.core import sql
from elms.core.money import ZERO


@dataclass(frozen=True)
class Payment:
    payment_id: str
    loan_id: str
    customer_id: str
    payment_amount: Decimal
    payment_date: datetime
    payment_method: str
    payment_reference: str | None
    status: str
    processing_fee: Decimal
    total_amount: Decimal
    bank_details: dict[str, Any] | None
    created_at: datetime
    updated_at: datetime
    processed_at: datetime | None
    failed_at: datetime | None
    failure_reason: str | None
    version: int
    offered_amount: Decimal | None
    is_partial_payment: bool
    notes: str | None
    loan_version: int | None
    outstanding_before: Decimal | None
    payment_type: str = "REGULAR"


@dataclass(frozen=True)
class PaymentInstallment:
    installment_number: int
    due_amount: Decimal
    paid_amount: Decimal
    principal_paid: Decimal
    interest_paid: Decimal
    penalty_paid: Decimal
    discount_applied: Decimal
    remaining_amount: Decimal
    early_payment_days: int
    late_payment_days: int
    interest_waived: Decimal = ZERO


_PAYMENT = """payment_id, loan_id, customer_id, payment_amount, payment_date, payment_method,
    payment_reference, status, processing_fee, total_amount, bank_details, created_at, updated_at,
    processed_at, failed_at, failure_reason, version, offered_amount, is_partial_payment, notes,
    loan_version, outstanding_before, payment_type"""
_INSTALLMENT_COLUMNS = (
    "installment_number",
    "due_amount",
    "paid_amount",
    "principal_paid",
    "interest_paid",
    "penalty_paid",
    "discount_applied",
    "remaining_amount",
    "early_payment_days",
    "late_payment_days",
    "interest_waived",
)
_INSTALLMENT = ", ".join(_INSTALLMENT_COLUMNS)
_CALCULATION_COLUMNS = (
    "loan_id",
    "installment_number",
    "calculation_date",
    "due_date",
    "base_amount",
    "discount_rate",
    "penalty_rate",
    "discount_amount",
    "penalty_amount",
    "final_amount",
    "early_payment_days",
    "late_payment_days",
    "calculation_type",
    "payment_id",
)


async def insert_payment(conn: Connection, values: dict[str, Any]) -> Payment:
    row = await conn.fetchrow(sql.insert("payments", values, _PAYMENT), *values.values())
    return Payment(**row)


async def insert_installments(
    conn: Connection, payment_id: str, rows: list[PaymentInstallment], now: datetime
) -> None:
    await conn.executemany(
        sql.insert("payment_installments", ["payment_id", *_INSTALLMENT_COLUMNS, "created_at"]),
        [
            (payment_id, *(getattr(row, column) for column in _INSTALLMENT_COLUMNS), now)
            for row in rows
        ],
    )


async def insert_calculations(conn: Connection, rows: list[tuple[Any, ...]]) -> None:
    """Rows in the order of `_CALCULATION_COLUMNS`."""
    await conn.executemany(sql.insert("payment_calculations", _CALCULATION_COLUMNS), rows)


async def insert_history(conn: Connection, values: dict[str, Any]) -> None:
    await conn.execute(sql.insert("payment_history", values), *values.values())


async def get_payment(conn: Connection, payment_id: str) -> Payment | None:
    row = await conn.fetchrow(f"SELECT {_PAYMENT} FROM payments WHERE payment_id = $1", payment_id)
    return Payment(**row) if row else None


async def lock_payment(conn: Connection, payment_id: str) -> Payment | None:
    row = await conn.fetchrow(
        f"SELECT {_PAYMENT} FROM payments WHERE payment_id = $1 FOR UPDATE", payment_id
    )
    return Payment(**row) if row else None


async def find_by_reference(conn: Connection, loan_id: str, reference: str) -> Payment | None:
    row = await conn.fetchrow(
        f"SELECT {_PAYMENT} FROM payments WHERE loan_id = $1 AND payment_reference = $2"
        " AND status <> 'FAILED'",
        loan_id,
        reference,
    )
    return Payment(**row) if row else None


async def set_status(
    conn: Connection, payment_id: str, changes: dict[str, Any], now: datetime
) -> Payment:
    row = await conn.fetchrow(
        f"UPDATE payments SET {sql.assignments(changes, 3, 'updated_at = $2')},"
        f" version = version + 1 WHERE payment_id = $1 RETURNING {_PAYMENT}",
        payment_id,
        now,
        *changes.values(),
    )
    return Payment(**row)


async def list_installments(conn: Connection, payment_id: str) -> list[PaymentInstallment]:
    rows = await conn.fetch(
        f"SELECT {_INSTALLMENT} FROM payment_installments WHERE payment_id = $1"
        " ORDER BY installment_number",
        payment_id,
    )
    return [PaymentInstallment(**r) for r in rows]


async def list_payments(
    conn: Connection,
    *,
    customer_id: str | None,
    loan_id: str | None,
    status: str | None,
    since: datetime | None,
    until: datetime | None,
    limit: int,
    offset: int,
) -> tuple[list[Payment], int]:
    args: list[Any] = []
    where = sql.conditions(
        [
            ("customer_id = {}", customer_id),
            ("loan_id = {}", loan_id),
            ("status = {}", status),
            ("payment_date >= {}", since),
            ("payment_date < {}", until),
        ],
        args,
    )
    rows, total = await sql.fetch_page(
        conn,
        source="payments",
        columns=_PAYMENT,
        where=where,
        args=args,
        order_by="payment_date DESC, created_at DESC, payment_id DESC",
        limit=limit,
        offset=offset,
    )
    return [Payment(**r) for r in rows], total
