"""Payment use cases: calculate, the steps of the PAYMENT_PROCESSING saga (record, complete,
fail), and reads. One transaction each; the loan is read from the loan service over HTTP, always
before that transaction opens, never inside it: a transaction left open across a call to another
service holds its connection and locks for as long as that service takes (`plan_payment`, then
`record_payment`).

The payment service never applies money to a loan or restores credit itself: the saga (gateway)
calls the loan service's apply-payment and the customer service's restore between RECORD and
COMPLETE, with the amounts the recorded payment carries (`apply_request`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

import asyncpg

from elms.core.business_day import today
from elms.core.clock import day_range
from elms.core.config import Settings
from elms.core.database import Database
from elms.core.errors import DomainError, business_rule, conflict, invalid, not_found
from elms.core.ids import new_id
from elms.core.money import ZERO, parse_money
from elms.core.principal import SERVICE, Caller
from elms.core.service_client import ServiceClient, ServiceUnavailable
from elms.payment import domain
from elms.payment import repository as repo
from elms.payment.allocation import (
    Allocation,
    OpenInstallment,
    PaymentMethod,
    Terms,
    allocate,
    allocate_payoff,
    allocation_order,
    total_amount,
)
from elms.payment.domain import HistoryType, PaymentStatus
from elms.payment.repository import Payment, PaymentInstallment
from elms.payment.schemas import CalculateRequest, RecordPaymentRequest


@dataclass(frozen=True)
class LoanSnapshot:
    loan_id: str
    customer_id: str
    status: str
    version: int
    outstanding_amount: Decimal
    installments: list[OpenInstallment]
    # The payment rules of the loan's product version, as the loan service reports them.
    terms: Terms
    # A payment cannot be dated before the money went out or before the last payment applied.
    earliest_payment_date: date | None = None
    disbursed_on: date | None = None

    @property
    def outstanding_interest(self) -> Decimal:
        return sum((i.interest_remaining for i in self.installments), ZERO)


@dataclass(frozen=True)
class PaymentView:
    payment: Payment
    installments: list[PaymentInstallment]


def terms_of(loan: dict[str, Any], settings: Settings) -> Terms:
    """The loan's payment terms (its product's), and the payable horizon, which is ELMS's own."""
    given = loan["paymentTerms"]
    cap = given.get("penaltyCapRatio")
    return Terms(
        discount_rate_per_day=Decimal(str(given["earlyDiscountRate"])),
        penalty_rate_per_day=Decimal(str(given["latePenaltyRate"])),
        grace_period_days=int(given["penaltyGraceDays"]),
        penalty_cap_share=None if cap is None else Decimal(str(cap)),
        horizon_months=settings.payment_horizon_months,
        processing_fees={
            **dict.fromkeys(PaymentMethod, ZERO),
            **{PaymentMethod(k): parse_money(str(v)) for k, v in given["processingFees"].items()},
        },
        allocation_order=allocation_order(given["allocationOrder"]),
    )


async def read_loan(services: ServiceClient, settings: Settings, loan_id: str) -> LoanSnapshot:
    """The loan and its schedule as the loan service has them now (never loan_db)."""
    found = await services.call("loan", "GET", f"/api/v1/loans/{loan_id}")
    if found.status == 404:
        raise not_found("Loan", loan_id)
    if not found.ok:
        raise ServiceUnavailable(f"loan service answered {found.status}")
    loan = found.data
    return LoanSnapshot(
        loan_id=loan["loanId"],
        customer_id=loan["customerId"],
        status=loan["status"],
        version=loan["version"],
        outstanding_amount=Decimal(str(loan["outstandingAmount"])),
        terms=terms_of(loan, settings),
        earliest_payment_date=_earliest(loan),
        disbursed_on=date.fromisoformat(loan["disbursementDate"][:10])
        if loan.get("disbursementDate")
        else None,
        installments=[
            OpenInstallment(
                number=row["installmentNumber"],
                due_date=date.fromisoformat(row["dueDate"]),
                status=row["status"],
                principal_remaining=Decimal(str(row["principalRemaining"])),
                interest_remaining=Decimal(str(row["interestRemaining"])),
                total_amount=Decimal(str(row["totalAmount"])),
                penalty_outstanding=Decimal(str(row["penaltyOutstanding"])),
                penalty_frozen_on=date.fromisoformat(row["penaltyFrozenOn"])
                if row.get("penaltyFrozenOn")
                else None,
                penalty_settled=Decimal(str(row["penaltyApplied"]))
                + Decimal(str(row["penaltyWaived"])),
                interest_amount=Decimal(str(row["interestAmount"]))
                - Decimal(str(row["interestWaived"])),
            )
            for row in loan["installments"]
        ],
    )


