"""The load: concurrent clients, each a loan officer taking borrowers through the whole system
by the gateway's public API until the time is up.

One borrower's way: the customer is created and verified; a loan is originated (the
LOAN_CREATION saga) and approved automatically; once the approval has reached the customer
service (the loan service's outbox), the loan is disbursed, its schedule read, and three
installments are paid on their due dates (each quoted by the calculator, then paid through the
PAYMENT_PROCESSING saga); the customer is read back."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import httpx

from bench.stats import Timings
from elms.core import jsoncodec

LOAN_AMOUNT = "6000.00"
INSTALLMENTS_PAID = 3
# How long a borrower may wait for the approval to reach the customer service.
EVENT_WAIT_SECONDS = 30


class JourneyBroken(Exception):
    """A call failed: the borrower is abandoned (and the failure counted)."""


@dataclass
class Officer:
    api: httpx.AsyncClient
    timings: Timings
    tag: str
    today: date

    async def call(
        self, operation: str, method: str, path: str, body: Any = None, expect: int = 200
    ) -> Any:
        content = jsoncodec.dumps(body).encode() if body is not None else None
        started = time.perf_counter()
        try:
            response = await self.api.request(method, path, content=content)
        except httpx.HTTPError as error:
            self.timings.failed(operation, f"{type(error).__name__}: {error}")
            raise JourneyBroken from error
        took = time.perf_counter() - started
        if response.status_code != expect:
            self.timings.failed(operation, f"HTTP {response.status_code}: {response.text[:300]}")
            raise JourneyBroken
        self.timings.took(operation, took)
        return jsoncodec.loads(response.content)["data"]

    async def borrower(self, number: int) -> None:
        disbursed = (self.today - timedelta(days=100)).replace(day=1)
        created = await self.call(
            "customer_create",
            "POST",
            "/api/v1/customers",
            {
                "firstName": "Bench",
                "lastName": f"Borrower {number}",
                "email": f"bench.{self.tag}.{number}@example.com",
                "creditLimit": "50000.00",
                "creditScore": 760,
                "annualIncome": "120000.00",
            },
            expect=201,
        )
        customer = f"/api/v1/customers/{created['customerId']}"
        await self.call("customer_update", "PUT", customer, {"version": 1, "kycStatus": "VERIFIED"})
        loan = await self.call(
            "loan_create",
            "POST",
            "/api/v1/loans",
            {
                "customerId": created["customerId"],
                "loanAmount": LOAN_AMOUNT,
                "interestRate": "0.12",
                "installmentCount": 6,
                "loanType": "PERSONAL",
                "applicationDate": disbursed - timedelta(days=5),
            },
            expect=201,
        )
        await self._approval_delivered(customer, loan["loanAmount"])
        path = f"/api/v1/loans/{loan['loanId']}"
        await self.call(
            "loan_disburse", "POST", f"{path}/disburse", {"disbursementDate": disbursed}
        )
        schedule = await self.call("schedule_read", "GET", f"{path}/installments")
        for row in schedule["installments"][:INSTALLMENTS_PAID]:
            number_paid = row["installmentNumber"]
            quote = await self.call(
                "payment_calculate",
                "POST",
                "/api/v1/payments/calculate",
                {
                    "loanId": loan["loanId"],
                    "paymentDate": row["dueDate"],
                    "installmentNumbers": [number_paid],
                },
            )
            await self.call(
                "payment",
                "POST",
                "/api/v1/payments",
                {
                    "loanId": loan["loanId"],
                    "paymentAmount": quote["calculation"]["finalAmount"],
                    "paymentDate": row["dueDate"],
                    "paymentMethod": "BANK_TRANSFER",
                },
                expect=201,
            )
        await self.call("customer_read", "GET", customer)

    async def _approval_delivered(self, customer: str, amount: Any) -> None:
        deadline = time.monotonic() + EVENT_WAIT_SECONDS
        while (await self.call("customer_read", "GET", customer))["usedCredit"] != amount:
            if time.monotonic() > deadline:
                self.timings.failed("approval_delivery", f"{customer} never saw its approval")
                raise JourneyBroken
            await asyncio.sleep(0.05)


async def run(url: str, token: str, clients: int, seconds: float, tag: str, today: date):
    """Borrowers until `seconds` have passed (each client finishes the one it is on); returns
    the timings and the seconds the run took."""
    timings = Timings()
    limits = httpx.Limits(max_connections=clients * 2, max_keepalive_connections=clients * 2)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    async with httpx.AsyncClient(base_url=url, headers=headers, limits=limits, timeout=60) as api:
        started = time.monotonic()
        deadline = started + seconds

        async def client(index: int) -> None:
            officer = Officer(api, timings, f"{tag}-{index}", today)
            number = 0
            while time.monotonic() < deadline:
                number += 1
                try:
                    await officer.borrower(number)
                except JourneyBroken:
                    continue

        await asyncio.gather(*(client(i) for i in range(clients)))
        return timings, time.monotonic() - started
