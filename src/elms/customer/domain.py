"""The customer's rules, pure: credit arithmetic, status moves, risk. No I/O, no clock, no ids."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from elms.core.errors import business_rule

ADULT_AGE_YEARS = 18
# No one alive was born earlier: a date before it is a typing slip (1800 for 1980), not a person.
EARLIEST_BIRTH_DATE = date(1900, 1, 1)

# Fields of a customer only officers change (api.md §6): credit and KYC, and what underwriting
# and KYC were decided on (income, identity, age), which a customer's word alone must not move.
OFFICER_FIELDS = frozenset(
    {
        "credit_limit",
        "kyc_status",
        "account_status",
        "credit_score",
        "annual_income",
        "identification_number",
        "identification_type",
        "date_of_birth",
    }
)


class AccountStatus(StrEnum):
    ACTIVE = "ACTIVE"
    SUSPENDED = "SUSPENDED"
    CLOSED = "CLOSED"


class KycStatus(StrEnum):
    PENDING = "PENDING"
    VERIFIED = "VERIFIED"
    REJECTED = "REJECTED"


class RiskLevel(StrEnum):
    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"


class IdentificationType(StrEnum):
    SSN = "SSN"
    PASSPORT = "PASSPORT"
    DRIVER_LICENSE = "DRIVER_LICENSE"
    NATIONAL_ID = "NATIONAL_ID"
    TAX_ID = "TAX_ID"


class AddressType(StrEnum):
    """What an address is for; PRIMARY is the schema's default. Which address is the
    customer's primary one is `is_primary`, whatever its type."""

    PRIMARY = "PRIMARY"
    HOME = "HOME"
    WORK = "WORK"
    MAILING = "MAILING"
    BILLING = "BILLING"
    OTHER = "OTHER"


class EmploymentStatus(StrEnum):
    EMPLOYED = "EMPLOYED"
    SELF_EMPLOYED = "SELF_EMPLOYED"
    UNEMPLOYED = "UNEMPLOYED"
    RETIRED = "RETIRED"
    STUDENT = "STUDENT"


class ReservationStatus(StrEnum):
    ACTIVE = "ACTIVE"
    USED = "USED"
    RELEASED = "RELEASED"
    EXPIRED = "EXPIRED"


class CreditTransaction(StrEnum):
    CREDIT_LIMIT_SET = "CREDIT_LIMIT_SET"
    CREDIT_LIMIT_CHANGED = "CREDIT_LIMIT_CHANGED"
    CREDIT_RESERVED = "CREDIT_RESERVED"
    CREDIT_RELEASED = "CREDIT_RELEASED"
    CREDIT_USED = "CREDIT_USED"
    CREDIT_EXPIRED = "CREDIT_EXPIRED"
    CREDIT_RESTORED = "CREDIT_RESTORED"
    # No credit moves (it came back payment by payment); the history shows the loan ended.
    LOAN_PAID_OFF = "LOAN_PAID_OFF"


@dataclass(frozen=True)
class Customer:
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

    @property
    def credit(self) -> CreditPosition:
        return CreditPosition(self.credit_limit, self.available_credit, self.used_credit)


@dataclass(frozen=True)
class Address:
    address_id: int
    customer_id: str
    address_type: str
    street: str
    city: str
    state: str
    zip_code: str
    country: str
    is_primary: bool
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class Reservation:
    reservation_id: str
    customer_id: str
    reserved_amount: Decimal
    purpose: str
    loan_application_id: str | None
    status: str
    created_at: datetime
    expires_at: datetime
    released_at: datetime | None
    actual_amount_used: Decimal
    notes: str | None


@dataclass(frozen=True)
class HistoryEntry:
    history_id: int
    customer_id: str
    transaction_type: str
    amount: Decimal
    previous_available_credit: Decimal | None
    new_available_credit: Decimal | None
    reference_id: str | None
    reference_type: str | None
    description: str | None
    created_at: datetime


@dataclass(frozen=True)
class CreditPosition:
    """limit = available + used + Σ active reservations, every part ≥ 0 (architecture.md §4)."""

    limit: Decimal
    available: Decimal
    used: Decimal


def risk_level(credit_score: int | None) -> RiskLevel:
    """api.md §2: ≥ 740 LOW, 670-739 MEDIUM, below 670 or unknown HIGH."""
    if credit_score is None or credit_score < 670:
        return RiskLevel.HIGH
    return RiskLevel.LOW if credit_score >= 740 else RiskLevel.MEDIUM


