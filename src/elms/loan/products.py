"""Loan products, pure: the configuration a loan is made under, as one immutable version.

A product version holds every rule that used to be a global setting or a fixed list: the ranges
a loan request must fall in (amount, rate, installment counts, interest methods), the automatic
underwriting thresholds, the payment terms (early discount, late penalty, grace, cap, processing
fees, the order a partial payment pays an installment's parts) and the delinquency buckets. A
loan records the code and version it was made under and keeps them for life, so changing a
product (a new version) never changes a loan already made.

`problems` checks a product as a whole and names every problem at once; `request_problems`
checks a loan request against a product the same way."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from types import MappingProxyType

from elms.core.errors import FieldProblem
from elms.core.money import MAX_AMOUNT
from elms.core.penalty import PenaltyTerms

LOAN_TYPES = ("PERSONAL", "AUTO", "MORTGAGE", "BUSINESS", "EDUCATION")
INTEREST_METHODS = ("DECLINING_BALANCE", "FLAT")
RISK_LEVELS = ("LOW", "MEDIUM", "HIGH")
PAYMENT_METHODS = ("BANK_TRANSFER", "DEBIT_CARD", "CREDIT_CARD", "ACH", "WIRE", "CASH", "CHECK")

# The loans table's bounds, which no product may widen.
MIN_RATE, MAX_RATE = Decimal("0.001"), Decimal("0.5")
MAX_INSTALLMENTS = 480  # 40 years of monthly installments
# The installment counts of the standard terms (the rules before products).
STANDARD_COUNTS = (6, 9, 12, 24)
# Per-day rates and shares a product may set: generous, but a typo of 0.1 (36.5 % a year per
# day late) is refused rather than charged.
MAX_DAILY_RATE = Decimal("0.01")
MAX_GRACE_DAYS = 365
MIN_CREDIT_SCORE, MAX_CREDIT_SCORE = 300, 850


class AllocationOrder(StrEnum):
    """The order in which a partial payment pays an installment's parts."""

    INTEREST_PRINCIPAL_PENALTY = "INTEREST_PRINCIPAL_PENALTY"
    PENALTY_INTEREST_PRINCIPAL = "PENALTY_INTEREST_PRINCIPAL"
    PRINCIPAL_INTEREST_PENALTY = "PRINCIPAL_INTEREST_PENALTY"

    @property
    def parts(self) -> tuple[str, str, str]:
        first, second, third = self.value.split("_")
        return first.lower(), second.lower(), third.lower()


ALLOCATION_ORDERS = tuple(order.value for order in AllocationOrder)


@dataclass(frozen=True)
class Bucket:
    """A delinquency bucket: loans at least `min_days` past due (and fewer than the next
    bucket's) are in it."""

    name: str
    min_days: int


DEFAULT_BUCKETS = (
    Bucket("CURRENT", 0),
    Bucket("DPD_1_30", 1),
    Bucket("DPD_31_60", 31),
    Bucket("DPD_61_90", 61),
    Bucket("DPD_91_180", 91),
    Bucket("DPD_180_PLUS", 181),
)


@dataclass(frozen=True)
class Underwriting:
    min_credit_score: int = 700
    # The installment may take at most this share of the monthly income.
    max_installment_to_income: Decimal = Decimal("0.40")
    allowed_risk_levels: tuple[str, ...] = ("LOW", "MEDIUM")


def _no_fees() -> Mapping[str, Decimal]:
    return MappingProxyType({})


