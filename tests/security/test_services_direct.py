"""Defence in depth (architecture.md §3): each service refuses, on its own, a CUSTOMER principal
acting outside their own customer and officer-only actions, whatever the gateway in front of it
let through. The services are called directly, with the internal credential and the principal
headers the gateway sends (`Caller.headers()`): someone else's resource is 404 as if it did not
exist, an officer's action or a list of everyone's is 403, an internal route is 404, and every
refusal leaves everything as it was."""

from __future__ import annotations

from typing import Any

import httpx

from elms.core.principal import CUSTOMER_HEADER, ROLE_HEADER, USER_HEADER, Caller, Role
from elms.customer.domain import OFFICER_FIELDS
from elms.customer.schemas import CustomerUpdate
from tests.integration.loan.conftest import body, loan_request, new_customer
from tests.integration.loan.helpers import (
    LOANS,
    active_loan,
    approved_loan,
    create,
    pending_loan,
    whole,
)
from tests.integration.loan.helpers import (
    counts as loan_counts,
)
from tests.integration.loan.helpers import (
    schedule as loan_schedule,
)
from tests.integration.payment.helpers import (
    CALCULATE,
    PAYMENTS,
    RECORD,
    TODAY,
    borrower_with_loan,
    due,
    fail,
    installments,
    recorded,
    settle,
)
from tests.integration.payment.helpers import (
    counts as payment_counts,
)

CUSTOMERS = "/api/v1/customers"
OFFICER = Caller("officer-1", Role.LOAN_OFFICER, None).headers()
ADMIN = Caller("admin-1", Role.ADMIN, None).headers()
PDF = b"%PDF-1.7\n" + b"0" * 2048


def as_customer(customer_id: str, subject: str | None = None) -> dict[str, str]:
    """The headers the gateway sends with a request it forwards for this customer."""
    return Caller(subject or f"user-{customer_id}", Role.CUSTOMER, customer_id).headers()


def data(response: httpx.Response) -> Any:
    assert 200 <= response.status_code < 300, response.text
    return body(response)["data"]