def is_adult(date_of_birth: date, today: date) -> bool:
    try:
        coming_of_age = date_of_birth.replace(year=date_of_birth.year + ADULT_AGE_YEARS)
    except ValueError:  # born on 29 February: of age on 1 March
        coming_of_age = date(date_of_birth.year + ADULT_AGE_YEARS, 3, 1)
    return coming_of_age <= today


def reserve(position: CreditPosition, amount: Decimal, account_status: str) -> CreditPosition:
    if account_status != AccountStatus.ACTIVE:
        raise business_rule(
            f"Customer account is {account_status}, not ACTIVE", "CUSTOMER_NOT_ACTIVE"
        )
    if amount > position.available:
        raise business_rule(
            f"Requested {amount} exceeds available credit {position.available}",
            "INSUFFICIENT_CREDIT",
            availableCredit=position.available,
            requestedAmount=amount,
        )
    return CreditPosition(position.limit, position.available - amount, position.used)


def settle_reservation(
    position: CreditPosition, reserved: Decimal, amount_used: Decimal
) -> CreditPosition:
    """End an active reservation: `amount_used` becomes used credit, the rest is available again."""
    if not Decimal(0) <= amount_used <= reserved:
        raise business_rule(
            f"actualAmountUsed must be between 0 and the reserved {reserved}",
            "INVALID_AMOUNT_USED",
        )
    return CreditPosition(
        position.limit, position.available + reserved - amount_used, position.used + amount_used
    )


def restore(position: CreditPosition, amount: Decimal) -> CreditPosition:
    """Principal repaid: used credit becomes available again."""
    if amount > position.used:
        raise business_rule(
            f"Cannot restore {amount}: only {position.used} of credit is in use",
            "RESTORE_EXCEEDS_USED_CREDIT",
        )
    return CreditPosition(position.limit, position.available + amount, position.used - amount)


def change_limit(
    position: CreditPosition, new_limit: Decimal, actively_reserved: Decimal
) -> CreditPosition:
    available = new_limit - position.used - actively_reserved
    if available < 0:
        raise business_rule(
            f"Credit limit {new_limit} is below the {position.used} used"
            f" and {actively_reserved} reserved",
            "CREDIT_LIMIT_BELOW_USAGE",
        )
    return CreditPosition(new_limit, available, position.used)


_ACCOUNT_MOVES = {
    AccountStatus.ACTIVE: {AccountStatus.SUSPENDED, AccountStatus.CLOSED},
    AccountStatus.SUSPENDED: {AccountStatus.ACTIVE, AccountStatus.CLOSED},
    AccountStatus.CLOSED: set(),
}
_KYC_MOVES = {
    KycStatus.PENDING: {KycStatus.VERIFIED, KycStatus.REJECTED},
    KycStatus.VERIFIED: set(),
    KycStatus.REJECTED: set(),
}


def check_account_move(
    current: str, target: str, used_credit: Decimal, active_reservations: int
) -> None:
    """ACTIVE ↔ SUSPENDED; to CLOSED only with nothing owed or reserved.

    Used credit stands for the customer's open loans: it is taken when a loan is approved and
    given back as principal is repaid, so zero used credit means no active loan."""
    if current == target:
        return
    if AccountStatus(target) not in _ACCOUNT_MOVES[AccountStatus(current)]:
        raise business_rule(
            f"Account status cannot move from {current} to {target}", "INVALID_STATUS_TRANSITION"
        )
    if target == AccountStatus.CLOSED and (used_credit > 0 or active_reservations > 0):
        raise business_rule(
            "Account cannot be closed while credit is used or reserved",
            "CUSTOMER_HAS_ACTIVE_CREDIT",
        )


def check_kyc_move(current: str, target: str) -> None:
    if current != target and KycStatus(target) not in _KYC_MOVES[KycStatus(current)]:
        raise business_rule(
            f"KYC status cannot move from {current} to {target}", "INVALID_STATUS_TRANSITION"
        )


def use_directly(position: CreditPosition, amount: Decimal) -> CreditPosition:
    """Take credit into use without a reservation (a loan approved after its reservation
    expired): the same check as a reservation, then straight to used credit."""
    if amount > position.available:
        raise business_rule(
            f"Loan amount {amount} exceeds available credit {position.available}",
            "INSUFFICIENT_CREDIT",
        )
    return CreditPosition(position.limit, position.available - amount, position.used + amount)