def _earliest(loan: dict[str, Any]) -> date | None:
    moments = [
        loan.get("disbursementDate"),
        (loan.get("paymentHistory") or {}).get("lastPaymentDate"),
        # A penalty frozen on a date (a payment's, a waiver's): accrual before it is settled.
        *(row.get("penaltyFrozenOn") for row in loan.get("installments", [])),
    ]
    days = [date.fromisoformat(m[:10]) for m in moments if m]
    return max(days) if days else None


def _check_active(loan: LoanSnapshot) -> None:
    if loan.status != "ACTIVE":
        raise business_rule(
            f"Payments are taken for ACTIVE loans; this one is {loan.status}",
            "INVALID_LOAN_STATE",
        )


def _calculation_rows(
    allocation: Allocation,
    loan_id: str,
    kind: str,
    payment_id: str | None,
    now: datetime,
    rates: Terms,
) -> list[tuple[Any, ...]]:
    return [
        (
            loan_id,
            row.number,
            now,
            row.due_date,
            row.original_amount,
            rates.discount_rate_per_day if row.discount_applied else ZERO,
            rates.penalty_rate_per_day if row.penalty_paid else ZERO,
            row.discount_applied,
            row.penalty_paid,
            row.paid,
            row.early_days,
            row.late_days,
            kind,
            payment_id,
        )
        for row in allocation.rows
    ]


async def _allocate(
    services: ServiceClient,
    settings: Settings,
    loan_id: str,
    offered: Decimal | None,
    payment_date: date | None,
    numbers: list[int] | None,
    partial: bool,
    now: datetime,
    caller: Caller = SERVICE,
    payoff: bool = False,
) -> tuple[Allocation, LoanSnapshot, date, Terms]:
    """The allocation on the payment date against the loan as it is now: calculate and record
    share it, so the same inputs on the same date give the same amounts. A customer's loan must
    be their own: someone else's is not found, before anything of it is told or stored."""
    loan = await read_loan(services, settings, loan_id)
    caller.require_own(loan.customer_id, "Loan", loan_id)
    _check_active(loan)
    # The loan service's answer told this service the business date (ServiceClient).
    on = payment_date or today()
    if loan.earliest_payment_date and on < loan.earliest_payment_date:
        # Backdating before either would dodge penalties already due, or earn discounts twice.
        raise invalid(
            "paymentDate",
            f"paymentDate cannot be before {loan.earliest_payment_date} (disbursement, the"
            " last payment applied or the last penalty waiver)",
            str(on),
        )
    rates = loan.terms
    if payoff:
        assert loan.disbursed_on is not None, "an ACTIVE loan was disbursed"
        paid_off = allocate_payoff(loan.installments, on, offered, loan.disbursed_on, rates)
        return paid_off, loan, on, rates
    return allocate(loan.installments, on, offered, numbers, partial, rates), loan, on, rates


async def calculate(
    db: Database,
    services: ServiceClient,
    settings: Settings,
    request: CalculateRequest,
    now: datetime,
    caller: Caller = SERVICE,
) -> tuple[Allocation, LoanSnapshot, date]:
    """What paying would do on the date, changing nothing but a SIMULATION record."""
    allocation, loan, on, rates = await _allocate(
        services,
        settings,
        request.loan_id,
        request.payment_amount,
        request.payment_date,
        request.installment_numbers,
        request.is_partial_payment,
        now,
        caller,
        request.payoff,
    )
    async with db.transaction() as conn:
        await repo.insert_calculations(
            conn, _calculation_rows(allocation, loan.loan_id, "SIMULATION", None, now, rates)
        )
    return allocation, loan, on


