"""Routes of the customer service (api.md §2): parse, call one service function, answer."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import Header, Query
from starlette.responses import Response

from elms.core import envelope
from elms.core.clock import utcnow
from elms.core.envelope import Envelope
from elms.core.errors import invalid
from elms.core.principal import forbidden
from elms.core.schemas import Day, IncomingEvent, Page
from elms.core.web import (
    OFFICERS_ONLY,
    OWN_CUSTOMER,
    SERVICES_ONLY,
    CallDep,
    CallerDep,
    PageNumber,
    PageSize,
    SerialId,
    router,
)
from elms.customer import events, service
from elms.customer.domain import (
    OFFICER_FIELDS,
    AccountStatus,
    CreditTransaction,
    ReservationStatus,
)
from elms.customer.responses import CreditChangeOut
from elms.customer.schemas import (
    AddressIn,
    AddressOut,
    AddressUpdate,
    CustomerCreate,
    CustomerOut,
    CustomerUpdate,
    HistoryOut,
    ReleaseCreditRequest,
    ReservationOut,
    ReserveCreditRequest,
    RestoreCreditRequest,
)

# Who may do what (architecture.md §3), declared on each route: creating and listing customers,
# and moving credit, are for officers; a customer reaches only their own `{customer_id}`; the
# internal routes serve ELMS's own services. A service's call (no role) is never restricted.
customers = router("/api/v1/customers", tags=["customers"])


def _customer(customer: object, addresses: list | None = None) -> dict:
    out = CustomerOut.model_validate(customer, from_attributes=True)
    if addresses is not None:
        out.addresses = [AddressOut.model_validate(a, from_attributes=True) for a in addresses]
    return out.wire()


def _page(items: list[dict], page: int, size: int, total: int) -> dict:
    return Page[dict].of(items, page, size, total).wire()


_ETAG_VERSION = re.compile(r'^(?:W/)?"?(\d{1,9})"?$')


def _expected_version(body_version: int | None, if_match: str | None) -> int:
    if body_version is not None:
        return body_version
    if if_match is not None:
        match = _ETAG_VERSION.match(if_match.strip())
        if match:
            return int(match.group(1))
        raise invalid("If-Match", "must be the customer's version number", if_match)
    raise invalid("version", "version is required (in the body or If-Match) to update", None)


@customers.post(
    "", status_code=201, dependencies=[OFFICERS_ONLY], response_model=Envelope[CustomerOut]
)
async def create_customer(body: CustomerCreate, call: CallDep) -> Response:
    async def work() -> dict:
        return _customer(*await service.create_customer(call.db, body, utcnow()))

    return await call.answer(work, "Customer created", 201)


@customers.get("", dependencies=[OFFICERS_ONLY], response_model=Envelope[Page[CustomerOut]])
async def list_customers(
    call: CallDep,
    status: AccountStatus | None = None,
    q: Annotated[str | None, Query(max_length=100)] = None,
    page: PageNumber = 0,
    size: PageSize = 20,
) -> Response:
    found, total = await service.list_customers(call.db, status, q, page, size)
    return envelope.success(_page([_customer(c) for c in found], page, size, total), "Customers")


@customers.get("/{customer_id}", dependencies=[OWN_CUSTOMER], response_model=Envelope[CustomerOut])
async def get_customer(customer_id: str, call: CallDep) -> Response:
    customer, addresses = await service.get_customer(call.db, customer_id)
    return envelope.success(_customer(customer, addresses), "Customer")


@customers.put("/{customer_id}", dependencies=[OWN_CUSTOMER], response_model=Envelope[CustomerOut])
async def update_customer(
    customer_id: str,
    body: CustomerUpdate,
    call: CallDep,
    caller: CallerDep,
    if_match: Annotated[str | None, Header()] = None,
) -> Response:
    if caller.is_customer and body.model_fields_set & OFFICER_FIELDS:
        raise forbidden("Credit, scores, statuses, income, identity and KYC are for officers")
    version = _expected_version(body.version, if_match)
    updated = await service.update_customer(call.db, customer_id, body, version, utcnow())
    return envelope.success(_customer(*updated), "Customer updated")


@customers.post(
    "/{customer_id}/addresses",
    status_code=201,
    dependencies=[OWN_CUSTOMER],
    response_model=Envelope[AddressOut],
)
async def add_address(customer_id: str, body: AddressIn, call: CallDep) -> Response:
    async def work() -> dict:
        address = await service.add_address(call.db, customer_id, body, utcnow())
        return AddressOut.model_validate(address, from_attributes=True).wire()

    return await call.answer(work, "Address added", 201)


@customers.get(
    "/{customer_id}/addresses",
    dependencies=[OWN_CUSTOMER],
    response_model=Envelope[list[AddressOut]],
)
async def list_addresses(customer_id: str, call: CallDep) -> Response:
    addresses = await service.list_addresses(call.db, customer_id)
    data = [AddressOut.model_validate(a, from_attributes=True).wire() for a in addresses]
    return envelope.success(data, "Addresses")


@customers.put(
    "/{customer_id}/addresses/{address_id}",
    dependencies=[OWN_CUSTOMER],
    response_model=Envelope[AddressOut],
)
async def update_address(
    customer_id: str, address_id: SerialId, body: AddressUpdate, call: CallDep
) -> Response:
    address = await service.update_address(call.db, customer_id, address_id, body, utcnow())
    return envelope.success(
        AddressOut.model_validate(address, from_attributes=True).wire(), "Address updated"
    )


@customers.delete(
    "/{customer_id}/addresses/{address_id}",
    dependencies=[OWN_CUSTOMER],
    response_model=Envelope[None],
)
async def delete_address(customer_id: str, address_id: SerialId, call: CallDep) -> Response:
    await service.delete_address(call.db, customer_id, address_id, utcnow())
    return envelope.success(None, "Address deleted")


@customers.post(
    "/{customer_id}/credit/reserve",
    dependencies=[OFFICERS_ONLY, OWN_CUSTOMER],
    response_model=Envelope[CreditChangeOut],
)
async def reserve_credit(customer_id: str, body: ReserveCreditRequest, call: CallDep) -> Response:
    async def work() -> dict:
        return CreditChangeOut.of(
            await service.reserve_credit(call.db, customer_id, body, utcnow())
        )

    return await call.answer(work, "Credit reserved")


@customers.post(
    "/{customer_id}/credit/release",
    dependencies=[OFFICERS_ONLY, OWN_CUSTOMER],
    response_model=Envelope[CreditChangeOut],
)
async def release_credit(customer_id: str, body: ReleaseCreditRequest, call: CallDep) -> Response:
    async def work() -> dict:
        return CreditChangeOut.of(
            await service.release_credit(call.db, customer_id, body, utcnow())
        )

    return await call.answer(work, "Credit released")


@customers.get(
    "/{customer_id}/credit/reservations",
    dependencies=[OWN_CUSTOMER],
    response_model=Envelope[Page[ReservationOut]],
)
async def list_reservations(
    customer_id: str,
    call: CallDep,
    status: ReservationStatus | None = None,
    page: PageNumber = 0,
    size: PageSize = 20,
) -> Response:
    found, total = await service.list_reservations(call.db, customer_id, status, page, size)
    items = [ReservationOut.model_validate(r, from_attributes=True).wire() for r in found]
    return envelope.success(_page(items, page, size, total), "Reservations")


@customers.get(
    "/{customer_id}/credit/history",
    dependencies=[OWN_CUSTOMER],
    response_model=Envelope[Page[HistoryOut]],
)
async def credit_history(
    customer_id: str,
    call: CallDep,
    from_date: Annotated[Day | None, Query(alias="fromDate")] = None,
    to_date: Annotated[Day | None, Query(alias="toDate")] = None,
    transaction_type: Annotated[CreditTransaction | None, Query(alias="transactionType")] = None,
    page: PageNumber = 0,
    size: PageSize = 20,
) -> Response:
    if from_date and to_date and from_date > to_date:
        raise invalid("fromDate", "fromDate must not be after toDate", str(from_date))
    found, total = await service.credit_history(
        call.db, customer_id, from_date, to_date, transaction_type, page, size
    )
    items = [HistoryOut.model_validate(h, from_attributes=True).wire() for h in found]
    return envelope.success(_page(items, page, size, total), "Credit history")


internal = router(
    "/internal/v1", tags=["internal"], include_in_schema=False, dependencies=[SERVICES_ONLY]
)


@internal.post("/customers/{customer_id}/credit/restore", response_model=Envelope[CreditChangeOut])
async def restore_credit(customer_id: str, body: RestoreCreditRequest, call: CallDep) -> Response:
    async def work() -> dict:
        return CreditChangeOut.of(
            await service.restore_credit(call.db, customer_id, body, utcnow())
        )

    return await call.answer(work, "Credit restored")


@internal.post("/events")
async def receive_event(body: IncomingEvent, call: CallDep) -> Response:
    if body.event_type in events.NOTICES:
        if body.event_type == "BUSINESS_DATE_CHANGED":
            call.request.app.state.business_day.learn_text(str(body.data.get("businessDate")))
        outcome = await events.note(call.db, body.event_id, body.event_type, body.source_service)
        return envelope.success({"eventId": body.event_id, "outcome": outcome}, "Event received")
    event = events.LoanEvent.from_wire(
        body.event_id, body.event_type, body.source_service, body.data
    )
    outcome = await events.consume(call.db, event, utcnow())
    return envelope.success({"eventId": body.event_id, "outcome": outcome}, "Event received")