@dataclass(frozen=True)
class Product:
    """One version of a product. The defaults are the rules ELMS had before products."""

    code: str
    loan_type: str
    name: str
    version: int = 1
    description: str | None = None
    min_amount: Decimal = Decimal("0.01")
    max_amount: Decimal = MAX_AMOUNT
    min_rate: Decimal = Decimal("0.1")
    max_rate: Decimal = Decimal("0.5")
    installment_counts: tuple[int, ...] = STANDARD_COUNTS
    interest_methods: tuple[str, ...] = INTEREST_METHODS
    default_interest_method: str = "DECLINING_BALANCE"
    early_discount_rate: Decimal = Decimal("0.001")
    late_penalty_rate: Decimal = Decimal("0.001")
    penalty_grace_days: int = 0
    penalty_cap_ratio: Decimal | None = None
    processing_fees: Mapping[str, Decimal] = field(default_factory=_no_fees)
    allocation_order: str = AllocationOrder.INTEREST_PRINCIPAL_PENALTY
    underwriting: Underwriting = Underwriting()
    delinquency_buckets: tuple[Bucket, ...] = DEFAULT_BUCKETS
    active: bool = True

    @property
    def penalty_terms(self) -> PenaltyTerms:
        return PenaltyTerms(self.late_penalty_rate, self.penalty_grace_days, self.penalty_cap_ratio)


def default_products() -> tuple[Product, ...]:
    """One product per loan type, coded as the type, with the rules ELMS had before products
    (migration 0003 creates exactly these)."""
    return tuple(
        Product(code=t, loan_type=t, name=f"{t.title()} loan (standard terms)") for t in LOAN_TYPES
    )


def _within(value: Decimal | int, low: Decimal | int, high: Decimal | int) -> bool:
    return low <= value <= high


def problems(product: Product) -> list[FieldProblem]:
    """Every way the product contradicts itself or the bounds of the loans it makes."""
    found: list[FieldProblem] = []

    def refuse(name: str, message: str, value: object) -> None:
        found.append(FieldProblem(name, message, value))

    if product.loan_type not in LOAN_TYPES:
        refuse("loanType", f"must be one of {', '.join(LOAN_TYPES)}", product.loan_type)
    if not product.min_amount > 0:
        refuse("minAmount", "must be greater than 0", product.min_amount)
    if product.max_amount > MAX_AMOUNT:
        refuse("maxAmount", f"must be at most {MAX_AMOUNT}", product.max_amount)
    if product.min_amount > product.max_amount:
        refuse("minAmount", "must not be greater than maxAmount", product.min_amount)
    for name, rate in (("minRate", product.min_rate), ("maxRate", product.max_rate)):
        if not _within(rate, MIN_RATE, MAX_RATE):
            refuse(name, f"must be between {MIN_RATE} and {MAX_RATE}", rate)
    if product.min_rate > product.max_rate:
        refuse("minRate", "must not be greater than maxRate", product.min_rate)
    counts = product.installment_counts
    if not counts:
        refuse("installmentCounts", "must name at least one installment count", list(counts))
    elif any(not _within(c, 1, MAX_INSTALLMENTS) for c in counts):
        refuse("installmentCounts", f"each must be between 1 and {MAX_INSTALLMENTS}", list(counts))
    elif len(set(counts)) != len(counts):
        refuse("installmentCounts", "must not repeat a count", list(counts))
    methods = product.interest_methods
    if not methods:
        refuse("interestMethods", "must name at least one interest method", list(methods))
    elif any(m not in INTEREST_METHODS for m in methods) or len(set(methods)) != len(methods):
        refuse(
            "interestMethods",
            f"must be distinct values of {', '.join(INTEREST_METHODS)}",
            list(methods),
        )
    if product.default_interest_method not in methods:
        refuse(
            "defaultInterestMethod",
            "must be one of the product's interestMethods",
            product.default_interest_method,
        )
    for name, rate in (
        ("earlyDiscountRate", product.early_discount_rate),
        ("latePenaltyRate", product.late_penalty_rate),
    ):
        if not _within(rate, 0, MAX_DAILY_RATE):
            refuse(name, f"must be a daily rate between 0 and {MAX_DAILY_RATE}", rate)
    if not _within(product.penalty_grace_days, 0, MAX_GRACE_DAYS):
        refuse(
            "penaltyGraceDays",
            f"must be between 0 and {MAX_GRACE_DAYS}",
            product.penalty_grace_days,
        )
    cap = product.penalty_cap_ratio
    if cap is not None and not _within(cap, 0, 1):
        refuse("penaltyCapRatio", "must be between 0 and 1 (a share of the installment)", cap)
    if product.allocation_order not in ALLOCATION_ORDERS:
        orders = ", ".join(ALLOCATION_ORDERS)
        refuse("allocationOrder", f"must be one of {orders}", product.allocation_order)
    for method, fee in product.processing_fees.items():
        if method not in PAYMENT_METHODS:
            refuse(
                f"processingFees.{method}", f"must be one of {', '.join(PAYMENT_METHODS)}", method
            )
        if fee < 0:
            refuse(f"processingFees.{method}", "must not be negative", fee)
    found.extend(_underwriting_problems(product.underwriting))
    found.extend(_bucket_problems(product.delinquency_buckets))
    return found


