"""Request and response models of the loan API (api.md §3)."""

from __future__ import annotations

from contextvars import ContextVar
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, StringConstraints, ValidationInfo, field_validator

from elms.core.business_day import today
from elms.core.schemas import (
    MULTILINE,
    ONE_LINE,
    READABLE_JSON,
    CamelModel,
    Day,
    Identifier,
    Money,
    NonNegativeMoney,
    PositiveMoney,
    Rate,
    WireModel,
)
from elms.loan import products
from elms.loan.domain import CollateralType, LoanType
from elms.loan.product_schemas import ProductCode
from elms.loan.products import MAX_INSTALLMENTS, Product
from elms.loan.schedule import InterestMethod

Text = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000), MULTILINE]
Purpose = Annotated[str, StringConstraints(strip_whitespace=True, max_length=100), ONE_LINE]
# Free-form details a client describes themselves with: any JSON, its text readable.
Details = Annotated[dict[str, Any], READABLE_JSON]
# The loans table's CHECK allows 0.001–0.5; the loan's product narrows it (checked against the
# product once the body is read: elms.loan.products.request_problems).
SchemaRate = Annotated[Rate, Field(ge=Decimal("0.001"), le=Decimal("0.5"))]
# The product the request being validated names (or its loan type's), set by the route before
# its body is read (api.py), so a value outside the product's ranges is reported with every
# other field problem (api.md §1). The service checks the ranges again on the product it uses.
PRODUCT: ContextVar[Product | None] = ContextVar("product", default=None)


def _not_in_future(value: date | None) -> date | None:
    if value is not None and value > today():
        raise ValueError("must not be in the future")
    return value


class Collateral(WireModel):
    type: CollateralType = CollateralType.NONE
    value: NonNegativeMoney = Decimal("0.00")
    description: Annotated[str, StringConstraints(max_length=500), MULTILINE] | None = None


# How far ahead a disbursement may be requested: a year, which keeps every due date a real date.
MAX_DISBURSEMENT_DELAY_DAYS = 366


class ScheduleRequest(WireModel):
    """What a schedule depends on (the calculator's `PreviewRequest` reads just this)."""

    loan_amount: PositiveMoney
    interest_rate: SchemaRate
    installment_count: Annotated[int, Field(strict=True, ge=1, le=MAX_INSTALLMENTS)]
    # None: the product's default method.
    interest_method: InterestMethod | None = None
    application_date: Day | None = None
    requested_disbursement_date: Day | None = None
    # The product the loan is made under; None: the product of its loan type.
    product_code: ProductCode | None = None
    loan_type: LoanType = LoanType.PERSONAL

    @field_validator(*products.REQUEST_FIELDS)
    @classmethod
    def _within_product(cls, value: Any, info: ValidationInfo) -> Any:
        product = PRODUCT.get()
        if product is None or value is None:
            return value
        why = products.outside(product, info.field_name, value)
        if why is not None:
            raise ValueError(f"{why} for product {product.code}")
        return value

    # A field validator, not a model validator: the problem is reported under its own field and
    # together with every other field's (api.md §1), which a model validator, run only once all
    # fields are valid, would not be.
    @field_validator("requested_disbursement_date")
    @classmethod
    def _disbursement_after_application(
        cls, wanted: date | None, info: ValidationInfo
    ) -> date | None:
        if wanted is None or "application_date" not in info.data:
            return wanted  # an invalid application date is reported on its own
        applied = info.data["application_date"] or today()
        if wanted < applied:
            raise ValueError("requestedDisbursementDate must not be before applicationDate")
        if wanted > today() + timedelta(days=MAX_DISBURSEMENT_DELAY_DAYS):
            raise ValueError(
                f"requestedDisbursementDate must be within {MAX_DISBURSEMENT_DELAY_DAYS} days"
            )
        return wanted


class PreviewRequest(ScheduleRequest):
    """The calculator of `POST /loans/preview` takes a loan request as it is: the fields a
    schedule does not depend on are ignored (a field under its Python name still counts as
    missing its wire name)."""

    model_config = ConfigDict(extra="ignore")


class ApplicantSnapshot(CamelModel):
    """What the saga's VALIDATE_CUSTOMER step saw of the customer; without it the loan service
    asks the customer service."""

    account_status: str
    kyc_status: str
    credit_score: int | None = None
    risk_level: str
    annual_income: Money | None = None
    available_credit: Money


