"""What the customer service does with the loan service's events (architecture.md §4 outbox).

Each event is applied once, in one transaction with its `processed_events` record, so a
repeated delivery changes nothing:
- LOAN_APPROVED: the application's reservation becomes used credit (the loan amount);
- LOAN_REJECTED, LOAN_CANCELLED: the reservation returns to available credit, or, for a loan
  cancelled after approval, the used credit does.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from asyncpg import Connection

from elms.core import outbox
from elms.core.database import Database
from elms.core.errors import invalid, not_found
from elms.core.money import ZERO, MoneyFormatError, parse_money
from elms.customer import domain
from elms.customer import repository as repo
from elms.customer.domain import CreditPosition, CreditTransaction, ReservationStatus


@dataclass(frozen=True)
class LoanEvent:
    event_id: int
    event_type: str
    source_service: str
    loan_id: str
    application_id: str
    customer_id: str
    loan_amount: Decimal
    previous_status: str | None

    @classmethod
    def from_wire(
        cls, event_id: int, event_type: str, source: str, data: dict[str, Any]
    ) -> LoanEvent:
        try:
            return cls(
                event_id,
                event_type,
                source,
                str(data["loanId"]),
                str(data["applicationId"]),
                str(data["customerId"]),
                parse_money(data["loanAmount"]),
                data.get("previousStatus"),
            )
        except (KeyError, MoneyFormatError) as error:
            raise invalid("data", f"not a loan event: {error}") from error


# Events the customer service is told of and keeps nothing of: the business date moved (the
# service learns it, in memory), a loan moved between delinquency buckets (the loan service keeps
# its history). Each is still taken once.
NOTICES = frozenset({"BUSINESS_DATE_CHANGED", "LOAN_DELINQUENCY_CHANGED"})


async def note(db: Database, event_id: int, event_type: str, source: str) -> str:
    async with db.transaction() as conn:
        if not await outbox.first_delivery(conn, source, event_id, event_type):
            return "DUPLICATE"
    return "NOTED"


async def consume(db: Database, event: LoanEvent, now: datetime) -> str:
    """Apply the event unless it was applied before; returns APPLIED, DUPLICATE or IGNORED."""
    handler = _HANDLERS.get(event.event_type)
    async with db.transaction() as conn:
        if not await outbox.first_delivery(
            conn, event.source_service, event.event_id, event.event_type
        ):
            return "DUPLICATE"
        if handler is None:
            return "IGNORED"
        await handler(conn, event, now)
    return "APPLIED"


async def _history(
    conn: Connection,
    event: LoanEvent,
    kind: CreditTransaction,
    amount: Decimal,
    before: CreditPosition,
    after: CreditPosition,
    description: str,
    now: datetime,
) -> None:
    await repo.insert_history(
        conn,
        event.customer_id,
        kind,
        amount,
        before.available,
        after.available,
        (event.loan_id, "LOAN"),
        description,
        now,
    )


async def _locked_customer(conn: Connection, event: LoanEvent) -> domain.Customer:
    customer = await repo.lock_customer(conn, event.customer_id)
    if customer is None:
        raise not_found("Customer", event.customer_id)
    return customer


async def _loan_approved(conn: Connection, event: LoanEvent, now: datetime) -> None:
    customer = await _locked_customer(conn, event)
    before = customer.credit
    reservation = await repo.lock_active_reservation_for_application(
        conn, event.customer_id, event.application_id
    )
    if reservation is not None:
        used = min(event.loan_amount, reservation.reserved_amount)
        after = domain.settle_reservation(before, reservation.reserved_amount, used)
        await repo.close_reservation(
            conn, reservation.reservation_id, ReservationStatus.USED, used, now
        )
        extra = event.loan_amount - used
        if extra > 0:
            after = domain.use_directly(after, extra)
    else:
        after = domain.use_directly(before, event.loan_amount)
    await repo.set_credit(conn, event.customer_id, after, now)
    await _history(
        conn,
        event,
        CreditTransaction.CREDIT_USED,
        event.loan_amount,
        before,
        after,
        f"Loan {event.loan_id} approved",
        now,
    )


async def _loan_closed_unused(conn: Connection, event: LoanEvent, now: datetime) -> None:
    customer = await _locked_customer(conn, event)
    before = customer.credit
    if event.previous_status == "APPROVED":
        # Approval turned the reservation into used credit: give that back, but only if this
        # loan's approval was applied here (it may have been refused, e.g. for lack of credit).
        if not await repo.has_history(
            conn, event.customer_id, CreditTransaction.CREDIT_USED, event.loan_id
        ):
            return
        after = domain.restore(before, event.loan_amount)
        returned = event.loan_amount
    else:
        reservation = await repo.lock_active_reservation_for_application(
            conn, event.customer_id, event.application_id
        )
        if reservation is None:
            return  # already expired or released: nothing is held for this loan
        after = domain.settle_reservation(before, reservation.reserved_amount, Decimal("0.00"))
        await repo.close_reservation(
            conn, reservation.reservation_id, ReservationStatus.RELEASED, Decimal("0.00"), now
        )
        returned = reservation.reserved_amount
    await repo.set_credit(conn, event.customer_id, after, now)
    await _history(
        conn,
        event,
        CreditTransaction.CREDIT_RELEASED,
        returned,
        before,
        after,
        f"Loan {event.loan_id} {event.event_type.removeprefix('LOAN_').lower()}",
        now,
    )


async def _loan_paid_off(conn: Connection, event: LoanEvent, now: datetime) -> None:
    """architecture.md §4: a loan paid off goes into the customer's credit history. Its credit
    came back with each payment (CREDIT_RESTORED), so this row moves nothing."""
    customer = await _locked_customer(conn, event)
    position = customer.credit
    await _history(
        conn,
        event,
        CreditTransaction.LOAN_PAID_OFF,
        ZERO,
        position,
        position,
        f"Loan {event.loan_id} of {event.loan_amount} paid off",
        now,
    )


_HANDLERS = {
    "LOAN_APPROVED": _loan_approved,
    "LOAN_REJECTED": _loan_closed_unused,
    "LOAN_CANCELLED": _loan_closed_unused,
    "LOAN_PAID_OFF": _loan_paid_off,
}
