"""`elms demo`: the system at work in a minute, through the gateway as any client would use it.

An administrator offers a second product beside the standard personal loan: AUTO36, a 36-month
car loan at 7.9 % whose late penalty starts only after a 5-day grace period. Four customers
apply: Ada is approved automatically, Bob's application waits for an officer (his credit score is
below the automatic threshold) and is approved, Cy asks for more than his credit allows and the
saga is compensated, and Dee buys a car under AUTO36. The loans are disbursed a few months back;
Ada pays one installment late, one on its due date and one early, Bob pays his loan off, and Dee
pays her first installment three days late, inside her product's grace period, so without a
penalty. The summary is read back from the services at the end, so it shows what the database
holds."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import httpx

from elms.core import jsoncodec
from elms.core.money import ZERO

# How long the demo waits for an outbox event (approval → the customer's used credit).
EVENT_WAIT_SECONDS = 30


class DemoFailed(Exception):
    """The running system answered something the demo did not expect."""


@dataclass
class Gateway:
    """The public API, with one officer's token (and an administrator's, for products)."""

    http: httpx.Client
    admin_token: str = ""

    def call(self, method: str, path: str, body: Any = None, expect: int = 200) -> Any:
        content = jsoncodec.dumps(body).encode() if body is not None else None
        answer = self.http.request(
            method, path, content=content, headers={"Content-Type": "application/json"}
        )
        parsed = jsoncodec.loads(answer.content) if answer.content else {}
        if answer.status_code != expect:
            raise DemoFailed(f"{method} {path} answered {answer.status_code}: {answer.text}")
        return parsed.get("data") if parsed.get("status") == "SUCCESS" else parsed.get("error")


@dataclass
class Story:
    customers: dict[str, dict[str, Any]] = field(default_factory=dict)
    loans: dict[str, dict[str, Any]] = field(default_factory=dict)
    refused: dict[str, Any] = field(default_factory=dict)
    payments: list[dict[str, Any]] = field(default_factory=list)
    sagas: list[str] = field(default_factory=list)
    product: dict[str, Any] = field(default_factory=dict)


PEOPLE = {
    "Ada": {"lastName": "Lovelace", "creditLimit": "50000.00", "creditScore": 780},
    "Bob": {"lastName": "Babbage", "creditLimit": "30000.00", "creditScore": 690},
    "Cy": {"lastName": "Shannon", "creditLimit": "3000.00", "creditScore": 750},
    "Dee": {"lastName": "Ritchie", "creditLimit": "40000.00", "creditScore": 760},
}

# The second product: what a car dealer's lender would offer beside the standard terms.
AUTO36 = {
    "productCode": "AUTO36",
    "name": "Car loan, 36 months at 7.9%",
    "loanType": "AUTO",
    "description": "New and used cars; the late penalty starts after a 5-day grace period",
    "minAmount": "5000.00",
    "maxAmount": "80000.00",
    "minRate": "0.079",
    "maxRate": "0.079",
    "installmentCounts": [36],
    "penaltyGraceDays": 5,
}


def _offer_auto36(api: Gateway) -> dict[str, Any]:
    """AUTO36 as an administrator creates it; on a second run of the demo, as it is."""
    created = api.http.request(
        "POST",
        "/api/v1/loan-products",
        content=jsoncodec.dumps(AUTO36).encode(),
        headers={
            "Content-Type": "application/json",
            "Authorization": f"Bearer {api.admin_token}",
        },
    )
    if created.status_code == 409:
        return api.call("GET", "/api/v1/loan-products/AUTO36")
    if created.status_code != 201:
        raise DemoFailed(f"POST /api/v1/loan-products answered {created.status_code}")
    return jsoncodec.loads(created.content)["data"]


def _customer(api: Gateway, first: str, tag: str) -> dict[str, Any]:
    details = PEOPLE[first]
    created = api.call(
        "POST",
        "/api/v1/customers",
        {
            "firstName": first,
            "lastName": details["lastName"],
            "email": f"{first.lower()}.{tag}@example.com",
            "dateOfBirth": "1985-12-10",
            "creditLimit": details["creditLimit"],
            "creditScore": details["creditScore"],
            "annualIncome": "120000.00",
            "employmentStatus": "EMPLOYED",
        },
        expect=201,
    )
    return api.call(
        "PUT",
        f"/api/v1/customers/{created['customerId']}",
        {"version": created["version"], "kycStatus": "VERIFIED"},
    )


def _apply(
    api: Gateway,
    customer_id: str,
    loan: tuple[str, str, int],
    applied: date,
    expect: int,
    **product: str,
):
    amount, rate, count = loan
    return api.call(
        "POST",
        "/api/v1/loans",
        {
            "customerId": customer_id,
            "loanAmount": amount,
            "interestRate": rate,
            "installmentCount": count,
            "loanType": "PERSONAL",
            "purpose": "Demo",
            "applicationDate": applied,
            **product,
        },
        expect=expect,
    )


def _await_used_credit(api: Gateway, customer_id: str, amount: Decimal) -> None:
    """Approval reaches the customer service through the loan service's outbox (about a
    second); payments give credit back, so they wait until the loan has taken it."""
    deadline = time.monotonic() + EVENT_WAIT_SECONDS
    while api.call("GET", f"/api/v1/customers/{customer_id}")["usedCredit"] != amount:
        if time.monotonic() > deadline:
            raise DemoFailed(f"the approval never reached customer {customer_id}")
        time.sleep(0.2)


def _pay(
    api: Gateway,
    story: Story,
    loan_id: str,
    on: date,
    timing: str,
    number: int | None,
    payoff: bool = False,
):
    asked: dict[str, Any] = {"loanId": loan_id, "paymentDate": on}
    if payoff:
        asked["payoff"] = True  # the whole loan: every installment, later interest waived
    else:
        asked["installmentNumbers"] = [number] if number else None
    quote = api.call("POST", "/api/v1/payments/calculate", asked)
    amount = quote["calculation"]["finalAmount"]
    paid = api.call(
        "POST",
        "/api/v1/payments",
        {
            **{k: v for k, v in asked.items() if k != "installmentNumbers"},
            "paymentAmount": amount,
            "paymentMethod": "BANK_TRANSFER",
        },
        expect=201,
    )
    story.sagas.append(paid["sagaId"])
    story.payments.append({"timing": timing, **paid})
    return paid


def run(api: Gateway, today: date) -> Story:
    story = Story()
    story.product = _offer_auto36(api)
    tag = secrets.token_hex(3)
    for first in PEOPLE:
        story.customers[first] = _customer(api, first, tag)
    # Disbursed on the first of a month about a hundred days ago, so three installments have
    # fallen due: one to pay late, one on time, one early.
    disbursed = (today - timedelta(days=100)).replace(day=1)
    applied = disbursed - timedelta(days=5)

    ada = _apply(api, story.customers["Ada"]["customerId"], ("12000.00", "0.12", 12), applied, 201)
    bob = _apply(api, story.customers["Bob"]["customerId"], ("8000.00", "0.15", 6), applied, 201)
    story.sagas += [ada["sagaId"], bob["sagaId"]]
    if (ada["status"], bob["status"]) != ("APPROVED", "PENDING_APPROVAL"):
        raise DemoFailed(f"unexpected underwriting: {ada['status']}, {bob['status']}")
    api.call("POST", f"/api/v1/loans/{bob['loanId']}/approve", {"notes": "Income checked"})
    refusal = _apply(
        api, story.customers["Cy"]["customerId"], ("10000.00", "0.12", 12), applied, 422
    )
    story.refused = {"customer": "Cy", **refusal}
    story.sagas.append(refusal["sagaId"])
    dee = _apply(
        api,
        story.customers["Dee"]["customerId"],
        ("20000.00", "0.079", 36),
        applied,
        201,
        loanType="AUTO",
        productCode="AUTO36",
        purpose="A car",
    )
    story.sagas.append(dee["sagaId"])

    for first, loan in (("Ada", ada), ("Bob", bob), ("Dee", dee)):
        _await_used_credit(api, loan["customerId"], loan["loanAmount"])
        story.loans[first] = api.call(
            "POST", f"/api/v1/loans/{loan['loanId']}/disburse", {"disbursementDate": disbursed}
        )

    schedule = api.call("GET", f"/api/v1/loans/{ada['loanId']}/installments")["installments"]
    due = [date.fromisoformat(row["dueDate"]) for row in schedule[:3]]
    _pay(api, story, ada["loanId"], due[0] + timedelta(days=5), "LATE", 1)
    _pay(api, story, ada["loanId"], due[1], "ON_TIME", 2)
    _pay(api, story, ada["loanId"], due[2] - timedelta(days=10), "EARLY", 3)
    # Bob pays his loan off in one payment: its payoff quote on the business date.
    _pay(api, story, bob["loanId"], today, "PAYOFF", None, payoff=True)
    first_due = api.call("GET", f"/api/v1/loans/{dee['loanId']}/installments")["installments"][0]
    on = date.fromisoformat(first_due["dueDate"]) + timedelta(days=3)
    _pay(api, story, dee["loanId"], on, "IN_GRACE", 1)
    return story


def summary(api: Gateway, story: Story) -> dict[str, Any]:
    """What the services hold now about everything the demo did."""
    customers = {
        first: api.call("GET", f"/api/v1/customers/{c['customerId']}")
        for first, c in story.customers.items()
    }
    loans = {
        first: api.call("GET", f"/api/v1/loans/{loan['loanId']}")
        for first, loan in story.loans.items()
    }
    payments = [
        {"timing": p["timing"], **api.call("GET", f"/api/v1/payments/{p['paymentId']}")}
        for p in story.payments
    ]
    sagas = [api.call("GET", f"/api/v1/saga/states/{saga_id}") for saga_id in story.sagas]
    return {
        "product": {
            key: story.product[key]
            for key in ("productCode", "version", "name", "installmentCounts", "penaltyGraceDays")
        },
        "customers": [
            {
                "name": first,
                "customerId": c["customerId"],
                "creditLimit": c["creditLimit"],
                "availableCredit": c["availableCredit"],
                "usedCredit": c["usedCredit"],
            }
            for first, c in customers.items()
        ],
        "loans": [
            {
                "customer": first,
                "loanId": loan["loanId"],
                "loanAmount": loan["loanAmount"],
                "productCode": loan["productCode"],
                "productVersion": loan["productVersion"],
                "status": loan["status"],
                "outstandingAmount": loan["outstandingAmount"],
                "paidInstallments": loan["paidInstallments"],
                "sagaId": loan["sagaId"],
            }
            for first, loan in loans.items()
        ],
        "refusedApplication": {
            "customer": story.refused["customer"],
            "code": story.refused["code"],
            "failedStep": story.refused.get("failedStep"),
            "sagaId": story.refused["sagaId"],
        },
        "payments": [
            {
                "paymentId": p["paymentId"],
                "loanId": p["loanId"],
                "timing": p["timing"],
                "paymentDate": p["paymentDate"][:10],
                "paymentAmount": p["paymentAmount"],
                "discount": sum((r["discountApplied"] for r in p["installmentPayments"]), ZERO),
                "penalty": sum((r["penaltyPaid"] for r in p["installmentPayments"]), ZERO),
                "installments": [r["installmentNumber"] for r in p["installmentPayments"]],
                "interestWaived": sum(
                    (r["interestWaived"] for r in p["installmentPayments"]), ZERO
                ),
                "paymentType": p["paymentType"],
                "status": p["status"],
            }
            for p in payments
        ],
        "sagas": [
            {
                "sagaId": s["sagaId"],
                "sagaType": s["sagaType"],
                "status": s["status"],
                "steps": [r["stepName"] for r in s["completedSteps"] if r["status"] == "COMPLETED"],
                "refusedAt": (s["error"] or {}).get("step"),
                "compensations": [r["stepName"] for r in s["compensations"]],
                "durationMs": s["duration"],
            }
            for s in sagas
        ],
    }


def render(facts: dict[str, Any]) -> str:
    """The summary as a newcomer reads it."""
    product = facts["product"]
    lines = [
        "",
        f"Product {product['productCode']} (version {product['version']}): {product['name']},"
        f" penalty after {product['penaltyGraceDays']} days of grace",
        "",
        "Customers",
    ]
    for c in facts["customers"]:
        lines.append(
            f"  {c['name']:<4} {c['customerId']}  limit {c['creditLimit']:>10}"
            f"  available {c['availableCredit']:>10}  used {c['usedCredit']:>9}"
        )
    lines += ["", "Loans"]
    for loan in facts["loans"]:
        lines.append(
            f"  {loan['customer']:<4} {loan['loanId']}  {loan['productCode']:<8}"
            f" {loan['loanAmount']:>9}  {loan['status']:<9} outstanding"
            f" {loan['outstandingAmount']:>9}"
            f"  installments paid {loan['paidInstallments']}"
        )
    refused = facts["refusedApplication"]
    lines += [
        "",
        f"Refused: {refused['customer']}'s application, {refused['code']} at"
        f" {refused['failedStep']} (saga {refused['sagaId']}, compensated)",
        "",
        "Payments",
    ]
    for p in facts["payments"]:
        lines.append(
            f"  {p['paymentId']}  {p['paymentDate']}  {p['timing']:<8} {p['paymentAmount']:>9}"
            f"  installments {','.join(map(str, p['installments'])):<11}"
            f" discount {p['discount']:>6}  penalty {p['penalty']:>6}  {p['status']}"
        )
    lines += ["", "Sagas"]
    for s in facts["sagas"]:
        refused = f" ✗ refused at {s['refusedAt']}" if s["refusedAt"] else ""
        undone = f"; undone: {', '.join(s['compensations'])}" if s["compensations"] else ""
        lines.append(
            f"  {s['sagaId']}  {s['sagaType']:<18} {s['status']:<11} {s['durationMs']:>5} ms"
            f"  {' → '.join(s['steps'])}{refused}{undone}"
        )
    return "\n".join(lines)