def _duplicate_reference(reference: str | None) -> DomainError:
    return conflict(
        f"Payment reference {reference} was already used for this loan",
        "DUPLICATE_PAYMENT_REFERENCE",
        "paymentReference",
    )


@dataclass(frozen=True)
class PaymentPlan:
    """What recording a payment needs from the loan service, read before any transaction."""

    allocation: Allocation
    loan: LoanSnapshot
    on: date
    rates: Terms


async def plan_payment(
    services: ServiceClient,
    settings: Settings,
    request: RecordPaymentRequest,
    now: datetime,
) -> PaymentPlan:
    """RECORD_PAYMENT's read: the allocation on the payment date against the loan as the loan
    service has it now. It opens no transaction and holds no connection while it asks."""
    allocation, loan, on, rates = await _allocate(
        services,
        settings,
        request.loan_id,
        request.payment_amount,
        request.payment_date,
        request.installment_numbers,
        request.is_partial_payment,
        now,
        payoff=request.payoff,
    )
    return PaymentPlan(allocation, loan, on, rates)


async def record_payment(
    db: Database,
    request: RecordPaymentRequest,
    plan: PaymentPlan,
    now: datetime,
) -> tuple[PaymentView, Allocation, LoanSnapshot]:
    """RECORD_PAYMENT: store the payment `plan_payment` allocated, PENDING, with its installment
    rows, its calculation and a history row, in one transaction that calls no other service."""
    allocation, loan, on, rates = plan.allocation, plan.loan, plan.on, plan.rates
    payment_id = request.payment_id or new_id("PAY")
    taken = allocation.final_amount
    fee = total_amount(taken, request.payment_method, rates) - taken
    rows = [
        PaymentInstallment(
            installment_number=row.number,
            due_amount=row.amount_due,
            paid_amount=row.paid,
            principal_paid=row.principal_paid,
            interest_paid=row.interest_paid,
            penalty_paid=row.penalty_paid,
            discount_applied=row.discount_applied,
            remaining_amount=row.remaining_after,
            early_payment_days=row.early_days,
            late_payment_days=row.late_days,
            interest_waived=row.interest_waived,
        )
        for row in allocation.rows
    ]
    async with db.transaction() as conn:
        if request.payment_reference and await repo.find_by_reference(
            conn, loan.loan_id, request.payment_reference
        ):
            raise _duplicate_reference(request.payment_reference)
        try:
            payment = await repo.insert_payment(
                conn,
                {
                    "payment_id": payment_id,
                    "loan_id": loan.loan_id,
                    "customer_id": loan.customer_id,
                    "payment_amount": taken,
                    "offered_amount": request.payment_amount,
                    "payment_date": datetime.combine(on, time.min),
                    "payment_method": request.payment_method,
                    "payment_reference": request.payment_reference,
                    "status": PaymentStatus.PENDING,
                    "processing_fee": fee,
                    "total_amount": taken + fee,
                    "bank_details": domain.mask_bank_details(request.bank_details),
                    "is_partial_payment": request.is_partial_payment,
                    "payment_type": "PAYOFF" if request.payoff else "REGULAR",
                    "notes": request.notes,
                    "loan_version": loan.version,
                    "outstanding_before": loan.outstanding_amount,
                    "created_at": now,
                    "updated_at": now,
                },
            )
        except asyncpg.UniqueViolationError as error:
            # A concurrent payment with this reference committed after the check above.
            if error.constraint_name == "uq_payments_loan_reference":
                raise _duplicate_reference(request.payment_reference) from error
            raise conflict(f"Payment {payment_id} exists", "CONFLICT", "paymentId") from error
        await repo.insert_installments(conn, payment_id, rows, now)
        await repo.insert_calculations(
            conn, _calculation_rows(allocation, loan.loan_id, "PAYMENT", payment_id, now, rates)
        )
        await _history(
            conn,
            payment,
            HistoryType.PAYMENT_RECORDED,
            loan.outstanding_amount,
            loan.outstanding_amount,
            "Payment recorded",
            now,
        )
    return PaymentView(payment, rows), allocation, loan


