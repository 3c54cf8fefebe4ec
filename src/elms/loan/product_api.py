"""Routes of the loan products API (`/api/v1/loan-products`): administrators create and change
products; officers read them and their versions; anyone signed in lists the products on offer
(`?active=true`). Each route checks who calls it itself (no trust in the gateway's check)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Query
from starlette.responses import Response

from elms.core import envelope
from elms.core.clock import utcnow
from elms.core.envelope import Envelope
from elms.core.schemas import Page
from elms.core.web import OFFICERS_ONLY, CallDep, CallerDep, PageNumber, PageSize, router
from elms.loan import product_service
from elms.loan.domain import LoanType
from elms.loan.product_schemas import ProductChange, ProductCode, ProductCreate, ProductOut
from elms.loan.repository import ProductVersion

loan_products = router("/api/v1/loan-products", tags=["loan products"])

CodeInPath = Annotated[ProductCode, Path()]


async def _admins_only(caller: CallerDep) -> None:
    product_service.require_admin(caller)


ADMINS_ONLY = Depends(_admins_only)


def _out(found: ProductVersion) -> dict:
    return ProductOut.of(found.product, found.created_at, found.created_by).wire()


def _as_offered(found: ProductVersion) -> dict:
    """A product as a customer may see it: its terms, not the bank's underwriting thresholds
    nor who configured it."""
    return {**_out(found), "underwriting": None, "createdBy": None}


@loan_products.post(
    "", status_code=201, dependencies=[ADMINS_ONLY], response_model=Envelope[ProductOut]
)
async def create_product(body: ProductCreate, call: CallDep) -> Response:
    who = call.acting_user() or "system"
    created = await product_service.create(call.db, body, who, utcnow())
    return envelope.success(_out(created), "Loan product created", 201)


@loan_products.put(
    "/{product_code}", dependencies=[ADMINS_ONLY], response_model=Envelope[ProductOut]
)
async def change_product(product_code: CodeInPath, body: ProductChange, call: CallDep) -> Response:
    who = call.acting_user() or "system"
    changed = await product_service.change(call.db, product_code, body, who, utcnow())
    return envelope.success(_out(changed), "Loan product changed")


@loan_products.get("", response_model=Envelope[Page[ProductOut]])
async def list_products(
    call: CallDep,
    caller: CallerDep,
    active: bool | None = None,
    loan_type: Annotated[LoanType | None, Query(alias="loanType")] = None,
    page: PageNumber = 0,
    size: PageSize = 20,
) -> Response:
    found, total = await product_service.listed(
        call.db, caller, active, loan_type, size, page * size
    )
    shown = _as_offered if caller.is_customer else _out
    return envelope.success(
        Page[dict].of([shown(p) for p in found], page, size, total).wire(), "Loan products"
    )


@loan_products.get(
    "/{product_code}", dependencies=[OFFICERS_ONLY], response_model=Envelope[ProductOut]
)
async def get_product(product_code: CodeInPath, call: CallDep) -> Response:
    return envelope.success(_out(await product_service.get(call.db, product_code)), "Loan product")


@loan_products.get(
    "/{product_code}/versions",
    dependencies=[OFFICERS_ONLY],
    response_model=Envelope[list[ProductOut]],
)
async def product_versions(product_code: CodeInPath, call: CallDep) -> Response:
    found = await product_service.versions(call.db, product_code)
    return envelope.success([_out(v) for v in found], "Loan product versions")
