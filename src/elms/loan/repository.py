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
from elms.loan.products import Bucket, Product, Underwriting


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
    product_code: str
    product_version: int
    oldest_unpaid_due_date: date | None = None
    delinquency_bucket: str = "CURRENT"
    non_performing: bool = False
    days_past_due: int = 0
    delinquency_as_of: date | None = None
    in_arrears: bool = False


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
    saga_id, interest_method, product_code, product_version, oldest_unpaid_due_date,
    delinquency_bucket, non_performing, days_past_due, delinquency_as_of, in_arrears"""
_APPLICATION = """application_id, customer_id, requested_amount, requested_term, loan_type,
    purpose, employment_details, income_verification, collateral_details, application_status,
    submitted_at, reviewed_at, reviewer_id, review_notes, approval_conditions, rejection_reason"""
_INSTALLMENT = """installment_id, loan_id, installment_number, due_date, principal_amount,
    interest_amount, total_amount, status, paid_date, paid_amount, discount_applied,
    penalty_applied, remaining_amount, principal_paid, interest_paid, penalty_outstanding,
    penalty_frozen_on, penalty_waived, interest_waived"""


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
    conn: Connection,
    loan_id: str,
    changes: list[InstallmentChange],
    paid_at: datetime | None,
    now: datetime,
) -> None:
    """`paid_at`: the date money was paid (a waiver pays nothing: the paid date stays)."""
    await conn.executemany(
        """UPDATE loan_installments
           SET status = $3, paid_amount = $4, discount_applied = $5, penalty_applied = $6,
               remaining_amount = $7, paid_date = COALESCE($8, paid_date), updated_at = $9,
               principal_paid = $10, interest_paid = $11, penalty_outstanding = $12,
               penalty_frozen_on = $13, penalty_waived = $14, interest_waived = $15
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
                now,
                c.principal_paid,
                c.interest_paid,
                c.penalty_outstanding,
                c.penalty_frozen_on,
                c.penalty_waived,
                c.interest_waived,
            )
            for c in changes
        ],
    )


async def refresh_oldest_unpaid(conn: Connection, loan_id: str) -> date | None:
    """Keeps the loan's oldest unpaid due date (what its days past due are counted from) equal to
    its installments' after a change of them. Not a version change: no payment prices on it."""
    return await conn.fetchval(
        """UPDATE loans SET oldest_unpaid_due_date = (
               SELECT min(due_date) FROM loan_installments
               WHERE loan_id = $1 AND status <> 'PAID')
           WHERE loan_id = $1 RETURNING oldest_unpaid_due_date""",
        loan_id,
    )


async def insert_waiver(conn: Connection, values: dict[str, Any]) -> dict[str, Any]:
    row = await conn.fetchrow(
        sql.insert(
            "loan_penalty_waivers",
            values,
            "waiver_id, loan_id, installment_number, amount, reason, waived_by, business_date,"
            " created_at",
        ),
        *values.values(),
    )
    return dict(row)


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


# --- products -------------------------------------------------------------------------------

_PRODUCT_VERSION = """v.product_code, v.version, v.name, v.description, v.loan_type,
    v.min_amount, v.max_amount, v.min_rate, v.max_rate, v.installment_counts, v.interest_methods,
    v.default_interest_method, v.early_discount_rate, v.late_penalty_rate, v.penalty_grace_days,
    v.penalty_cap_ratio, v.processing_fees, v.allocation_order, v.min_credit_score,
    v.max_installment_to_income, v.allowed_risk_levels, v.delinquency_buckets, v.active,
    v.created_at, v.created_by"""


@dataclass(frozen=True)
class ProductVersion:
    product: Product
    created_at: datetime
    created_by: str


