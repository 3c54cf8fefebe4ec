"""Loan products' use cases: create, change (a new version), read. One transaction each.

A change is made under the product row's lock from the version the administrator read: if
another change came first, the request is 409 VERSION_CONFLICT rather than a silent overwrite."""

from __future__ import annotations

from datetime import datetime
from weakref import WeakKeyDictionary

import asyncpg

from elms.core.database import Database
from elms.core.errors import DomainError, FieldProblem, business_rule, conflict, not_found
from elms.core.principal import Caller, Role, forbidden
from elms.loan import products
from elms.loan import repository as repo
from elms.loan.product_schemas import ProductChange, ProductCreate
from elms.loan.products import Product
from elms.loan.repository import ProductVersion


def _refused(found: list[FieldProblem]) -> DomainError:
    return DomainError(
        "The product is not valid" if len(found) > 1 else found[0].message,
        code="VALIDATION_ERROR",
        status=400,
        details=found,
    )


def _check(product: Product) -> None:
    found = products.problems(product)
    if found:
        raise _refused(found)


def require_admin(caller: Caller) -> None:
    """Products are the bank's configuration: only an ADMIN (or ELMS itself) changes them."""
    if caller.role is not None and caller.role is not Role.ADMIN:
        raise forbidden("Only an administrator may change loan products")


async def create(db: Database, request: ProductCreate, who: str, now: datetime) -> ProductVersion:
    product = request.product(request.product_code, 1)
    _check(product)
    async with db.transaction() as conn:
        if not await repo.insert_product(conn, product, who, now):
            raise conflict(
                f"Loan product {product.code} already exists", "PRODUCT_EXISTS", "productCode"
            )
    return ProductVersion(product, now, who)


async def change(
    db: Database, code: str, request: ProductChange, who: str, now: datetime
) -> ProductVersion:
    async with db.transaction() as conn:
        current = await repo.lock_product(conn, code)
        if current is None:
            raise not_found("Loan product", code)
        if request.version != current:
            raise conflict(
                f"Loan product {code} is at version {current}, not {request.version}: read it"
                " again and make the change from there",
                "VERSION_CONFLICT",
                "version",
            )
        before = await repo.get_product(conn, code)
        assert before is not None
        product = request.product(code, current + 1)
        found = products.problems(product)
        if product.loan_type != before.product.loan_type:
            found.append(
                FieldProblem(
                    "loanType",
                    f"cannot change (the product's loans are {before.product.loan_type} loans)",
                    product.loan_type,
                )
            )
        if found:
            raise _refused(found)
        await repo.insert_product_version(conn, product, who, now)
    return ProductVersion(product, now, who)


async def get(db: Database, code: str, version: int | None = None) -> ProductVersion:
    async with db.connection() as conn:
        found = await repo.get_product(conn, code, version)
    if found is None:
        raise not_found("Loan product", code if version is None else f"{code} version {version}")
    return found


async def versions(db: Database, code: str) -> list[ProductVersion]:
    async with db.connection() as conn:
        found = await repo.list_product_versions(conn, code)
    if not found:
        raise not_found("Loan product", code)
    return found


async def listed(
    db: Database,
    caller: Caller,
    active: bool | None,
    loan_type: str | None,
    limit: int,
    offset: int,
) -> tuple[list[ProductVersion], int]:
    """Officers see every product; a customer only the ones offered now (`active=true`)."""
    if caller.is_customer and active is not True:
        raise forbidden("Customers may list the products on offer only: ?active=true")
    async with db.connection() as conn:
        return await repo.list_products(conn, active, loan_type, limit, offset)


async def offered(db: Database, code: str | None, loan_type: str) -> ProductVersion:
    """The product a loan request is made under: the one named, or its loan type's default
    (the product coded as the type); 404 when unknown, 422 PRODUCT_NOT_AVAILABLE when it is not
    offered now or is for another loan type."""
    chosen = code or loan_type
    async with db.connection() as conn:
        found = await repo.get_product(conn, chosen)
    if found is None:
        raise not_found("Loan product", chosen)
    if not found.product.active:
        raise business_rule(
            f"Loan product {chosen} is not offered", "PRODUCT_NOT_AVAILABLE", productCode=chosen
        )
    if found.product.loan_type != loan_type:
        raise business_rule(
            f"Loan product {chosen} is for {found.product.loan_type} loans, not {loan_type}",
            "PRODUCT_NOT_AVAILABLE",
            productCode=chosen,
        )
    return found


# Versions never change once written, so each service process keeps those it has read: a loan's
# rules cost no query after the first (per database, so tests' databases never mix).
_versions: WeakKeyDictionary[Database, dict[tuple[str, int], Product]] = WeakKeyDictionary()


async def version_of(
    db: Database, code: str, version: int, conn: asyncpg.Connection | None = None
) -> Product:
    """The product version a loan was made under (read on `conn` when a transaction holds
    one, so no second connection is taken from the pool)."""
    known = _versions.setdefault(db, {})
    found = known.get((code, version))
    if found is None:
        if conn is None:
            found = (await get(db, code, version)).product
        else:
            row = await repo.get_product(conn, code, version)
            if row is None:
                raise not_found("Loan product", f"{code} version {version}")
            found = row.product
        known[(code, version)] = found
    return found