def _underwriting_problems(rules: Underwriting) -> list[FieldProblem]:
    found = []
    if not _within(rules.min_credit_score, MIN_CREDIT_SCORE, MAX_CREDIT_SCORE):
        found.append(
            FieldProblem(
                "underwriting.minCreditScore",
                f"must be between {MIN_CREDIT_SCORE} and {MAX_CREDIT_SCORE}",
                rules.min_credit_score,
            )
        )
    if not 0 < rules.max_installment_to_income <= 1:
        found.append(
            FieldProblem(
                "underwriting.maxInstallmentToIncome",
                "must be a share greater than 0 and at most 1",
                rules.max_installment_to_income,
            )
        )
    levels = rules.allowed_risk_levels
    if any(level not in RISK_LEVELS for level in levels) or len(set(levels)) != len(levels):
        found.append(
            FieldProblem(
                "underwriting.allowedRiskLevels",
                f"must be distinct values of {', '.join(RISK_LEVELS)}",
                list(levels),
            )
        )
    return found


def _bucket_problems(buckets: tuple[Bucket, ...]) -> list[FieldProblem]:
    days = [b.min_days for b in buckets]
    names = [b.name for b in buckets]
    shown = [{"name": b.name, "minDays": b.min_days} for b in buckets]
    if not buckets or days[0] != 0:
        message = "must start with a bucket of minDays 0 (loans not past due)"
    elif any(later <= earlier for earlier, later in itertools.pairwise(days)):
        message = "minDays must be strictly increasing"
    elif len(set(names)) != len(names) or not all(n.strip() for n in names):
        message = "names must be distinct and not blank"
    else:
        return []
    return [FieldProblem("delinquencyBuckets", message, shown)]


# A loan request's fields that a product bounds, by their names on the wire.
REQUEST_FIELDS = {
    "loan_amount": "loanAmount",
    "interest_rate": "interestRate",
    "installment_count": "installmentCount",
    "interest_method": "interestMethod",
}


def outside(product: Product, field: str, value: Decimal | int | str) -> str | None:
    """Why a request's `field` (its Python name) is outside the product, naming the range; None
    when it is within."""
    ranges = {
        "loan_amount": (product.min_amount, product.max_amount),
        "interest_rate": (product.min_rate, product.max_rate),
    }
    choices: dict[str, tuple[int, ...] | tuple[str, ...]] = {
        "installment_count": product.installment_counts,
        "interest_method": product.interest_methods,
    }
    if field in ranges:
        low, high = ranges[field]
        return None if low <= value <= high else f"must be between {low} and {high}"
    allowed = choices[field]
    return None if value in allowed else f"must be one of {', '.join(map(str, allowed))}"


def request_problems(
    product: Product, amount: Decimal, rate: Decimal, count: int, method: str
) -> list[FieldProblem]:
    """Every way a loan request falls outside the product's ranges, each naming its range."""
    values = {
        "loan_amount": amount,
        "interest_rate": rate,
        "installment_count": count,
        "interest_method": method,
    }
    return [
        FieldProblem(REQUEST_FIELDS[name], f"{why} for product {product.code}", value)
        for name, value in values.items()
        if (why := outside(product, name, value)) is not None
    ]


def bucket_of(buckets: tuple[Bucket, ...], days_past_due: int) -> str:
    """The bucket a loan that many days past due is in."""
    found = buckets[0].name
    for bucket in buckets:
        if days_past_due >= bucket.min_days:
            found = bucket.name
    return found
