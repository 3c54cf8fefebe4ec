"""Request and response models of the payment API (api.md §4)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import Field, StringConstraints, field_validator, model_validator

from elms.core.business_day import today
from elms.core.schemas import (
    MULTILINE,
    ONE_LINE,
    READABLE_JSON,
    CamelModel,
    Day,
    Flag,
    Identifier,
    PositiveMoney,
    WireModel,
)
from elms.payment.allocation import PaymentMethod

InstallmentNumbers = Annotated[list[Annotated[int, Field(ge=1, strict=True)]], Field(max_length=24)]


def _not_in_future(value: date | None) -> date | None:
    if value is not None and value > today():
        raise ValueError("paymentDate cannot be in the future")
    return value


def _payoff_alone(request: Any) -> Any:
    """A payoff pays every open installment whole: it names none and is never partial."""
    if request.payoff and (request.installment_numbers or request.is_partial_payment):
        raise ValueError("payoff pays the whole loan: no installmentNumbers, no isPartialPayment")
    return request


class CalculateRequest(WireModel):
    loan_id: Identifier
    payment_amount: PositiveMoney | None = None
    payment_date: Day | None = None
    installment_numbers: InstallmentNumbers | None = None
    is_partial_payment: Flag = False
    # Pay the whole loan off on the payment date (docs/servicing.md).
    payoff: Flag = False

    _date = field_validator("payment_date")(_not_in_future)
    _alone = model_validator(mode="after")(_payoff_alone)


class PaymentRequest(WireModel):
    """`POST /api/v1/payments` as a client sends it (the gateway's saga validates it here)."""

    loan_id: Identifier
    payment_amount: PositiveMoney
    payment_date: Day | None = None
    payment_method: PaymentMethod
    installment_numbers: InstallmentNumbers | None = None
    is_partial_payment: Flag = False
    # Pay the whole loan off on the payment date (docs/servicing.md).
    payoff: Flag = False
    payment_reference: (
        Annotated[
            str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255), ONE_LINE
        ]
        | None
    ) = None
    bank_details: Annotated[dict[str, Any], READABLE_JSON] | None = None
    notes: Annotated[str, StringConstraints(max_length=2000), MULTILINE] | None = None

    _date = field_validator("payment_date")(_not_in_future)
    _alone = model_validator(mode="after")(_payoff_alone)


class RecordPaymentRequest(PaymentRequest):
    """The RECORD_PAYMENT step of the PAYMENT_PROCESSING saga: the saga names the payment, so a
    repeated step finds the payment its first attempt made."""

    payment_id: Identifier | None = None


class FailPaymentRequest(WireModel):
    reason: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000), MULTILINE
    ]


class PaymentOut(CamelModel):
    payment_id: str
    loan_id: str
    customer_id: str
    payment_amount: Decimal
    offered_amount: Decimal | None
    processing_fee: Decimal
    total_amount: Decimal
    payment_date: datetime
    payment_method: str
    payment_reference: str | None
    status: str
    bank_details: dict[str, Any] | None
    is_partial_payment: bool
    notes: str | None
    created_at: datetime
    processed_at: datetime | None
    failed_at: datetime | None
    failure_reason: str | None
    loan_version: int | None
    # REGULAR, or PAYOFF: the payment closed the loan (docs/servicing.md).
    payment_type: str = "REGULAR"


class PaymentInstallmentOut(CamelModel):
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
    # A payoff's: interest of a period not begun, not owed.
    interest_waived: Decimal = Decimal("0.00")
