"""Request and response models of the loan products API (`/api/v1/loan-products`).

The request reads types only (numbers exact, lists of the right kind); what a product means as a
whole (ranges that contradict each other, names it does not know) is checked by
`elms.loan.products.problems`, which names every problem at once. Everything but the code, the
name and the loan type defaults to the standard terms, so a product states only how it differs."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, StringConstraints
from pydantic_core import PydanticCustomError

from elms.core.money import MoneyFormatError, parse_exact
from elms.core.schemas import (
    MULTILINE,
    ONE_LINE,
    CamelModel,
    Flag,
    Money,
    PositiveMoney,
    Rate,
    WireModel,
    exact_decimal_schema,
)
from elms.loan.products import DEFAULT_BUCKETS, INTEREST_METHODS, Bucket, Product, Underwriting

STANDARD = Product(code="STANDARD", loan_type="PERSONAL", name="standard terms")

ProductCode = Annotated[str, StringConstraints(pattern=r"^[A-Z][A-Z0-9_-]{0,49}$")]
Name = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), ONE_LINE
]
Word = Annotated[str, StringConstraints(min_length=1, max_length=40), ONE_LINE]
Description = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000), MULTILINE]


def _exact_share(value: Any) -> Decimal:
    try:
        return parse_exact(value, places=6, limit=Decimal("9.999999"), what="rate")
    except MoneyFormatError as error:
        raise PydanticCustomError("rate", str(error)) from error


# A per-day rate or a share, as DECIMAL(7,6) holds it: exact, at most six places.
Share = Annotated[
    Decimal,
    BeforeValidator(_exact_share),
    exact_decimal_schema(6, 1, signed=True, bounds={"maximum": Decimal("9.999999")}),
]
Count = Annotated[int, Field(strict=True)]


class UnderwritingIn(WireModel):
    min_credit_score: Count = STANDARD.underwriting.min_credit_score
    max_installment_to_income: Rate = STANDARD.underwriting.max_installment_to_income
    allowed_risk_levels: Annotated[list[Word], Field(max_length=3)] = Field(
        default_factory=lambda: list(STANDARD.underwriting.allowed_risk_levels)
    )


class BucketIn(WireModel):
    # Stored on each loan and sent in events: a word of capitals, digits and underscores.
    name: Annotated[str, StringConstraints(pattern=r"^[A-Z][A-Z0-9_]{0,29}$")]
    min_days: Count


def _default_buckets() -> list[BucketIn]:
    return [
        BucketIn.model_validate({"name": b.name, "minDays": b.min_days}) for b in DEFAULT_BUCKETS
    ]


class ProductTerms(WireModel):
    """What a version of a product says (everything but its code and version)."""

    name: Name
    loan_type: Word
    description: Description | None = None
    min_amount: PositiveMoney = STANDARD.min_amount
    max_amount: PositiveMoney = STANDARD.max_amount
    min_rate: Rate = STANDARD.min_rate
    max_rate: Rate = STANDARD.max_rate
    installment_counts: Annotated[list[Count], Field(min_length=1, max_length=50)] = Field(
        default_factory=lambda: list(STANDARD.installment_counts)
    )
    interest_methods: Annotated[list[Word], Field(min_length=1, max_length=2)] = Field(
        default_factory=lambda: list(INTEREST_METHODS)
    )
    default_interest_method: Word = STANDARD.default_interest_method
    early_discount_rate: Share = STANDARD.early_discount_rate
    late_penalty_rate: Share = STANDARD.late_penalty_rate
    penalty_grace_days: Count = STANDARD.penalty_grace_days
    penalty_cap_ratio: Share | None = None
    processing_fees: Annotated[dict[Word, Money], Field(max_length=10)] = Field(
        default_factory=dict
    )
    allocation_order: Word = STANDARD.allocation_order
    underwriting: UnderwritingIn = Field(default_factory=UnderwritingIn)
    delinquency_buckets: Annotated[list[BucketIn], Field(max_length=20)] = Field(
        default_factory=_default_buckets
    )
    active: Flag = True

    def product(self, code: str, version: int) -> Product:
        nested = {"underwriting", "delinquency_buckets", "product_code", "version"}
        return Product(
            code=code,
            version=version,
            **_tuples(self.model_dump(exclude=nested)),
            underwriting=Underwriting(**_tuples(self.underwriting.model_dump())),
            delinquency_buckets=tuple(Bucket(**b.model_dump()) for b in self.delinquency_buckets),
        )


def _tuples(values: dict[str, Any]) -> dict[str, Any]:
    """The dataclasses hold tuples where the models hold lists."""
    return {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}


class ProductCreate(ProductTerms):
    """`POST /api/v1/loan-products`: a new product, its version 1."""

    product_code: ProductCode


class ProductChange(ProductTerms):
    """`PUT /api/v1/loan-products/{productCode}`: the next version, made from the version the
    administrator read (`version`, the current one; another is 409 VERSION_CONFLICT)."""

    version: Annotated[int, Field(strict=True, ge=1)]


class UnderwritingOut(CamelModel):
    min_credit_score: int
    max_installment_to_income: Decimal
    allowed_risk_levels: list[str]


class BucketOut(CamelModel):
    name: str
    min_days: int


class ProductOut(CamelModel):
    product_code: str
    version: int
    name: str
    loan_type: str
    description: str | None
    min_amount: Decimal
    max_amount: Decimal
    min_rate: Decimal
    max_rate: Decimal
    installment_counts: list[int]
    interest_methods: list[str]
    default_interest_method: str
    early_discount_rate: Decimal
    late_penalty_rate: Decimal
    penalty_grace_days: int
    penalty_cap_ratio: Decimal | None
    processing_fees: dict[str, Decimal]
    allocation_order: str
    # Null for a customer: the bank's thresholds and its staff are not theirs to see.
    underwriting: UnderwritingOut | None
    delinquency_buckets: list[BucketOut]
    active: bool
    created_at: datetime
    created_by: str | None

    @classmethod
    def of(cls, product: Product, created_at: datetime, created_by: str) -> ProductOut:
        fields = {f.name: getattr(product, f.name) for f in dataclasses.fields(product)}
        fields["product_code"] = fields.pop("code")
        return cls.model_validate(
            {
                **fields,
                "processing_fees": dict(product.processing_fees),
                "underwriting": dataclasses.asdict(product.underwriting),
                "delinquency_buckets": [dataclasses.asdict(b) for b in product.delinquency_buckets],
                "created_at": created_at,
                "created_by": created_by,
            }
        )
