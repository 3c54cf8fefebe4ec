"""Request and response models of the customer API (api.md §2)."""

from __future__ import annotations

import unicodedata
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any

import email_validator
from pydantic import (
    AfterValidator,
    BeforeValidator,
    EmailStr,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)

from elms.core.business_day import today
from elms.core.schemas import (
    MULTILINE,
    ONE_LINE,
    CamelModel,
    Day,
    Flag,
    Identifier,
    NonNegativeMoney,
    PositiveMoney,
    WireModel,
)
from elms.customer.domain import (
    EARLIEST_BIRTH_DATE,
    AccountStatus,
    AddressType,
    EmploymentStatus,
    IdentificationType,
    KycStatus,
    ReservationStatus,
    is_adult,
)

Name = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100), ONE_LINE
]
# E.164-like: an optional +, then 7 to 15 digits not starting with 0.
Phone = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^\+?[1-9][0-9]{6,14}$")]
IdentificationNumber = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50), ONE_LINE
]
CreditScore = Annotated[int, Field(ge=300, le=850, strict=True)]
Text100 = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100), ONE_LINE
]
Street = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255), ONE_LINE
]
Text50 = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50), ONE_LINE
]
ZipCode = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20), ONE_LINE
]
Note = Annotated[str, StringConstraints(max_length=2000), MULTILINE]
Reason = Annotated[str, StringConstraints(max_length=500), MULTILINE]


def _check_birth_date(value: date | None) -> date | None:
    if value is None:
        return value
    if value < EARLIEST_BIRTH_DATE:
        raise ValueError(f"dateOfBirth must be on or after {EARLIEST_BIRTH_DATE.isoformat()}")
    if value >= today():
        raise ValueError("dateOfBirth must be in the past")
    if not is_adult(value, today()):
        raise ValueError("customer must be at least 18 years old")
    return value


def _folded(value: Any) -> Any:
    # Emails are unique as people read them: NFKC makes a fullwidth ｕni1@example.com the
    # uni1@example.com it looks like, and case never tells two customers apart.
    return unicodedata.normalize("NFKC", value).lower() if isinstance(value, str) else value


# CJK languages write these scripts together in one word; any other mix is a homograph trick.
_ONE_SCRIPT = dict.fromkeys(("CJK", "HIRAGANA", "KATAKANA", "KATAKANA-HIRAGANA", "HANGUL"), "HAN")


def _scripts(text: str) -> set[str]:
    """The scripts of the letters of `text`, by their Unicode names (LATIN, CYRILLIC, GREEK…)."""
    words = (unicodedata.name(ch, "UNKNOWN").split()[0] for ch in text if ch.isalpha())
    return {_ONE_SCRIPT.get(word, word) for word in words}


def _canonical_email(value: str) -> str:
    """One form per address: its local part, then its domain in IDNA ASCII (`xn--…`), whether
    it was sent in Unicode or ASCII. A local part or a domain label whose letters mix scripts
    (`exаmple` with a Cyrillic а) is refused: it is made to pass for another address."""
    parts = email_validator.validate_email(value, check_deliverability=False)
    if len(_scripts(parts.local_part)) > 1:
        raise ValueError("the part before @ mixes letters of different scripts")
    if any(len(_scripts(label)) > 1 for label in parts.domain.split(".")):
        raise ValueError("a label of the domain mixes letters of different scripts")
    canonical = f"{parts.local_part}@{parts.ascii_domain}"
    if len(canonical) > 255:
        raise ValueError("the email must be at most 255 characters")
    return canonical


Email = Annotated[EmailStr, BeforeValidator(_folded), AfterValidator(_canonical_email)]


class AddressIn(WireModel):
    address_type: AddressType = AddressType.PRIMARY
    street: Street
    city: Text100
    state: Text50
    zip_code: ZipCode
    # No default: an address in London is not in the USA (the schema's DEFAULT 'USA' is never
    # relied on).
    country: Text50
    is_primary: Flag = False


class AddressUpdate(WireModel):
    address_type: AddressType | None = None
    street: Street | None = None
    city: Text100 | None = None
    state: Text50 | None = None
    zip_code: ZipCode | None = None
    country: Text50 | None = None
    is_primary: Flag | None = None


class AddressOut(CamelModel):
    address_id: int
    address_type: str
    street: str
    city: str
    state: str
    zip_code: str
    country: str
    is_primary: bool
    created_at: datetime
    updated_at: datetime