def _product(row: Any) -> ProductVersion:
    product = Product(
        code=row["product_code"],
        version=row["version"],
        name=row["name"],
        description=row["description"],
        loan_type=row["loan_type"],
        min_amount=row["min_amount"],
        max_amount=row["max_amount"],
        min_rate=row["min_rate"],
        max_rate=row["max_rate"],
        installment_counts=tuple(row["installment_counts"]),
        interest_methods=tuple(row["interest_methods"]),
        default_interest_method=row["default_interest_method"],
        early_discount_rate=row["early_discount_rate"],
        late_penalty_rate=row["late_penalty_rate"],
        penalty_grace_days=row["penalty_grace_days"],
        penalty_cap_ratio=row["penalty_cap_ratio"],
        processing_fees={k: Decimal(str(v)) for k, v in row["processing_fees"].items()},
        allocation_order=row["allocation_order"],
        underwriting=Underwriting(
            row["min_credit_score"],
            row["max_installment_to_income"],
            tuple(row["allowed_risk_levels"]),
        ),
        delinquency_buckets=tuple(
            Bucket(b["name"], int(b["minDays"])) for b in row["delinquency_buckets"]
        ),
        active=row["active"],
    )
    return ProductVersion(product, row["created_at"], row["created_by"])


def _version_values(product: Product, created_by: str, now: datetime) -> dict[str, Any]:
    return {
        "product_code": product.code,
        "version": product.version,
        "name": product.name,
        "description": product.description,
        "loan_type": product.loan_type,
        "min_amount": product.min_amount,
        "max_amount": product.max_amount,
        "min_rate": product.min_rate,
        "max_rate": product.max_rate,
        "installment_counts": list(product.installment_counts),
        "interest_methods": list(product.interest_methods),
        "default_interest_method": product.default_interest_method,
        "early_discount_rate": product.early_discount_rate,
        "late_penalty_rate": product.late_penalty_rate,
        "penalty_grace_days": product.penalty_grace_days,
        "penalty_cap_ratio": product.penalty_cap_ratio,
        # Fees as strings: exact, whatever the JSON codec does with numbers.
        "processing_fees": {k: str(v) for k, v in product.processing_fees.items()},
        "allocation_order": product.allocation_order,
        "min_credit_score": product.underwriting.min_credit_score,
        "max_installment_to_income": product.underwriting.max_installment_to_income,
        "allowed_risk_levels": list(product.underwriting.allowed_risk_levels),
        "delinquency_buckets": [
            {"name": b.name, "minDays": b.min_days} for b in product.delinquency_buckets
        ],
        "active": product.active,
        "created_at": now,
        "created_by": created_by,
    }


async def get_product(
    conn: Connection, code: str, version: int | None = None
) -> ProductVersion | None:
    """A product's version: the current one, or the one named."""
    row = await conn.fetchrow(
        f"SELECT {_PRODUCT_VERSION} FROM loan_products p JOIN loan_product_versions v"
        " ON v.product_code = p.product_code"
        " AND v.version = COALESCE($2, p.current_version) WHERE p.product_code = $1",
        code,
        version,
    )
    return _product(row) if row else None


async def lock_product(conn: Connection, code: str) -> int | None:
    """The product's current version, its row locked: changes of one product go one at a
    time, so two administrators cannot both make version n + 1."""
    return await conn.fetchval(
        "SELECT current_version FROM loan_products WHERE product_code = $1 FOR UPDATE", code
    )


async def insert_product(
    conn: Connection, product: Product, created_by: str, now: datetime
) -> bool:
    """A new product and its first version; False when the code is taken."""
    created = await conn.fetchval(
        "INSERT INTO loan_products (product_code, loan_type, current_version, active,"
        " created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5)"
        " ON CONFLICT (product_code) DO NOTHING RETURNING true",
        product.code,
        product.loan_type,
        product.version,
        product.active,
        now,
    )
    if not created:
        return False
    await insert_product_version(conn, product, created_by, now)
    return True


async def insert_product_version(
    conn: Connection, product: Product, created_by: str, now: datetime
) -> None:
    values = _version_values(product, created_by, now)
    await conn.execute(sql.insert("loan_product_versions", values), *values.values())
    await conn.execute(
        "UPDATE loan_products SET current_version = $2, active = $3, loan_type = $4,"
        " updated_at = $5 WHERE product_code = $1",
        product.code,
        product.version,
        product.active,
        product.loan_type,
        now,
    )


