"""Answers of the customer API that are more than one row (api.md §2)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from elms.core.schemas import CamelModel
from elms.customer.service import CreditMovement


class CreditChangeOut(CamelModel):
    """A reservation, a release or a restore, with the customer's credit before and after it.
    The reservation's fields are there when a reservation moved; `amount` and `referenceId`
    when credit was restored."""

    customer_id: str
    available_credit_before: Decimal
    available_credit_after: Decimal
    used_credit: Decimal
    reservation_id: str | None = None
    reserved_amount: Decimal | None = None
    reservation_expiry: datetime | None = None
    purpose: str | None = None
    loan_application_id: str | None = None
    status: str | None = None
    actual_amount_used: Decimal | None = None
    amount: Decimal | None = None
    reference_id: str | None = None

    @classmethod
    def of(cls, movement: CreditMovement) -> dict[str, Any]:
        """The wire form: only the fields this movement has."""
        fields: dict[str, Any] = {
            "customer_id": movement.customer.customer_id,
            "available_credit_before": movement.available_before,
            "available_credit_after": movement.available_after,
            "used_credit": movement.customer.used_credit,
        }
        reservation = movement.reservation
        if reservation is not None:
            fields.update(
                reservation_id=reservation.reservation_id,
                reserved_amount=reservation.reserved_amount,
                reservation_expiry=reservation.expires_at,
                purpose=reservation.purpose,
                loan_application_id=reservation.loan_application_id,
                status=reservation.status,
                actual_amount_used=reservation.actual_amount_used,
            )
        if movement.amount is not None:
            fields.update(amount=movement.amount, reference_id=movement.reference_id)
        return cls(**fields).model_dump(by_alias=True, exclude_unset=True)