def refused(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert body(response)["error"]["code"] == code, response.text


def not_found(response: httpx.Response) -> None:
    refused(response, 404, "NOT_FOUND")


def forbidden(response: httpx.Response) -> None:
    refused(response, 403, "FORBIDDEN")


# --- reads as a service sees them (no principal) ----------------------------------------------


async def customer_state(system: Any, customer_id: str) -> tuple[Any, ...]:
    """The customer with addresses, their reservations and their credit history."""
    client = system.customer.client
    base = f"{CUSTOMERS}/{customer_id}"
    return (
        data(await client.get(base)),
        data(await client.get(f"{base}/credit/reservations", params={"size": 100})),
        data(await client.get(f"{base}/credit/history", params={"size": 100})),
    )


async def customer_count(system: Any) -> int:
    return data(await system.customer.client.get(CUSTOMERS, params={"size": 1}))["totalElements"]


async def loan_state(system: Any, loan_id: str) -> tuple[Any, ...]:
    """The loan with its application and installments, and its documents."""
    client = system.loan.client
    return (
        data(await client.get(f"{LOANS}/{loan_id}")),
        data(await client.get(f"{LOANS}/{loan_id}/documents")),
    )


async def upload(system: Any, loan_id: str, headers: dict[str, str] | None = None):
    return await system.loan.client.post(
        f"{LOANS}/{loan_id}/documents",
        data={"documentType": "INCOME_PROOF"},
        files={"file": ("statement.pdf", PDF, "application/octet-stream")},
        headers=headers,
    )


def address(street: str = "1 Main St") -> dict[str, Any]:
    return {
        "street": street,
        "city": "Springfield",
        "state": "IL",
        "zipCode": "62701",
        "country": "USA",
    }


# --- customer service ---------------------------------------------------------------------------


def test_the_officer_fields_are_fields_of_a_customer_update():
    assert CustomerUpdate.model_fields.keys() >= OFFICER_FIELDS
    assert len(OFFICER_FIELDS) == 8


async def test_a_customer_reads_and_updates_their_own_customer(system):
    alice = await new_customer(system.customer.client, tag="alice")
    me = as_customer(alice["customerId"])
    base = f"{CUSTOMERS}/{alice['customerId']}"
    client = system.customer.client

    read = data(await client.get(base, headers=me))
    assert read["customerId"] == alice["customerId"]
    updated = data(
        await client.put(
            base,
            json={"version": read["version"], "phone": "+15550100", "email": "alice@example.org"},
            headers=me,
        )
    )
    assert (updated["phone"], updated["email"]) == ("+15550100", "alice@example.org")
    assert updated["creditLimit"] == alice["creditLimit"]

    added = await client.post(f"{base}/addresses", json=address(), headers=me)
    assert added.status_code == 201, added.text
    assert [a["street"] for a in data(await client.get(f"{base}/addresses", headers=me))] == [
        "1 Main St"
    ]
    assert data(await client.get(f"{base}/credit/reservations", headers=me))["content"] == []
    assert data(await client.get(f"{base}/credit/history", headers=me))["totalElements"] >= 1


async def test_another_customer_is_not_found_and_unchanged(system):
    alice = await new_customer(system.customer.client, tag="alice")
    bob = await new_customer(system.customer.client, tag="bob")
    client = system.customer.client
    base = f"{CUSTOMERS}/{bob['customerId']}"
    added = await client.post(f"{base}/addresses", json=address())
    address_id = data(added)["addressId"]
    before = await customer_state(system, bob["customerId"])
    me = as_customer(alice["customerId"])

    attempts = [
        client.get(base, headers=me),
        client.put(base, json={"version": bob["version"], "phone": "+15550199"}, headers=me),
        client.get(f"{base}/addresses", headers=me),
        client.post(f"{base}/addresses", json=address("9 Elm St"), headers=me),
        client.put(f"{base}/addresses/{address_id}", json={"city": "Shelbyville"}, headers=me),
        client.delete(f"{base}/addresses/{address_id}", headers=me),
        client.get(f"{base}/credit/reservations", headers=me),
        client.get(f"{base}/credit/history", headers=me),
    ]
    for attempt in attempts:
        not_found(await attempt)
    # An id that exists and one that does not are answered alike.
    not_found(await client.get(f"{CUSTOMERS}/CUST-NO-SUCH", headers=me))
    assert await customer_state(system, bob["customerId"]) == before


async def test_listing_and_creating_customers_are_for_officers(system):
    alice = await new_customer(system.customer.client, tag="alice")
    me = as_customer(alice["customerId"])
    client = system.customer.client
    count = await customer_count(system)

    forbidden(await client.get(CUSTOMERS, headers=me))
    created = await client.post(
        CUSTOMERS,
        json={"firstName": "Eve", "lastName": "Mallory", "email": "eve@example.com"},
        headers=me,
    )
    forbidden(created)
    assert await customer_count(system) == count

    # Officers and administrators are not restricted.
    assert data(await client.get(CUSTOMERS, headers=OFFICER))["totalElements"] == count
    assert data(await client.get(CUSTOMERS, headers=ADMIN))["totalElements"] == count


async def test_a_customer_cannot_move_their_own_credit(system):
    alice = await new_customer(system.customer.client, tag="alice")
    client = system.customer.client
    base = f"{CUSTOMERS}/{alice['customerId']}/credit"
    held = data(await client.post(f"{base}/reserve", json={"amount": "1000.00", "purpose": "LOAN"}))
    before = await customer_state(system, alice["customerId"])
    me = as_customer(alice["customerId"])

    forbidden(
        await client.post(f"{base}/reserve", json={"amount": "5000.00", "purpose": "X"}, headers=me)
    )
    forbidden(
        await client.post(
            f"{base}/release", json={"reservationId": held["reservationId"]}, headers=me
        )
    )
    assert await customer_state(system, alice["customerId"]) == before

    released = await client.post(
        f"{base}/release", json={"reservationId": held["reservationId"]}, headers=OFFICER
    )
    assert data(released)["status"] == "RELEASED"


OFFICER_VALUES = {
    "creditLimit": "99999.00",
    "kycStatus": "VERIFIED",
    "accountStatus": "SUSPENDED",
    "creditScore": 850,
    "annualIncome": "999999.00",
    "identificationNumber": "999-99-9999",
    "identificationType": "PASSPORT",
    "dateOfBirth": "1980-01-01",
}


async def test_a_customer_cannot_set_the_officers_fields_of_their_own_customer(system):
    alice = await new_customer(system.customer.client, tag="alice", kyc=False)
    client = system.customer.client
    base = f"{CUSTOMERS}/{alice['customerId']}"
    me = as_customer(alice["customerId"])
    before = await customer_state(system, alice["customerId"])
    version = before[0]["version"]
    assert len(OFFICER_VALUES) == len(OFFICER_FIELDS)

    for name, value in OFFICER_VALUES.items():
        forbidden(await client.put(base, json={"version": version, name: value}, headers=me))
        # Even alongside a field the customer may change, and even when set to nothing.
        mixed = {"version": version, "phone": "+15550100", name: value}
        forbidden(await client.put(base, json=mixed, headers=me))
        forbidden(await client.put(base, json={"version": version, name: None}, headers=me))
    assert await customer_state(system, alice["customerId"]) == before

    raised = await client.put(base, json={"version": version, "creditLimit": "60000.00"})
    assert data(raised)["creditLimit"] == 60000


async def test_a_customer_is_not_served_the_internal_routes_of_the_customer_service(system):
    alice = await new_customer(system.customer.client, tag="alice")
    client = system.customer.client
    before = await customer_state(system, alice["customerId"])
    me = as_customer(alice["customerId"])

    not_found(
        await client.post(
            f"/internal/v1/customers/{alice['customerId']}/credit/restore",
            json={"amount": "100.00", "referenceId": "PAY-FAKE"},
            headers=me,
        )
    )
    event = {
        "eventId": "EVT-FAKE",
        "eventType": "LOAN_APPROVED",
        "sourceService": "loan",
        "data": {"customerId": alice["customerId"], "loanAmount": "100.00", "loanId": "LOAN-X"},
    }
    not_found(await client.post("/internal/v1/events", json=event, headers=me))
    not_found(await client.post("/internal/v1/events", json=event, headers=OFFICER))
    assert await customer_state(system, alice["customerId"]) == before


async def test_a_principal_the_services_do_not_know_is_refused(system):
    alice = await new_customer(system.customer.client, tag="alice")
    own = await create(system, alice["customerId"])
    client = system.customer.client
    base = f"{CUSTOMERS}/{alice['customerId']}"
    before = await customer_state(system, alice["customerId"])
    loan_before = await loan_state(system, own["loanId"])
    unknown_role = {USER_HEADER: "mallory", ROLE_HEADER: "SUPERUSER"}
    lowercase_role = {USER_HEADER: "mallory", ROLE_HEADER: "admin"}
    no_customer = {USER_HEADER: "alice", ROLE_HEADER: "CUSTOMER"}
    no_role = {USER_HEADER: "alice", CUSTOMER_HEADER: alice["customerId"]}

    for headers in (unknown_role, lowercase_role, no_customer, no_role):
        forbidden(await client.get(base, headers=headers))
        forbidden(await client.get(CUSTOMERS, headers=headers))
        forbidden(
            await client.put(
                base, json={"version": before[0]["version"], "creditLimit": "1.00"}, headers=headers
            )
        )
        forbidden(await system.loan.client.get(f"{LOANS}/{own['loanId']}", headers=headers))
        forbidden(
            await system.loan.client.post(
                f"{LOANS}/{own['loanId']}/cancel", json={"reason": "x"}, headers=headers
            )
        )
        forbidden(
            await system.payment.client.get(
                f"{PAYMENTS}/customer/{alice['customerId']}", headers=headers
            )
        )
    assert await customer_state(system, alice["customerId"]) == before
    assert await loan_state(system, own["loanId"]) == loan_before


# --- loan service -------------------------------------------------------------------------------


async def test_a_customer_reaches_only_their_own_loans(system):
    own = await pending_loan(system, "alice")
    other = await pending_loan(system, "bob")
    client = system.loan.client
    other_document = data(await upload(system, other["loanId"]))
    me = as_customer(own["customerId"])

    # Their own: read, list, schedule, documents.
    assert data(await client.get(f"{LOANS}/{own['loanId']}", headers=me))["loanId"] == own["loanId"]
    mine = data(await client.get(f"{LOANS}/customer/{own['customerId']}", headers=me))
    assert [loan["loanId"] for loan in mine["content"]] == [own["loanId"]]
    schedule = data(await client.get(f"{LOANS}/{own['loanId']}/installments", headers=me))
    assert schedule["totalInstallments"] == 12
    document = data(await upload(system, own["loanId"], headers=me))
    assert document["uploadedBy"] == f"user-{own['customerId']}"
    listed = data(await client.get(f"{LOANS}/{own['loanId']}/documents", headers=me))
    assert [d["documentId"] for d in listed] == [document["documentId"]]
    content = await client.get(
        f"{LOANS}/{own['loanId']}/documents/{document['documentId']}/content", headers=me
    )
    assert content.status_code == 200 and content.content == PDF

    # Someone else's: as if it did not exist, and left as it was.
    before = await loan_state(system, other["loanId"])
    counts = await loan_counts(system)
    path = f"{LOANS}/{other['loanId']}"
    attempts = [
        client.get(path, headers=me),
        client.get(f"{path}/installments", headers=me),
        client.post(f"{path}/cancel", json={"reason": "not mine"}, headers=me),
        client.get(f"{path}/documents", headers=me),
        upload(system, other["loanId"], headers=me),
        client.get(f"{path}/documents/{other_document['documentId']}/content", headers=me),
        # Someone else's document under one's own loan is not found either.
        client.get(
            f"{LOANS}/{own['loanId']}/documents/{other_document['documentId']}/content",
            headers=me,
        ),
        client.get(f"{LOANS}/customer/{other['customerId']}", headers=me),
        client.get(f"{LOANS}/LOAN-NO-SUCH", headers=me),
        client.get(f"{LOANS}/LOAN-NO-SUCH", headers=OFFICER),
    ]
    for attempt in attempts:
        not_found(await attempt)
    assert await loan_state(system, other["loanId"]) == before
    assert await loan_counts(system) == counts
    stored = system.settings.data_dir / "documents" / other["loanId"]
    assert len(list(stored.iterdir())) == 1

    # The list of every loan is for officers.
    forbidden(await client.get(LOANS, headers=me))
    assert data(await client.get(LOANS, headers=OFFICER))["totalElements"] == 2

    # A customer cancels their own loan.
    cancelled = await client.post(
        f"{LOANS}/{own['loanId']}/cancel", json={"reason": "changed my mind"}, headers=me
    )
    assert data(cancelled)["status"] == "CANCELLED"


async def test_the_officers_moves_on_a_customers_own_loan_are_refused(system):
    pending = await pending_loan(system, "alice")
    second = await create(system, pending["customerId"], loanAmount="1000.00")
    assert second["status"] == "PENDING_APPROVAL"
    client = system.loan.client
    me = as_customer(pending["customerId"])
    document = data(await upload(system, pending["loanId"], headers=me))
    before = [await loan_state(system, x["loanId"]) for x in (pending, second)]

    for move, payload in (
        ("approve", {"notes": "looks fine to me", "officerId": "officer-1"}),
        ("reject", {"reason": "no"}),
        ("disburse", {}),
    ):
        forbidden(
            await client.post(f"{LOANS}/{pending['loanId']}/{move}", json=payload, headers=me)
        )
    verify = f"{LOANS}/{pending['loanId']}/documents/{document['documentId']}/verify"
    forbidden(await client.post(verify, json={"status": "VERIFIED"}, headers=me))
    assert [await loan_state(system, x["loanId"]) for x in (pending, second)] == before

    # Approved by an officer, the loan is still not the customer's to disburse.
    by_officer = await client.post(f"{LOANS}/{second['loanId']}/approve", json={}, headers=OFFICER)
    assert data(by_officer)["status"] == "APPROVED"
    ready = await loan_state(system, second["loanId"])
    forbidden(await client.post(f"{LOANS}/{second['loanId']}/disburse", json={}, headers=me))
    assert await loan_state(system, second["loanId"]) == ready
    verified = await client.post(verify, json={"status": "VERIFIED"}, headers=OFFICER)
    assert data(verified)["verifiedBy"] == "officer-1"


async def test_a_customer_applies_only_for_themselves(system):
    alice = await new_customer(system.customer.client, tag="alice")
    bob = await new_customer(system.customer.client, tag="bob")
    client = system.loan.client
    me = as_customer(alice["customerId"])
    counts = await loan_counts(system)
    bob_before = await customer_state(system, bob["customerId"])

    refused_loan = await client.post(LOANS, json=loan_request(bob["customerId"]), headers=me)
    forbidden(refused_loan)
    assert body(refused_loan)["error"]["message"] == "A customer applies for their own loans"
    assert await loan_counts(system) == counts
    assert await customer_state(system, bob["customerId"]) == bob_before

    preview = await client.post(
        f"{LOANS}/preview",
        json={"loanAmount": "1200.00", "interestRate": "0.12", "installmentCount": 12},
        headers=me,
    )
    assert len(data(preview)["installments"]) == 12
    applied = await client.post(LOANS, json=loan_request(alice["customerId"]), headers=me)
    assert applied.status_code == 201, applied.text
    assert data(applied)["customerId"] == alice["customerId"]


async def test_a_customer_is_not_served_the_internal_routes_of_the_loan_service(system):
    own = await active_loan(system, "alice")
    client = system.loan.client
    me = as_customer(own["customerId"])
    rows = (await loan_schedule(system, own["loanId"]))["installments"]
    before = await loan_state(system, own["loanId"])
    counts = await loan_counts(system)

    applied = await client.post(
        f"/internal/v1/loans/{own['loanId']}/payments",
        json={
            "paymentId": "PAY-FAKE",
            "expectedVersion": own["version"],
            "paidAt": "2026-04-01T09:00:00Z",
            "installments": [whole(row) for row in rows],
        },
        headers=me,
    )
    not_found(applied)
    request = loan_request(own["customerId"])
    not_found(await client.post("/internal/v1/loans/validate", json=request, headers=me))
    not_found(
        await client.post("/internal/v1/loans", json={**request, "sagaId": "SAGA-X"}, headers=me)
    )
    not_found(await client.post("/internal/v1/loans/validate", json=request, headers=OFFICER))
    assert await loan_state(system, own["loanId"]) == before
    assert await loan_counts(system) == counts
    assert data(await client.post("/internal/v1/loans/validate", json=request))


# --- payment service ----------------------------------------------------------------------------


async def test_a_customer_calculates_only_on_their_own_loans(system):
    alice_loan = await borrower_with_loan(system, "alice")
    bob_loan = await borrower_with_loan(system, "bob")
    client = system.payment.client
    me = as_customer(alice_loan["customerId"])

    mine = await client.post(CALCULATE, json={"loanId": alice_loan["loanId"]}, headers=me)
    assert data(mine)["loanId"] == alice_loan["loanId"]

    counts = await payment_counts(system)
    for loan_id in (bob_loan["loanId"], "LOAN-NO-SUCH"):
        not_found(await client.post(CALCULATE, json={"loanId": loan_id}, headers=me))
    assert await payment_counts(system) == counts


async def test_a_customer_reads_only_their_own_payments(system):
    alice_loan = await borrower_with_loan(system, "alice")
    bob_loan = await borrower_with_loan(system, "bob")
    paid = {}
    for loan in (alice_loan, bob_loan):
        first = due((await installments(system, loan["loanId"]))[0])
        payment = await recorded(system, loan["loanId"], "2000.00", first, installmentNumbers=[1])
        await settle(system, payment)
        paid[loan["customerId"]] = payment
    alice, bob = alice_loan["customerId"], bob_loan["customerId"]
    client = system.payment.client
    me = as_customer(alice)

    own = data(await client.get(f"{PAYMENTS}/{paid[alice]['paymentId']}", headers=me))
    assert (own["paymentId"], own["status"]) == (paid[alice]["paymentId"], "COMPLETED")
    listed = data(await client.get(f"{PAYMENTS}/customer/{alice}", headers=me))
    assert [p["paymentId"] for p in listed["content"]] == [paid[alice]["paymentId"]]
    by_loan = data(await client.get(f"{PAYMENTS}/loan/{alice_loan['loanId']}", headers=me))
    assert [p["paymentId"] for p in by_loan["content"]] == [paid[alice]["paymentId"]]
    # Even asking for one's own payments of someone else's loan finds none of theirs.
    filtered = await client.get(
        f"{PAYMENTS}/customer/{alice}", params={"loanId": bob_loan["loanId"]}, headers=me
    )
    assert data(filtered)["content"] == []

    for path in (
        f"{PAYMENTS}/{paid[bob]['paymentId']}",
        f"{PAYMENTS}/PAY-NO-SUCH",
        f"{PAYMENTS}/customer/{bob}",
        f"{PAYMENTS}/loan/{bob_loan['loanId']}",
        f"{PAYMENTS}/loan/LOAN-NO-SUCH",
    ):
        not_found(await client.get(path, headers=me))

    # Officers see everyone's.
    seen = data(await client.get(f"{PAYMENTS}/loan/{bob_loan['loanId']}", headers=OFFICER))
    assert [p["paymentId"] for p in seen["content"]] == [paid[bob]["paymentId"]]


async def test_a_customer_is_not_served_the_internal_routes_of_the_payment_service(system):
    loan = await borrower_with_loan(system, "alice")
    client = system.payment.client
    me = as_customer(loan["customerId"])
    pending = await recorded(system, loan["loanId"], "2000.00", TODAY, installmentNumbers=[1])
    counts = await payment_counts(system)
    loan_before = await loan_state(system, loan["loanId"])
    request = {"loanId": loan["loanId"], "paymentAmount": "2000.00", "paymentMethod": "ACH"}

    not_found(await client.post(RECORD, json=request, headers=me))
    not_found(await client.post(f"{RECORD}/validate", json=request, headers=me))
    not_found(await client.post(f"{RECORD}/{pending['paymentId']}/complete", headers=me))
    not_found(
        await client.post(
            f"{RECORD}/{pending['paymentId']}/fail", json={"reason": "mine"}, headers=me
        )
    )
    assert await payment_counts(system) == counts
    assert await loan_state(system, loan["loanId"]) == loan_before
    still = data(await client.get(f"{PAYMENTS}/{pending['paymentId']}", headers=me))
    assert still["status"] == "PENDING"
    assert (await fail(system, pending["paymentId"], "Declined")).status_code == 200


# --- idempotency keys are each user's own ---------------------------------------------------------


async def test_another_users_idempotency_key_neither_replays_nor_conflicts(system):
    alice = await new_customer(system.customer.client, tag="alice")
    client = system.customer.client
    path = f"{CUSTOMERS}/{alice['customerId']}/addresses"
    me = {**as_customer(alice["customerId"]), "Idempotency-Key": "shared-key-1"}
    officer = {**OFFICER, "Idempotency-Key": "shared-key-1"}

    first = await client.post(path, json=address(), headers=me)
    assert first.status_code == 201, first.text
    again = await client.post(path, json=address(), headers=me)
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert data(again)["addressId"] == data(first)["addressId"]

    # Another user, same key, same body: served anew, not the first user's answer.
    same = await client.post(path, json=address(), headers=officer)
    assert same.status_code == 201, same.text
    assert "Idempotent-Replayed" not in same.headers
    assert data(same)["addressId"] != data(first)["addressId"]

    # A third user, same key, another body: not a reuse of someone else's key.
    other = {
        **as_customer(alice["customerId"], subject="alice-2"),
        "Idempotency-Key": "shared-key-1",
    }
    different = await client.post(path, json=address("9 Elm St"), headers=other)
    assert different.status_code == 201, different.text
    assert "Idempotent-Replayed" not in different.headers
    streets = sorted(a["street"] for a in data(await client.get(path)))
    assert streets == ["1 Main St", "1 Main St", "9 Elm St"]


async def test_two_customers_may_choose_the_same_key_on_the_loan_service(system):
    alice_loan = await pending_loan(system, "alice")
    bob_loan = await pending_loan(system, "bob")
    client = system.loan.client
    answers = []
    for loan, reason in ((alice_loan, "same reason"), (bob_loan, "same reason")):
        headers = {**as_customer(loan["customerId"]), "Idempotency-Key": "cancel-1"}
        answers.append(
            await client.post(
                f"{LOANS}/{loan['loanId']}/cancel", json={"reason": reason}, headers=headers
            )
        )
    for answer, loan in zip(answers, (alice_loan, bob_loan), strict=True):
        assert "Idempotent-Replayed" not in answer.headers
        assert (data(answer)["loanId"], data(answer)["status"]) == (loan["loanId"], "CANCELLED")
    # And with a different body, still not IDEMPOTENCY_KEY_REUSED.
    carol_loan = await approved_loan(system, "carol")
    headers = {**as_customer(carol_loan["customerId"]), "Idempotency-Key": "cancel-1"}
    third = await client.post(
        f"{LOANS}/{carol_loan['loanId']}/cancel", json={"reason": "another"}, headers=headers
    )
    assert data(third)["status"] == "CANCELLED"