async def list_products(
    conn: Connection, active: bool | None, loan_type: str | None, limit: int, offset: int
) -> tuple[list[ProductVersion], int]:
    """Products at their current version."""
    args: list[Any] = []
    where = sql.conditions([("p.active = {}", active), ("p.loan_type = {}", loan_type)], args)
    rows, total = await sql.fetch_page(
        conn,
        source="loan_products p JOIN loan_product_versions v"
        " ON v.product_code = p.product_code AND v.version = p.current_version",
        columns=_PRODUCT_VERSION,
        where=where,
        args=args,
        order_by="p.product_code",
        limit=limit,
        offset=offset,
    )
    return [_product(r) for r in rows], total


async def list_product_versions(conn: Connection, code: str) -> list[ProductVersion]:
    rows = await conn.fetch(
        f"SELECT {_PRODUCT_VERSION} FROM loan_product_versions v WHERE v.product_code = $1"
        " ORDER BY v.version",
        code,
    )
    return [_product(r) for r in rows]


# --- the business date and close of business ------------------------------------------------


@dataclass(frozen=True)
class BusinessDateRow:
    business_date: date
    target_date: date
    updated_at: datetime
    updated_by: str


@dataclass(frozen=True)
class CobRun:
    run_id: str
    business_date: date
    status: str
    triggered_by: str
    started_at: datetime
    finished_at: datetime | None
    resumed_count: int
    cursor_loan_id: str | None
    batches: int
    loans_processed: int
    installments_overdue: int
    bucket_changes: int


@dataclass(frozen=True)
class CobCandidate:
    loan_id: str
    status: str
    customer_id: str
    product_code: str
    product_version: int
    oldest_unpaid_due_date: date | None
    delinquency_bucket: str
    non_performing: bool
    in_arrears: bool


@dataclass(frozen=True)
class DelinquencyMove:
    loan_id: str
    customer_id: str
    previous_bucket: str
    bucket: str
    days_past_due: int
    previous_non_performing: bool
    non_performing: bool
    oldest_unpaid_due_date: date | None
    in_arrears: bool


_COB_RUN = """run_id, business_date, status, triggered_by, started_at, finished_at, resumed_count,
    cursor_loan_id, batches, loans_processed, installments_overdue, bucket_changes"""
# Any number, the same in every service and replica: who holds it runs close of business.
COB_LOCK = 0x454C4D53434F42  # "ELMSCOB"


async def get_business_date(conn: Connection, lock: bool = False) -> BusinessDateRow | None:
    row = await conn.fetchrow(
        "SELECT business_date, target_date, updated_at, updated_by FROM business_date"
        + (" FOR UPDATE" if lock else "")
    )
    return BusinessDateRow(**row) if row else None


async def init_business_date(conn: Connection, day: date, now: datetime) -> BusinessDateRow:
    """The row, made on the first start (at `day`) and otherwise as it is."""
    await conn.execute(
        "INSERT INTO business_date (business_date, target_date, updated_at, updated_by)"
        " VALUES ($1, $1, $2, 'system') ON CONFLICT (singleton) DO NOTHING",
        day,
        now,
    )
    found = await get_business_date(conn)
    assert found is not None
    return found


async def set_business_date(
    conn: Connection, changes: dict[str, Any], who: str, now: datetime
) -> BusinessDateRow:
    assigned = sql.assignments(changes, 3, "updated_at = $1, updated_by = $2")
    row = await conn.fetchrow(
        f"UPDATE business_date SET {assigned}"
        " RETURNING business_date, target_date, updated_at, updated_by",
        now,
        who,
        *changes.values(),
    )
    return BusinessDateRow(**row)


async def try_cob_lock(conn: Connection) -> bool:
    return bool(await conn.fetchval("SELECT pg_try_advisory_lock($1)", COB_LOCK))


async def cob_unlock(conn: Connection) -> None:
    await conn.execute("SELECT pg_advisory_unlock($1)", COB_LOCK)


async def cob_run_for(conn: Connection, day: date) -> CobRun | None:
    row = await conn.fetchrow(f"SELECT {_COB_RUN} FROM cob_runs WHERE business_date = $1", day)
    return CobRun(**row) if row else None