class LoanRequest(ScheduleRequest):
    customer_id: Identifier
    loan_type: LoanType
    purpose: Purpose | None = None
    collateral: Collateral = Field(default_factory=Collateral)
    employment_details: Details | None = None
    income_verification: Details | None = None
    application_id: Identifier | None = None

    _dates = field_validator("application_date")(_not_in_future)


class SagaLoanRequest(LoanRequest):
    """CREATE_LOAN as the saga calls it (internal route only): its id makes the call idempotent,
    and the customer it validated stands in for asking the customer service. A client can never
    send these: the public route's model does not have them."""

    saga_id: Identifier | None = None
    applicant: ApplicantSnapshot | None = None


class ApproveRequest(WireModel):
    notes: Text | None = None
    conditions: Annotated[dict[str, Any] | list[Any], READABLE_JSON] | None = None
    officer_id: Identifier | None = None


class WaivePenaltyRequest(WireModel):
    """Waive `amount` of an installment's penalty, or all it owes on the business date."""

    amount: PositiveMoney | None = None
    reason: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500), MULTILINE
    ]


class RejectRequest(WireModel):
    reason: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000), MULTILINE
    ]
    officer_id: Identifier | None = None


class CancelRequest(WireModel):
    reason: Text | None = None


class DisburseRequest(WireModel):
    disbursement_date: Day | None = None

    _dates = field_validator("disbursement_date")(_not_in_future)


class InstallmentPaymentIn(WireModel):
    installment_number: Annotated[int, Field(ge=1, strict=True)]
    principal_paid: NonNegativeMoney
    interest_paid: NonNegativeMoney
    penalty_paid: NonNegativeMoney = Decimal("0.00")
    discount_applied: NonNegativeMoney = Decimal("0.00")
    # A payoff's: interest of a period not begun (checked against the loan's payoff quote).
    interest_waived: NonNegativeMoney = Decimal("0.00")


class ApplyPaymentRequest(WireModel):
    payment_id: Identifier
    expected_version: Annotated[int, Field(ge=1, strict=True)]
    paid_at: datetime
    # A payoff pays every open installment: as many as a loan has.
    installments: Annotated[
        list[InstallmentPaymentIn], Field(min_length=1, max_length=MAX_INSTALLMENTS)
    ]

    @field_validator("installments")
    @classmethod
    def _distinct(cls, rows: list[InstallmentPaymentIn]) -> list[InstallmentPaymentIn]:
        numbers = [r.installment_number for r in rows]
        if len(set(numbers)) != len(numbers):
            raise ValueError("an installment may appear once per payment")
        return rows


class InstallmentOut(CamelModel):
    installment_number: int
    due_date: date
    principal_amount: Decimal
    interest_amount: Decimal
    total_amount: Decimal
    status: str
    paid_date: datetime | None
    paid_amount: Decimal
    discount_applied: Decimal
    penalty_applied: Decimal
    remaining_amount: Decimal
    # What the payment service allocates against (interest is settled first).
    principal_remaining: Decimal
    interest_remaining: Decimal
    # The late penalty as a balance: frozen at `penaltyFrozenOn` (the last change of what the
    # installment owes), accruing since on what is unpaid; `penaltyDue`, all it owes on the
    # business date; `penaltyApplied` is what was paid of it, `penaltyWaived` what was waived.
    penalty_outstanding: Decimal
    penalty_frozen_on: date | None
    penalty_waived: Decimal
    penalty_due: Decimal
    interest_waived: Decimal


class ScheduleRowOut(CamelModel):
    installment_number: int
    due_date: date
    principal_amount: Decimal
    interest_amount: Decimal
    total_amount: Decimal


class LoanOut(CamelModel):
    loan_id: str
    application_id: str | None
    customer_id: str
    loan_amount: Decimal
    outstanding_amount: Decimal
    interest_rate: Decimal
    interest_method: str
    installment_count: int
    installment_amount: Decimal
    total_repayment_amount: Decimal
    loan_type: str
    product_code: str
    product_version: int
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
    created_at: datetime
    updated_at: datetime
    version: int
    saga_id: str | None


class VerifyDocumentRequest(WireModel):
    status: Literal["VERIFIED", "REJECTED"]
    verified_by: Identifier | None = None


DocumentType = Annotated[
    str, StringConstraints(strip_whitespace=True, pattern=r"^[A-Za-z][A-Za-z0-9_ -]{0,99}$")
]


class DocumentOut(CamelModel):
    document_id: int
    loan_id: str
    document_type: str
    document_name: str
    file_size: int | None
    mime_type: str | None
    uploaded_at: datetime
    uploaded_by: str | None
    verification_status: str
    verified_at: datetime | None
    verified_by: str | None
