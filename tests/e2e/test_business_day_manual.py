"""A loan driven through months of business days in manual mode (`elms up` with
ELMS_BUSINESS_DATE_MODE=manual), as a test or a demo drives it: the business date moved one day at
a time by an administrator and in jumps by `elms cob --until`, payments late, partial and early on
the business date, and every day the loan's days past due, bucket, non-performing flag and
penalties checked against their definitions (worked out here, independently of the services),
and the delinquency history against the moves those definitions make."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import httpx

from elms.core import jsoncodec
from tests.support.elms_up import books_balance, elms_up, environment, token
from tests.support.waiting import until

RATE = Decimal("0.001")  # the default products' late penalty per day; no grace, no cap
BUCKETS = ((0, "CURRENT"), (1, "DPD_1_30"), (31, "DPD_31_60"), (61, "DPD_61_90"),
           (91, "DPD_91_180"), (181, "DPD_180_PLUS"))  # fmt: skip
BUSINESS_DATE = "/api/v1/operations/business-date"


def cents(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"), ROUND_HALF_UP)


def bucket_of(dpd: int) -> str:
    return [name for least, name in BUCKETS if dpd >= least][-1]


class Api:
    def __init__(self, url: str, officer: str, admin: str) -> None:
        self.officer = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {officer}"})
        self.admin = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {admin}"})

    def call(self, method: str, path: str, body: Any = None, expect: int = 200, admin=False):
        client = self.admin if admin else self.officer
        content = jsoncodec.dumps(body).encode() if body is not None else None
        answer = client.request(
            method, path, content=content, headers={"Content-Type": "application/json"}, timeout=60
        )
        assert answer.status_code == expect, f"{method} {path}: {answer.text}"
        return jsoncodec.loads(answer.content)["data"]


class Book:
    """What the test knows of the loan: its installments' unpaid principal and interest, and
    their penalty worked out by the definition (servicing: frozen at each change of the unpaid
    amount, rounded once then; accrual since on what is left)."""

    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.due = [date.fromisoformat(r["dueDate"]) for r in rows]
        self.total = [r["totalAmount"] for r in rows]
        self.unpaid = list(self.total)
        self.frozen = [Decimal("0.00")] * len(rows)
        self.since = list(self.due)
        self.penalty_paid = [Decimal("0.00")] * len(rows)

    def penalty(self, n: int, on: date) -> Decimal:
        days = max((on - self.since[n]).days, 0)
        return self.frozen[n] + cents(self.unpaid[n] * RATE * days) if on > self.due[n] else 0

    def owes(self, n: int, on: date) -> bool:
        return self.unpaid[n] > 0 or self.penalty(n, on) > 0

    def paid(self, n: int, on: date, principal_interest: Decimal, penalty: Decimal) -> None:
        owed = self.penalty(n, on)
        self.frozen[n] = owed - penalty
        self.since[n] = max(on, self.due[n])
        self.unpaid[n] -= principal_interest
        self.penalty_paid[n] += penalty

    def dpd(self, on: date) -> int:
        owing = [self.due[n] for n in range(len(self.due)) if self.owes(n, on)]
        return max((on - min(owing)).days, 0) if owing else 0


def _move_to(api: Api, day: date) -> None:
    moved = api.call("POST", BUSINESS_DATE, {"date": day}, admin=True)
    assert moved["businessDate"] == day.isoformat(), moved


def _cob_until(env: dict[str, str], day: date) -> str:
    ran = subprocess.run(
        [sys.executable, "-m", "elms", "cob", "--until", day.isoformat()],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert f"The business date is {day.isoformat()}." in ran.stdout
    return ran.stdout


def _pay(api: Api, loan_id: str, amount: Decimal, on: date, partial: bool = False) -> dict:
    # No paymentDate: the payment is made on the business date, which every service knows.
    paid = api.call(
        "POST",
        "/api/v1/payments",
        {
            "loanId": loan_id,
            "paymentAmount": amount,
            "paymentMethod": "BANK_TRANSFER",
            "isPartialPayment": partial,
        },
        expect=201,
    )
    payment = api.call("GET", f"/api/v1/payments/{paid['paymentId']}")
    assert (payment["status"], payment["paymentDate"][:10]) == ("COMPLETED", on.isoformat())
    return payment


def _check(api: Api, loan_id: str, book: Book, on: date) -> dict[str, Any]:
    loan = api.call("GET", f"/api/v1/loans/{loan_id}")
    dpd = book.dpd(on)
    assert (loan["daysPastDue"], loan["delinquencyBucket"], loan["nonPerforming"]) == (
        dpd,
        bucket_of(dpd),
        dpd > 90,
    ), on
    for n, row in enumerate(loan["installments"]):
        assert row["penaltyDue"] == (book.penalty(n, on) if book.owes(n, on) else 0), (on, n)
        assert row["remainingAmount"] == book.unpaid[n], (on, n)
        assert (row["status"] == "PAID") == (not book.owes(n, on)), (on, n)
    assert loan["penaltyOutstanding"] == sum(
        (book.penalty(n, on) for n in range(len(book.due)) if book.owes(n, on)), Decimal("0")
    )
    return loan


def _expected_moves(dpd_by_day: dict[date, int]) -> list[tuple[str, str, str, int]]:
    moves, bucket, np = [], "CURRENT", False
    for day in sorted(dpd_by_day):
        dpd = dpd_by_day[day]
        if (bucket_of(dpd), dpd > 90) != (bucket, np):
            moves.append((day.isoformat(), bucket, bucket_of(dpd), dpd))
            bucket, np = bucket_of(dpd), dpd > 90
    return moves


def test_a_loan_through_months_of_business_days(tmp_path: Path):
    env = environment(
        tmp_path / "data",
        ELMS_BUSINESS_DATE_MODE="manual",
        ELMS_RATE_LIMIT="1000000/minute",
    )
    with elms_up(env):
        officer = token(env, "--sub", "officer-1", "--role", "LOAN_OFFICER")
        api = Api(env_url(env), officer, token(env))
        state = api.call("GET", BUSINESS_DATE)
        assert state["mode"] == "manual"
        today = date.fromisoformat(state["businessDate"])

        customer = api.call(
            "POST",
            "/api/v1/customers",
            {
                "firstName": "Manual",
                "lastName": "Mode",
                "email": "manual.mode@example.com",
                "dateOfBirth": "1980-01-01",
                "creditLimit": "50000.00",
                "creditScore": 780,
                "annualIncome": "120000.00",
            },
            expect=201,
        )
        api.call(
            "PUT",
            f"/api/v1/customers/{customer['customerId']}",
            {"version": customer["version"], "kycStatus": "VERIFIED"},
        )
        applied = api.call(
            "POST",
            "/api/v1/loans",
            {
                "customerId": customer["customerId"],
                "loanAmount": "6000.00",
                "interestRate": "0.12",
                "installmentCount": 6,
                "loanType": "PERSONAL",
                "purpose": "Manual mode",
            },
            expect=201,
        )
        loan_id = applied["loanId"]
        _wait_for_used_credit(api, customer["customerId"])
        disbursed = api.call("POST", f"/api/v1/loans/{loan_id}/disburse", {})
        assert disbursed["disbursementDate"][:10] == today.isoformat()
        rows = api.call("GET", f"/api/v1/loans/{loan_id}/installments")["installments"]
        book = Book(rows)
        d1, d2, _, d4, d5 = book.due[:5]
        assert d1 > today

        # Nothing falls due for a month: one jump.
        _cob_until(env, d1 - timedelta(days=2))
        dpd_by_day = {today + timedelta(days=k): 0 for k in range((d1 - today).days - 2)}
        plan = {
            # Installment 1 ten days late, whole.
            d1 + timedelta(days=10): lambda on: ("whole", 0),
            # Installment 2: half on day 5 late; the rest of its principal and interest on day
            # 40 (its penalty left owed); the penalty on day 45.
            d2 + timedelta(days=5): lambda on: ("partial", cents(book.total[1] / 2)),
            d2 + timedelta(days=40): lambda on: ("partial", book.unpaid[1]),
            d2 + timedelta(days=45): lambda on: ("whole", 1),
            # Installment 3 the next day, late, whole; installment 4 ten days early.
            d2 + timedelta(days=46): lambda on: ("whole", 2),
            d4 - timedelta(days=10): lambda on: ("whole", 3),
        }
        on = d1 - timedelta(days=2)
        while on < d4:
            _check(api, loan_id, book, on)
            if on in plan:
                kind, value = plan.pop(on)(on)
                _pay_as_planned(api, loan_id, book, on, kind, value)
                _check(api, loan_id, book, on)
            dpd_by_day[on] = book.dpd(on)
            on += timedelta(days=1)
            _move_to(api, on)
        assert not plan
        # Then nothing paid for a hundred days after installment 5 fell due: one jump.
        end = d5 + timedelta(days=100)
        closed = _cob_until(env, end)
        assert f"closed {(end - timedelta(days=1)).isoformat()}" in closed
        while on < end:
            dpd_by_day[on] = book.dpd(on)
            on += timedelta(days=1)
        loan = _check(api, loan_id, book, end)
        assert (loan["daysPastDue"], loan["nonPerforming"]) == (100, True)

        history = api.call("GET", f"/api/v1/loans/{loan_id}/delinquency-history?size=100")
        recorded = [
            (h["businessDate"], h["previousBucket"], h["bucket"], h["daysPastDue"])
            for h in reversed(history["content"])
        ]
        assert recorded == _expected_moves(dpd_by_day)
        # It went late, back to current, late again, and non-performing.
        assert [m[2] for m in recorded] == [
            "DPD_1_30",
            "CURRENT",
            "DPD_1_30",
            "DPD_31_60",
            "DPD_1_30",
            "CURRENT",
            "DPD_1_30",
            "DPD_31_60",
            "DPD_61_90",
            "DPD_91_180",
        ]
        runs = api.call("GET", "/api/v1/operations/cob-runs?size=100")
        assert runs["totalElements"] == (end - today).days
        assert {r["status"] for r in runs["content"]} == {"COMPLETED"}
        books_balance(env)


def _pay_as_planned(api: Api, loan_id: str, book: Book, on: date, kind: str, value) -> None:
    if kind == "partial":
        n = next(i for i in range(len(book.due)) if book.owes(i, on))
        penalty_before = book.penalty(n, on)
        payment = _pay(api, loan_id, value, on, partial=True)
        # Interest and principal first (the default order): the penalty is left owed.
        assert payment["paymentAmount"] == value
        book.paid(n, on, value, Decimal("0.00"))
        assert book.penalty(n, on) == penalty_before
        return
    n = value
    quote = api.call(
        "POST", "/api/v1/payments/calculate", {"loanId": loan_id, "installmentNumbers": [n + 1]}
    )
    amount = quote["calculation"]["finalAmount"]
    penalty = book.penalty(n, on) if on > book.due[n] else Decimal("0.00")
    discount = (
        min(cents(book.unpaid[n] * RATE * (book.due[n] - on).days), _interest_left(api, loan_id, n))
        if on < book.due[n]
        else Decimal("0.00")
    )
    assert amount == book.unpaid[n] + penalty - discount, (on, n, quote)
    payment = _pay(api, loan_id, amount, on)
    assert payment["paymentAmount"] == amount
    book.paid(n, on, book.unpaid[n], penalty)


def _interest_left(api: Api, loan_id: str, n: int) -> Decimal:
    row = api.call("GET", f"/api/v1/loans/{loan_id}/installments")["installments"][n]
    return row["interestRemaining"]


def _wait_for_used_credit(api: Api, customer_id: str) -> None:
    """The approval reaches the customer service through the loan service's outbox."""

    async def used() -> bool:
        return api.call("GET", f"/api/v1/customers/{customer_id}")["usedCredit"] > 0

    asyncio.run(until(used, "the loan's approval to reach the customer service"))


def env_url(env: dict[str, str]) -> str:
    return f"http://127.0.0.1:{env['ELMS_GATEWAY_PORT']}"