async def running_cob(conn: Connection) -> CobRun | None:
    row = await conn.fetchrow(f"SELECT {_COB_RUN} FROM cob_runs WHERE status = 'RUNNING'")
    return CobRun(**row) if row else None


async def last_cob(conn: Connection) -> CobRun | None:
    row = await conn.fetchrow(
        f"SELECT {_COB_RUN} FROM cob_runs ORDER BY business_date DESC LIMIT 1"
    )
    return CobRun(**row) if row else None


async def insert_cob_run(conn: Connection, values: dict[str, Any]) -> CobRun:
    row = await conn.fetchrow(sql.insert("cob_runs", values, _COB_RUN), *values.values())
    return CobRun(**row)


async def update_cob_run(conn: Connection, run_id: str, changes: dict[str, Any]) -> CobRun:
    row = await conn.fetchrow(
        f"UPDATE cob_runs SET {sql.assignments(changes, 2)} WHERE run_id = $1 RETURNING {_COB_RUN}",
        run_id,
        *changes.values(),
    )
    return CobRun(**row)


async def cob_progress(
    conn: Connection, run_id: str, cursor: str, loans: int, overdue: int, moves: int
) -> None:
    await conn.execute(
        """UPDATE cob_runs SET cursor_loan_id = $2, batches = batches + 1,
               loans_processed = loans_processed + $3,
               installments_overdue = installments_overdue + $4,
               bucket_changes = bucket_changes + $5
           WHERE run_id = $1""",
        run_id,
        cursor,
        loans,
        overdue,
        moves,
    )


async def list_cob_runs(conn: Connection, limit: int, offset: int) -> tuple[list[CobRun], int]:
    rows, total = await sql.fetch_page(
        conn,
        source="cob_runs",
        columns=_COB_RUN,
        where=[],
        args=[],
        order_by="business_date DESC",
        limit=limit,
        offset=offset,
    )
    return [CobRun(**r) for r in rows], total


async def cob_candidates(conn: Connection, after: str, day: date, size: int) -> list[CobCandidate]:
    """The next active loans after `after` (in id order) that close of business for `day` may
    have anything to do with: an installment due by then and unpaid, or a late bucket to leave.
    Read without a lock: most are late loans whose day changes nothing, and a lock is a write
    (WAL) on each; `lock_candidates` locks those it will change. Locked
    for the batch's transaction, as a payment locks its loan, in the same (id) order."""
    rows = await conn.fetch(
        """SELECT loan_id, status, customer_id, product_code, product_version,
                  oldest_unpaid_due_date, delinquency_bucket, non_performing, in_arrears
           FROM loans
           WHERE status = 'ACTIVE' AND loan_id > $1
             AND (oldest_unpaid_due_date <= $2 OR in_arrears)
           ORDER BY loan_id LIMIT $3""",
        after,
        day,
        size,
    )
    return [CobCandidate(**r) for r in rows]


async def lock_candidates(conn: Connection, loan_ids: list[str]) -> list[CobCandidate]:
    """These loans locked for the batch's transaction, in id order as a payment locks one (so
    neither deadlocks the other), as they are now (a payment may have changed them since they
    were read)."""
    rows = await conn.fetch(
        """SELECT loan_id, status, customer_id, product_code, product_version,
                  oldest_unpaid_due_date, delinquency_bucket, non_performing, in_arrears
           FROM loans WHERE loan_id = ANY($1::varchar[]) ORDER BY loan_id FOR UPDATE""",
        loan_ids,
    )
    return [CobCandidate(**r) for r in rows]


async def loans_with_installments_to_mark(
    conn: Connection, loan_ids: list[str], day: date
) -> set[str]:
    """Which of these loans have an unpaid installment due by `day` not yet marked OVERDUE."""
    rows = await conn.fetch(
        """SELECT DISTINCT loan_id FROM loan_installments
           WHERE loan_id = ANY($1::varchar[]) AND due_date <= $2
             AND status IN ('PENDING', 'PARTIALLY_PAID')""",
        loan_ids,
        day,
    )
    return {r["loan_id"] for r in rows}