class CustomerCreate(WireModel):
    customer_id: Identifier | None = None
    first_name: Name
    last_name: Name
    email: Email
    phone: Phone | None = None
    date_of_birth: Day | None = None
    identification_number: IdentificationNumber | None = None
    # No default: a passport number filed as an SSN is wrong, and a number needs its type.
    identification_type: IdentificationType | None = None
    credit_limit: NonNegativeMoney = Decimal("0.00")
    annual_income: NonNegativeMoney | None = None
    employment_status: EmploymentStatus | None = None
    credit_score: CreditScore | None = None
    address: AddressIn | None = None

    _birth = field_validator("date_of_birth")(_check_birth_date)

    @model_validator(mode="before")
    @classmethod
    def _type_always_read(cls, body: Any) -> Any:
        # An absent type is checked as a null one, so that a number without it is reported
        # under `identificationType` (a default's problem would be under its Python name).
        if isinstance(body, dict) and "identificationType" not in body:
            return {**body, "identificationType": None}
        return body

    @field_validator("identification_type")
    @classmethod
    def _typed_number(
        cls, kind: IdentificationType | None, info: ValidationInfo
    ) -> IdentificationType | None:
        if kind is None and info.data.get("identification_number") is not None:
            raise ValueError("identificationType is required with identificationNumber")
        return kind


class CustomerUpdate(WireModel):
    """Fields given are changed, the rest left alone. `version` here or in If-Match."""

    version: Annotated[int, Field(ge=1, strict=True)] | None = None
    first_name: Name | None = None
    last_name: Name | None = None
    email: Email | None = None
    phone: Phone | None = None
    date_of_birth: Day | None = None
    identification_number: IdentificationNumber | None = None
    identification_type: IdentificationType | None = None
    credit_limit: NonNegativeMoney | None = None
    annual_income: NonNegativeMoney | None = None
    employment_status: EmploymentStatus | None = None
    credit_score: CreditScore | None = None
    account_status: AccountStatus | None = None
    kyc_status: KycStatus | None = None

    _birth = field_validator("date_of_birth")(_check_birth_date)


class CustomerOut(CamelModel):
    customer_id: str
    first_name: str
    last_name: str
    email: str
    phone: str | None
    date_of_birth: date | None
    identification_number: str | None
    identification_type: str | None
    credit_limit: Decimal
    available_credit: Decimal
    used_credit: Decimal
    annual_income: Decimal | None
    employment_status: str | None
    credit_score: int | None
    account_status: str
    kyc_status: str
    risk_level: str
    created_at: datetime
    updated_at: datetime
    last_login_at: datetime | None
    version: int
    addresses: list[AddressOut] | None = None


class ReserveCreditRequest(WireModel):
    amount: PositiveMoney
    purpose: Text100
    reservation_timeout: Annotated[int, Field(ge=1, le=86400, strict=True)] = 300
    loan_application_id: Identifier | None = None
    notes: Note | None = None


class ReleaseCreditRequest(WireModel):
    reservation_id: Identifier
    reason: Reason | None = None
    actual_amount_used: NonNegativeMoney = Decimal("0.00")
    notes: Note | None = None


class RestoreCreditRequest(WireModel):
    amount: PositiveMoney
    reference_id: Identifier
    reference_type: Text50 = "PAYMENT"
    description: Reason | None = None


class ReservationOut(CamelModel):
    reservation_id: str
    customer_id: str
    reserved_amount: Decimal
    purpose: str
    loan_application_id: str | None
    status: str
    created_at: datetime
    reservation_expiry: datetime = Field(validation_alias="expires_at")
    released_at: datetime | None
    actual_amount_used: Decimal
    notes: str | None


class CreditMovementOut(CamelModel):
    """A reservation (or restore) with the customer's credit before and after it."""

    reservation_id: str | None = None
    customer_id: str
    reserved_amount: Decimal | None = None
    amount: Decimal | None = None
    available_credit_before: Decimal
    available_credit_after: Decimal
    used_credit_after: Decimal
    reservation_expiry: datetime | None = None
    purpose: str | None = None
    status: str | None = None
    actual_amount_used: Decimal | None = None
    reference_id: str | None = None


class HistoryOut(CamelModel):
    history_id: int
    transaction_type: str
    amount: Decimal
    previous_available_credit: Decimal | None
    new_available_credit: Decimal | None
    reference_id: str | None
    reference_type: str | None
    description: str | None
    created_at: datetime


ReservationStatusFilter = ReservationStatus