async def _history(
    conn: asyncpg.Connection,
    payment: Payment,
    kind: HistoryType,
    before: Decimal | None,
    after: Decimal | None,
    description: str,
    now: datetime,
    reference: dict[str, Any] | None = None,
) -> None:
    await repo.insert_history(
        conn,
        {
            "payment_id": payment.payment_id,
            "loan_id": payment.loan_id,
            "customer_id": payment.customer_id,
            "transaction_type": kind,
            "amount": payment.payment_amount,
            "balance_before": before,
            "balance_after": after,
            "transaction_date": now,
            "description": description,
            "reference_data": reference or {"status": payment.status},
        },
    )


async def _locked(conn: asyncpg.Connection, payment_id: str) -> Payment:
    payment = await repo.lock_payment(conn, payment_id)
    if payment is None:
        raise not_found("Payment", payment_id)
    return payment


async def complete_payment(db: Database, payment_id: str, now: datetime) -> PaymentView:
    """COMPLETE: the money was applied to the loan and the credit restored. Repeating it
    changes nothing."""
    async with db.transaction() as conn:
        payment = await _locked(conn, payment_id)
        if domain.check_move(payment.status, PaymentStatus.COMPLETED):
            rows = await repo.list_installments(conn, payment_id)
            principal = sum((r.principal_paid for r in rows), ZERO)
            before = payment.outstanding_before
            after = before - principal if before is not None else None
            payment = await repo.set_status(
                conn, payment_id, {"status": PaymentStatus.COMPLETED, "processed_at": now}, now
            )
            await _history(
                conn,
                payment,
                HistoryType.PAYMENT_COMPLETED,
                before,
                after,
                "Payment applied to the loan",
                now,
            )
        return PaymentView(payment, await repo.list_installments(conn, payment_id))


async def fail_payment(db: Database, payment_id: str, reason: str, now: datetime) -> PaymentView:
    """Before the money reaches the loan, a failed saga marks its payment FAILED."""
    async with db.transaction() as conn:
        payment = await _locked(conn, payment_id)
        if domain.check_move(payment.status, PaymentStatus.FAILED):
            payment = await repo.set_status(
                conn,
                payment_id,
                {"status": PaymentStatus.FAILED, "failed_at": now, "failure_reason": reason},
                now,
            )
            await _history(
                conn,
                payment,
                HistoryType.PAYMENT_FAILED,
                payment.outstanding_before,
                payment.outstanding_before,
                reason,
                now,
            )
        return PaymentView(payment, await repo.list_installments(conn, payment_id))


async def payment_owner(db: Database, payment_id: str) -> str | None:
    """The customer who made this payment; None when there is no such payment."""
    async with db.connection() as conn:
        payment = await repo.get_payment(conn, payment_id)
    return payment.customer_id if payment else None


async def loan_owner(services: ServiceClient, settings: Settings, loan_id: str) -> str:
    """The customer whose loan this is, as the loan service knows it (not found if none)."""
    return (await read_loan(services, settings, loan_id)).customer_id


async def get_payment(db: Database, payment_id: str) -> PaymentView:
    async with db.connection() as conn:
        payment = await repo.get_payment(conn, payment_id)
        if payment is None:
            raise not_found("Payment", payment_id)
        return PaymentView(payment, await repo.list_installments(conn, payment_id))


async def list_payments(
    db: Database,
    *,
    customer_id: str | None = None,
    loan_id: str | None = None,
    status: str | None = None,
    from_date: date | None = None,
    to_date: date | None = None,
    page: int,
    size: int,
) -> tuple[list[Payment], int]:
    since, until = day_range(from_date, to_date)
    async with db.connection() as conn:
        return await repo.list_payments(
            conn,
            customer_id=customer_id,
            loan_id=loan_id,
            status=status,
            since=since,
            until=until,
            limit=size,
            offset=page * size,
        )
