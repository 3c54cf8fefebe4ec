"""All SQL of the loan service. Functions take a connection inside the caller's transaction
and return dataclasses; none of them opens or commits a transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from asyncpg import Connection

from elms.core import sql
from elms.loan.domain import Installment, InstallmentChange


@dataclass(frozen=True)
class Loan:
    loan_id: str
    application_id: str | None
    customer_id: str
    loan_amount: Decimal
    outstanding_amount: Decimal
    interest_rate: Decimal
    installment_count: int
    installment_amount: Decimal
    total_repayment_amount: Decimal
    loan_type: str
    purpose: str | None
    status: str
    application_date: datetime
    approval_date: datetime | None
    disbursement_date: datetime | None
    first_installment_date: date | None
    last_installment_date: date | None
    maturity_date: date | None
    collateral_type: str
    collateral_value: Decimal
    employment_verification_status: str
    credit_verification_status: str
    created_at: datetime
    updated_at: datetime
    version: int
    saga_id: str | None
    interest_method: str


@dataclass(frozen=True)
class Application:
    application_id: str
    customer_id: str
    requested_amount: Decimal
    requested_term: int
    loan_type: str
    purpose: str | None
    employment_details: dict[str, Any] | None
    income_verification: dict[str, Any] | None
    collateral_details: dict[str, Any] | None
    application_status: str
    submitted_at: datetime
    reviewed_at: datetime | None
    reviewer_id: str | None
    review_notes: str | None
    approval_conditions: Any
    rejection_reason: str | None


@dataclass(frozen=True)
class PaymentTotals:
    total_paid: Decimal
    last_payment_date: datetime | None
    last_payment_amount: Decimal | None
    discounts: Decimal
    penalties: Decimal


_LOAN = """loan_id, application_id, customer_id, loan_amount, outstanding_amount, interest_rate,
    installment_count, installment_amount, total_repayment_amount, loan_type, purpose, status,
    application_date, approval_date, disbursement_date, first_installment_date,
    last_installment_date, maturity_date, collateral_type, collateral_value,
    employment_verification_status, credit_verification_status, created_at, updated_at, version,
    saga_id, interest_method"""
_APPLICATION = """application_id, customer_id, requested_amount, requested_term, loan_type,
    purpose, employment_details, income_verification, collateral_details, application_status,
    submitted_at, reviewed_at, reviewer_id, review_notes, approval_conditions, rejection_reason"""
_INSTALLMENT = """installment_id, loan_id, installment_number, due_date, principal_amount,
    interest_amount, total_amount, status, paid_date, paid_amount, discount_applied,
    penalty_applied, remaining_amount"""


# --- applications and loans -----------------------------------------------------------------


async def insert_application(conn: Connection, values: dict[str, Any]) -> Application:
    row = await conn.fetchrow(
        sql.insert("loan_applications", values, _APPLICATION), *values.values()
    )
    return Application(**row)


async def insert_loan(conn: Connection, values: dict[str, Any]) -> Loan:
    row = await conn.fetchrow(sql.insert("loans", values, _LOAN), *values.values())
    return Loan(**row)


async def insert_installments(conn: Connection, loan_id: str, rows: list[tuple]) -> None:
    """Rows of (number, due date, principal, interest, total, created_at)."""
    await conn.executemany(
        """INSERT INTO loan_installments (loan_id, installment_number, due_date,
               principal_amount, interest_amount, total_amount, remaining_amount, created_at,
               updated_at)
           VALUES ($1, $2, $3, $4, $5, $6, $6, $7, $7)""",
        [(loan_id, *row) for row in rows],
    )


async def find_loan_for(conn: Connection, application_id: str, saga_id: str | None) -> Loan | None:
    row = await conn.fetchrow(
        f"SELECT {_LOAN} FROM loans WHERE application_id = $1 OR (saga_id IS NOT NULL"
        " AND saga_id = $2) LIMIT 1",
        application_id,
        saga_id,
    )
    return Loan(**row) if row else None


async def get_loan(conn: Connection, loan_id: str) -> Loan | None:
    row = await conn.fetchrow(f"SELECT {_LOAN} FROM loans WHERE loan_id = $1", loan_id)
    return Loan(**row) if row else None


async def lock_loan(conn: Connection, loan_id: str) -> Loan | None:
    """The loan row, locked until the transaction ends: every change of a loan or its
    installments takes it first, so two officers (or two payments) act one after the other."""
    row = await conn.fetchrow(f"SELECT {_LOAN} FROM loans WHERE loan_id = $1 FOR UPDATE", loan_id)
    return Loan(**row) if row else None


async def get_application(conn: Connection, application_id: str) -> Application | None:
    row = await conn.fetchrow(
        f"SELECT {_APPLICATION} FROM loan_applications WHERE application_id = $1", application_id
    )
    return Application(**row) if row else None


async def update_loan(
    conn: Connection, loan_id: str, changes: dict[str, Any], now: datetime
) -> Loan:
    row = await conn.fetchrow(
        f"UPDATE loans SET {sql.assignments(changes, 3, 'updated_at = $2')},"
        f" version = version + 1 WHERE loan_id = $1 RETURNING {_LOAN}",
        loan_id,
        now,
        *changes.values(),
    )
    return Loan(**row)


async def review_application(
    conn: Connection, application_id: str, changes: dict[str, Any], now: datetime
) -> None:
    await conn.execute(
        f"UPDATE loan_applications SET {sql.assignments(changes, 3, 'updated_at = $2')}"
        " WHERE application_id = $1",
        application_id,
        now,
        *changes.values(),
    )


async def list_loans(
    conn: Connection,
    customer_id: str | None,
    status: str | None,
    loan_type: str | None,
    limit: int,
    offset: int,
) -> tuple[list[Loan], int]:
    args: list[Any] = []
    where = sql.conditions(
        [("customer_id = {}", customer_id), ("status = {}", status), ("loan_type = {}", loan_type)],
        args,
    )
    rows, total = await sql.fetch_page(
        conn,
        source="loans",
        columns=_LOAN,
        where=where,
        args=args,
        order_by="created_at DESC, loan_id DESC",
        limit=limit,
        offset=offset,
    )
    return [Loan(**r) for r in rows], total


# --- installments ---------------------------------------------------------------------------


async def list_installments(conn: Connection, loan_id: str) -> list[Installment]:
    rows = await conn.fetch(
        f"SELECT {_INSTALLMENT} FROM loan_installments WHERE loan_id = $1"
        " ORDER BY installment_number",
        loan_id,
    )
    return [Installment(**r) for r in rows]


async def move_due_dates(conn: Connection, loan_id: str, dates: list[date], now: datetime) -> None:
    await conn.executemany(
        "UPDATE loan_installments SET due_date = $3, updated_at = $4"
        " WHERE loan_id = $1 AND installment_number = $2",
        [(loan_id, number, due, now) for number, due in enumerate(dates, start=1)],
    )


async def apply_installment_changes(
    conn: Connection, loan_id: str, changes: list[InstallmentChange], paid_at: datetime
) -> None:
    await conn.executemany(
        """UPDATE loan_installments
           SET status = $3, paid_amount = $4, discount_applied = $5, penalty_applied = $6,
               remaining_amount = $7, paid_date = $8, updated_at = $8
           WHERE loan_id = $1 AND installment_number = $2""",
        [
            (
                loan_id,
                c.installment_number,
                c.status,
                c.paid_amount,
                c.discount_applied,
                c.penalty_applied,
                c.remaining_amount,
                paid_at,
            )
            for c in changes
        ],
    )


async def mark_overdue(conn: Connection, today: date, now: datetime) -> int:
    """Locks each loan first, in loan id order, as a payment does, so the job never deadlocks
    with a payment; a loan a payment holds right now is skipped until the next round."""
    status = await conn.execute(
        """WITH due AS (
               SELECT l.loan_id FROM loans l
               WHERE l.status = 'ACTIVE' AND EXISTS (
                   SELECT 1 FROM loan_installments i
                   WHERE i.loan_id = l.loan_id AND i.due_date < $1
                     AND i.status IN ('PENDING', 'PARTIALLY_PAID'))
               ORDER BY l.loan_id FOR UPDATE SKIP LOCKED)
           UPDATE loan_installments i SET status = 'OVERDUE', updated_at = $2
           FROM due
           WHERE i.loan_id = due.loan_id AND i.due_date < $1
             AND i.status IN ('PENDING', 'PARTIALLY_PAID')""",
        today,
        now,
    )
    return int(status.split()[-1])


# --- payments applied -----------------------------------------------------------------------


async def get_payment_application(conn: Connection, payment_id: str) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        "SELECT loan_id, result FROM loan_payment_applications WHERE payment_id = $1", payment_id
    )
    return {"loan_id": row["loan_id"], "result": row["result"]} if row else None


async def insert_payment_application(conn: Connection, values: dict[str, Any]) -> None:
    await conn.execute(sql.insert("loan_payment_applications", values), *values.values())


async def payment_totals(conn: Connection, loan_id: str) -> PaymentTotals:
    row = await conn.fetchrow(
        """SELECT coalesce(sum(amount_paid), 0.00) AS total_paid,
                  coalesce(sum(discount_applied), 0.00) AS discounts,
                  coalesce(sum(penalty_paid), 0.00) AS penalties,
                  (array_agg(paid_date ORDER BY applied_at DESC))[1] AS last_date,
                  (array_agg(amount_paid ORDER BY applied_at DESC))[1] AS last_amount
           FROM loan_payment_applications WHERE loan_id = $1""",
        loan_id,
    )
    return PaymentTotals(
        row["total_paid"], row["last_date"], row["last_amount"], row["discounts"], row["penalties"]
    )


# --- documents ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Document:
    document_id: int
    loan_id: str
    document_type: str
    document_name: str
    file_path: str | None
    file_size: int | None
    mime_type: str | None
    uploaded_at: datetime
    uploaded_by: str | None
    verification_status: str
    verified_at: datetime | None
    verified_by: str | None


_DOCUMENT = """document_id, loan_id, document_type, document_name, file_path, file_size, mime_type,
    uploaded_at, uploaded_by, verification_status, verified_at, verified_by"""


async def insert_document(conn: Connection, values: dict[str, Any]) -> Document:
    row = await conn.fetchrow(sql.insert("loan_documents", values, _DOCUMENT), *values.values())
    return Document(**row)


async def list_documents(conn: Connection, loan_id: str) -> list[Document]:
    rows = await conn.fetch(
        f"SELECT {_DOCUMENT} FROM loan_documents WHERE loan_id = $1 ORDER BY document_id DESC",
        loan_id,
    )
    return [Document(**r) for r in rows]


async def get_document(conn: Connection, loan_id: str, document_id: int) -> Document | None:
    row = await conn.fetchrow(
        f"SELECT {_DOCUMENT} FROM loan_documents WHERE loan_id = $1 AND document_id = $2",
        loan_id,
        document_id,
    )
    return Document(**row) if row else None


async def verify_document(
    conn: Connection, document_id: int, status: str, verified_by: str | None, now: datetime
) -> Document:
    row = await conn.fetchrow(
        f"""UPDATE loan_documents SET verification_status = $2, verified_by = $3, verified_at = $4
            WHERE document_id = $1 RETURNING {_DOCUMENT}""",
        document_id,
        status,
        verified_by,
        now,
    )
    return Document(**row)