async def closed_loans_still_late(conn: Connection, size: int) -> list[CobCandidate]:
    """Loans no longer ACTIVE (paid off) whose recorded bucket is still a late one: close of
    business moves them back to CURRENT. Each one done leaves the set, so no cursor is needed."""
    rows = await conn.fetch(
        """SELECT loan_id, status, customer_id, product_code, product_version,
                  oldest_unpaid_due_date, delinquency_bucket, non_performing, in_arrears
           FROM loans
           WHERE status <> 'ACTIVE' AND in_arrears
           ORDER BY loan_id LIMIT $1 FOR UPDATE""",
        size,
    )
    return [CobCandidate(**r) for r in rows]


async def mark_overdue(conn: Connection, loan_ids: list[str], day: date, now: datetime) -> int:
    """Unpaid installments of these loans due on or before `day` become OVERDUE."""
    status = await conn.execute(
        """UPDATE loan_installments SET status = 'OVERDUE', updated_at = $3
           WHERE loan_id = ANY($1::varchar[]) AND due_date <= $2
             AND status IN ('PENDING', 'PARTIALLY_PAID')""",
        loan_ids,
        day,
        now,
    )
    return int(status.split()[-1])


async def record_delinquency_moves(
    conn: Connection, moves: list[DelinquencyMove], day: date, run_id: str, now: datetime
) -> None:
    """The loans' new buckets, and a history row for each (one per loan per day, by the
    table's key: a batch done twice would fail, not count twice). Not a change of the loan a
    user made: neither its version nor `updated_at` moves (a payment priced before is good)."""
    if not moves:
        return
    ids = [m.loan_id for m in moves]
    await conn.execute(
        """UPDATE loans l SET delinquency_bucket = c.bucket, non_performing = c.np,
               days_past_due = c.dpd, in_arrears = c.arrears, delinquency_as_of = $6
           FROM unnest($1::varchar[], $2::varchar[], $3::bool[], $4::int[], $5::bool[])
                AS c(loan_id, bucket, np, dpd, arrears)
           WHERE l.loan_id = c.loan_id""",
        ids,
        [m.bucket for m in moves],
        [m.non_performing for m in moves],
        [m.days_past_due for m in moves],
        [m.in_arrears for m in moves],
        day,
    )
    await conn.execute(
        """INSERT INTO loan_delinquency_history (loan_id, business_date, previous_bucket, bucket,
               days_past_due, previous_non_performing, non_performing, oldest_unpaid_due_date,
               cob_run_id, created_at)
           SELECT c.loan_id, $1, c.previous_bucket, c.bucket, c.dpd, c.previous_np, c.np,
                  c.oldest, $2, $3
           FROM unnest($4::varchar[], $5::varchar[], $6::varchar[], $7::int[], $8::bool[],
                       $9::bool[], $10::date[])
                AS c(loan_id, previous_bucket, bucket, dpd, previous_np, np, oldest)""",
        day,
        run_id,
        now,
        ids,
        [m.previous_bucket for m in moves],
        [m.bucket for m in moves],
        [m.days_past_due for m in moves],
        [m.previous_non_performing for m in moves],
        [m.non_performing for m in moves],
        [m.oldest_unpaid_due_date for m in moves],
    )


async def delinquency_history(
    conn: Connection, loan_id: str, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    rows, total = await sql.fetch_page(
        conn,
        source="loan_delinquency_history",
        columns="business_date, previous_bucket, bucket, days_past_due, previous_non_performing,"
        " non_performing, oldest_unpaid_due_date, cob_run_id, created_at",
        where=["loan_id = $1"],
        args=[loan_id],
        order_by="business_date DESC",
        limit=limit,
        offset=offset,
    )
    return [dict(r) for r in rows], total


async def list_waivers(conn: Connection, loan_id: str) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT waiver_id, installment_number, amount, reason, waived_by, business_date,"
        " created_at FROM loan_penalty_waivers WHERE loan_id = $1 ORDER BY waiver_id",
        loan_id,
    )
    return [dict(r) for r in rows]
