"""Customer use cases: one function per command or query, one transaction each.

Every movement of credit locks the customer row first (`lock_customer`), asks the pure rules in
`domain`, then writes the new position and its `credit_history` row in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg

from elms.core.clock import day_range
from elms.core.database import Database
from elms.core.errors import DomainError, business_rule, conflict, not_found
from elms.core.ids import new_id
from elms.customer import domain
from elms.customer import repository as repo
from elms.customer.domain import (
    Address,
    CreditPosition,
    CreditTransaction,
    Customer,
    HistoryEntry,
    Reservation,
    ReservationStatus,
)
from elms.customer.schemas import (
    AddressIn,
    AddressUpdate,
    CustomerCreate,
    CustomerUpdate,
    ReleaseCreditRequest,
    ReserveCreditRequest,
    RestoreCreditRequest,
)

_UNIQUE_FIELDS = {
    "customers_email_key": ("DUPLICATE_EMAIL", "email", "A customer with this email exists"),
    "customers_identification_number_key": (
        "DUPLICATE_IDENTIFICATION",
        "identificationNumber",
        "A customer with this identification number exists",
    ),
    "customers_pkey": ("CONFLICT", "customerId", "A customer with this id exists"),
}


def _duplicate(error: asyncpg.UniqueViolationError) -> DomainError:
    code, field, message = _UNIQUE_FIELDS.get(
        error.constraint_name or "", ("CONFLICT", "", "Duplicate value")
    )
    return conflict(message, code, field or None)


@dataclass(frozen=True)
class CreditMovement:
    customer: Customer
    available_before: Decimal
    available_after: Decimal
    reservation: Reservation | None = None
    amount: Decimal | None = None
    reference_id: str | None = None


async def _history(
    conn: asyncpg.Connection,
    customer_id: str,
    kind: CreditTransaction,
    amount: Decimal,
    before: CreditPosition,
    after: CreditPosition,
    reference: tuple[str | None, str | None],
    description: str,
    now: datetime,
) -> None:
    await repo.insert_history(
        conn,
        customer_id,
        kind,
        amount,
        before.available,
        after.available,
        reference,
        description,
        now,
    )


async def _locked(conn: asyncpg.Connection, customer_id: str) -> Customer:
    customer = await repo.lock_customer(conn, customer_id)
    if customer is None:
        raise not_found("Customer", customer_id)
    return customer


# --- customers ------------------------------------------------------------------------------


async def create_customer(
    db: Database, request: CustomerCreate, now: datetime
) -> tuple[Customer, list[Address]]:
    customer_id = request.customer_id or new_id("CUST")
    values = request.model_dump(exclude={"address", "customer_id"})
    values.update(
        customer_id=customer_id,
        available_credit=request.credit_limit,
        used_credit=Decimal("0.00"),
        account_status=domain.AccountStatus.ACTIVE,
        kyc_status=domain.KycStatus.PENDING,
        risk_level=domain.risk_level(request.credit_score),
        created_at=now,
        updated_at=now,
    )
    async with db.transaction() as conn:
        try:
            customer = await repo.insert_customer(conn, values)
        except asyncpg.UniqueViolationError as error:
            raise _duplicate(error) from error
        addresses = []
        if request.address is not None:
            address = request.address.model_dump()
            addresses.append(
                await repo.insert_address(
                    conn, customer_id, {**address, "is_primary": True, "created_at": now}
                )
            )
        zero = CreditPosition(Decimal("0.00"), Decimal("0.00"), Decimal("0.00"))
        await _history(
            conn,
            customer_id,
            CreditTransaction.CREDIT_LIMIT_SET,
            customer.credit_limit,
            zero,
            customer.credit,
            (customer_id, "CUSTOMER"),
            "Initial credit limit",
            now,
        )
    return customer, addresses


async def get_customer(db: Database, customer_id: str) -> tuple[Customer, list[Address]]:
    async with db.connection() as conn:
        customer = await repo.get_customer(conn, customer_id)
        if customer is None:
            raise not_found("Customer", customer_id)
        return customer, await repo.list_addresses(conn, customer_id)


async def list_customers(
    db: Database, status: str | None, query: str | None, page: int, size: int
) -> tuple[list[Customer], int]:
    async with db.connection() as conn:
        return await repo.list_customers(conn, status, query, size, page * size)


async def update_customer(
    db: Database, customer_id: str, request: CustomerUpdate, version: int, now: datetime
) -> tuple[Customer, list[Address]]:
    changes: dict[str, Any] = request.model_dump(exclude_unset=True, exclude={"version"})
    changes = {k: v for k, v in changes.items() if v is not None}
    async with db.transaction() as conn:
        customer = await _locked(conn, customer_id)
        if customer.version != version:
            raise conflict(
                f"Customer was changed (version {customer.version}, not {version})",
                "VERSION_CONFLICT",
                "version",
            )
        count, reserved = await repo.active_reservation_totals(conn, customer_id)
        if "account_status" in changes:
            domain.check_account_move(
                customer.account_status, changes["account_status"], customer.used_credit, count
            )
        if "kyc_status" in changes:
            domain.check_kyc_move(customer.kyc_status, changes["kyc_status"])
        if "credit_score" in changes:
            changes["risk_level"] = domain.risk_level(changes["credit_score"])
        new_limit = changes.pop("credit_limit", None)
        if new_limit is not None and new_limit != customer.credit_limit:
            position = domain.change_limit(customer.credit, new_limit, reserved)
            changes.update(credit_limit=position.limit, available_credit=position.available)
            await _history(
                conn,
                customer_id,
                CreditTransaction.CREDIT_LIMIT_CHANGED,
                new_limit - customer.credit_limit,
                customer.credit,
                position,
                (customer_id, "CUSTOMER"),
                f"Credit limit changed from {customer.credit_limit} to {new_limit}",
                now,
            )
        try:
            updated = await repo.update_customer(conn, customer_id, changes, now)
        except asyncpg.UniqueViolationError as error:
            raise _duplicate(error) from error
        return updated, await repo.list_addresses(conn, customer_id)


# --- addresses ------------------------------------------------------------------------------


async def list_addresses(db: Database, customer_id: str) -> list[Address]:
    return (await get_customer(db, customer_id))[1]


async def add_address(db: Database, customer_id: str, request: AddressIn, now: datetime) -> Address:
    async with db.transaction() as conn:
        await _locked(conn, customer_id)
        existing = await repo.list_addresses(conn, customer_id)
        primary = request.is_primary or not existing
        if primary:
            await repo.clear_primary(conn, customer_id, now)
        values = {**request.model_dump(), "is_primary": primary, "created_at": now}
        return await repo.insert_address(conn, customer_id, values)


async def update_address(
    db: Database, customer_id: str, address_id: int, request: AddressUpdate, now: datetime
) -> Address:
    changes = {k: v for k, v in request.model_dump(exclude_unset=True).items() if v is not None}
    async with db.transaction() as conn:
        await _locked(conn, customer_id)
        address = await repo.get_address(conn, customer_id, address_id)
        if address is None:
            raise not_found("Address", address_id)
        if changes.get("is_primary") is False and address.is_primary:
            raise business_rule(
                "A customer with addresses has exactly one primary: make another one primary",
                "PRIMARY_ADDRESS_REQUIRED",
            )
        if changes.get("is_primary") and not address.is_primary:
            await repo.clear_primary(conn, customer_id, now)
        return await repo.update_address(conn, address_id, changes, now)


async def delete_address(db: Database, customer_id: str, address_id: int, now: datetime) -> None:
    async with db.transaction() as conn:
        await _locked(conn, customer_id)
        address = await repo.get_address(conn, customer_id, address_id)
        if address is None:
            raise not_found("Address", address_id)
        await repo.delete_address(conn, address_id)
        if address.is_primary:
            await repo.promote_oldest_address(conn, customer_id, now)


# --- credit ---------------------------------------------------------------------------------


async def reserve_credit(
    db: Database, customer_id: str, request: ReserveCreditRequest, now: datetime
) -> CreditMovement:
    async with db.transaction() as conn:
        customer = await _locked(conn, customer_id)
        position = domain.reserve(customer.credit, request.amount, customer.account_status)
        reservation = await repo.insert_reservation(
            conn,
            {
                "reservation_id": new_id("RES"),
                "customer_id": customer_id,
                "reserved_amount": request.amount,
                "purpose": request.purpose,
                "loan_application_id": request.loan_application_id,
                "status": ReservationStatus.ACTIVE,
                "created_at": now,
                "expires_at": now + timedelta(seconds=request.reservation_timeout),
                "notes": request.notes,
            },
        )
        updated = await repo.set_credit(conn, customer_id, position, now)
        await _history(
            conn,
            customer_id,
            CreditTransaction.CREDIT_RESERVED,
            request.amount,
            customer.credit,
            position,
            (reservation.reservation_id, "RESERVATION"),
            f"Reserved for {request.purpose}",
            now,
        )
    return CreditMovement(updated, customer.available_credit, updated.available_credit, reservation)


async def release_credit(
    db: Database, customer_id: str, request: ReleaseCreditRequest, now: datetime
) -> CreditMovement:
    """End an active reservation; with `actualAmountUsed` > 0 that part becomes used credit."""
    async with db.transaction() as conn:
        customer = await _locked(conn, customer_id)
        reservation = await repo.lock_reservation(conn, customer_id, request.reservation_id)
        if reservation is None:
            raise not_found("Reservation", request.reservation_id)
        if reservation.status != ReservationStatus.ACTIVE:
            raise business_rule(
                f"Reservation is {reservation.status}, not ACTIVE", "RESERVATION_NOT_ACTIVE"
            )
        used = request.actual_amount_used
        position = domain.settle_reservation(customer.credit, reservation.reserved_amount, used)
        status = ReservationStatus.USED if used > 0 else ReservationStatus.RELEASED
        closed = await repo.close_reservation(conn, reservation.reservation_id, status, used, now)
        updated = await repo.set_credit(conn, customer_id, position, now)
        reference = (reservation.reservation_id, "RESERVATION")
        reason = request.reason or "Reservation released"
        if used > 0:
            # The used part was already out of available credit: available does not move.
            await _history(
                conn,
                customer_id,
                CreditTransaction.CREDIT_USED,
                used,
                customer.credit,
                customer.credit,
                reference,
                reason,
                now,
            )
        returned = reservation.reserved_amount - used
        if returned > 0:
            await _history(
                conn,
                customer_id,
                CreditTransaction.CREDIT_RELEASED,
                returned,
                customer.credit,
                position,
                reference,
                reason,
                now,
            )
    return CreditMovement(updated, customer.available_credit, updated.available_credit, closed)


async def restore_credit(
    db: Database, customer_id: str, request: RestoreCreditRequest, now: datetime
) -> CreditMovement:
    """Principal repaid returns to available credit, once per reference (a payment id): a repeat
    with the same reference changes nothing and answers as the first did."""
    async with db.transaction() as conn:
        customer = await _locked(conn, customer_id)
        earlier = await repo.find_restore(conn, customer_id, request.reference_id)
        if earlier is not None:
            if earlier.amount != request.amount:
                raise conflict(
                    f"Reference {request.reference_id} already restored {earlier.amount}",
                    "CONFLICT",
                    "referenceId",
                )
            assert earlier.previous_available_credit is not None
            assert earlier.new_available_credit is not None
            return CreditMovement(
                customer,
                earlier.previous_available_credit,
                earlier.new_available_credit,
                amount=earlier.amount,
                reference_id=earlier.reference_id,
            )
        position = domain.restore(customer.credit, request.amount)
        updated = await repo.set_credit(conn, customer_id, position, now)
        await _history(
            conn,
            customer_id,
            CreditTransaction.CREDIT_RESTORED,
            request.amount,
            customer.credit,
            position,
            (request.reference_id, request.reference_type),
            request.description or "Principal repaid",
            now,
        )
    return CreditMovement(
        updated,
        customer.available_credit,
        updated.available_credit,
        amount=request.amount,
        reference_id=request.reference_id,
    )


async def list_reservations(
    db: Database, customer_id: str, status: str | None, page: int, size: int
) -> tuple[list[Reservation], int]:
    async with db.connection() as conn:
        if await repo.get_customer(conn, customer_id) is None:
            raise not_found("Customer", customer_id)
        return await repo.list_reservations(conn, customer_id, status, size, page * size)


async def credit_history(
    db: Database,
    customer_id: str,
    from_date: date | None,
    to_date: date | None,
    transaction_type: str | None,
    page: int,
    size: int,
) -> tuple[list[HistoryEntry], int]:
    since, until = day_range(from_date, to_date)
    async with db.connection() as conn:
        if await repo.get_customer(conn, customer_id) is None:
            raise not_found("Customer", customer_id)
        return await repo.list_history(
            conn, customer_id, since, until, transaction_type, size, page * size
        )


async def expire_reservations(db: Database, now: datetime, batch: int = 100) -> int:
    """Return the credit of active reservations past their expiry. Safe with several workers:
    a customer another transaction holds is skipped until the next round."""
    async with db.connection() as conn:
        candidates = await repo.find_expired_reservations(conn, now, batch)
    expired = 0
    for customer_id, reservation_id in candidates:
        async with db.transaction() as conn:
            customer = await repo.try_lock_customer(conn, customer_id)
            if customer is None:
                continue
            reservation = await repo.lock_reservation(conn, customer_id, reservation_id)
            if (
                reservation is None
                or reservation.status != ReservationStatus.ACTIVE
                or reservation.expires_at >= now
            ):
                continue
            position = domain.settle_reservation(
                customer.credit, reservation.reserved_amount, Decimal("0.00")
            )
            await repo.close_reservation(
                conn, reservation_id, ReservationStatus.EXPIRED, Decimal("0.00"), now
            )
            await repo.set_credit(conn, customer_id, position, now)
            await _history(
                conn,
                customer_id,
                CreditTransaction.CREDIT_EXPIRED,
                reservation.reserved_amount,
                customer.credit,
                position,
                (reservation_id, "RESERVATION"),
                "Reservation expired",
                now,
            )
            expired += 1
    return expired
