"""The reads of api.md §4: one payment with its installment rows, a customer's payments (filtered
by loan, status and dates, paged, newest first) and a loan's payments."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pytest

from tests.integration.payment.helpers import (
    PAYMENTS,
    TODAY,
    active_loan,
    borrower_with_loan,
    customer,
    data,
    due,
    error,
    fail,
    fields,
    installments,
    recorded,
    settle,
)


@dataclass
class Book:
    """Customer A's three payments on two loans, dated apart, and customer B's one."""

    customer_id: str
    loan_one: str
    loan_two: str
    completed: dict[str, Any]  # loan one, on its first due date
    failed: dict[str, Any]  # loan one, on its second due date
    pending: dict[str, Any]  # loan two, today
    first_date: date
    second_date: date


@pytest.fixture
async def book(system) -> Book:
    person = await customer(system, "reader")
    one = await active_loan(system, person["customerId"], "APP-READ-1")
    two = await active_loan(system, person["customerId"], "APP-READ-2")
    schedule = await installments(system, one["loanId"])
    first_date, second_date = due(schedule[0]), due(schedule[1])
    assert first_date < second_date < TODAY

    completed = await recorded(system, one["loanId"], "2000.00", first_date, installmentNumbers=[1])
    await settle(system, completed)
    failed = await recorded(system, one["loanId"], "2000.00", second_date, installmentNumbers=[2])
    assert (await fail(system, failed["paymentId"], "Declined")).status_code == 200
    pending = await recorded(system, two["loanId"], "2000.00", TODAY)

    stranger = await borrower_with_loan(system, "stranger")
    await recorded(system, stranger["loanId"], "2000.00", TODAY)
    return Book(
        person["customerId"],
        one["loanId"],
        two["loanId"],
        completed,
        failed,
        pending,
        first_date,
        second_date,
    )


async def _listed(system, path: str, **params: Any) -> dict[str, Any]:
    response = await system.payment.client.get(path, params=params)
    assert response.status_code == 200, response.text
    return data(response)


def _ids(page: dict[str, Any]) -> list[str]:
    return [p["paymentId"] for p in page["content"]]


async def test_a_payment_is_read_with_its_installment_rows(system, book):
    response = await system.payment.client.get(f"{PAYMENTS}/{book.completed['paymentId']}")

    assert response.status_code == 200, response.text
    payment = data(response)
    assert payment["status"] == "COMPLETED"
    assert payment["processedAt"] is not None
    assert payment["customerId"] == book.customer_id
    assert payment["loanId"] == book.loan_one
    assert payment["paymentDate"].startswith(str(book.first_date))
    assert payment["paymentAmount"] == book.completed["paymentAmount"]
    assert payment["installmentPayments"] == book.completed["installmentPayments"]
    assert [r["installmentNumber"] for r in payment["installmentPayments"]] == [1]
    assert payment["unappliedAmount"] == book.completed["unappliedAmount"]


async def test_a_customers_payments_are_listed_newest_first_and_only_theirs(system, book):
    page = await _listed(system, f"{PAYMENTS}/customer/{book.customer_id}")

    assert _ids(page) == [
        book.pending["paymentId"],
        book.failed["paymentId"],
        book.completed["paymentId"],
    ]
    assert {p["customerId"] for p in page["content"]} == {book.customer_id}
    assert (page["page"], page["size"], page["totalElements"], page["totalPages"]) == (0, 20, 3, 1)


async def test_a_customers_payments_are_filtered_by_loan(system, book):
    one = await _listed(system, f"{PAYMENTS}/customer/{book.customer_id}", loanId=book.loan_one)
    two = await _listed(system, f"{PAYMENTS}/customer/{book.customer_id}", loanId=book.loan_two)

    assert _ids(one) == [book.failed["paymentId"], book.completed["paymentId"]]
    assert _ids(two) == [book.pending["paymentId"]]
    assert one["totalElements"] == 2


@pytest.mark.parametrize("status", ["COMPLETED", "FAILED", "PENDING"])
async def test_a_customers_payments_are_filtered_by_status(system, book, status):
    expected = {"COMPLETED": book.completed, "FAILED": book.failed, "PENDING": book.pending}

    page = await _listed(system, f"{PAYMENTS}/customer/{book.customer_id}", status=status)

    assert _ids(page) == [expected[status]["paymentId"]]
    assert page["content"][0]["status"] == status


async def test_a_customers_payments_are_filtered_by_inclusive_payment_dates(system, book):
    path = f"{PAYMENTS}/customer/{book.customer_id}"
    second = str(book.second_date)

    only_second = await _listed(system, path, fromDate=second, toDate=second)
    since_second = await _listed(system, path, fromDate=second)
    until_first = await _listed(system, path, toDate=str(book.first_date))
    between = await _listed(
        system,
        path,
        fromDate=str(book.first_date + timedelta(days=1)),
        toDate=str(book.second_date - timedelta(days=1)),
    )

    assert _ids(only_second) == [book.failed["paymentId"]]
    assert _ids(since_second) == [book.pending["paymentId"], book.failed["paymentId"]]
    assert _ids(until_first) == [book.completed["paymentId"]]
    assert _ids(between) == []
    assert between["totalElements"] == 0


async def test_a_customers_payments_are_paged(system, book):
    path = f"{PAYMENTS}/customer/{book.customer_id}"

    first = await _listed(system, path, page=0, size=2)
    second = await _listed(system, path, page=1, size=2)
    beyond = await _listed(system, path, page=2, size=2)

    assert _ids(first) == [book.pending["paymentId"], book.failed["paymentId"]]
    assert _ids(second) == [book.completed["paymentId"]]
    assert _ids(beyond) == []
    assert (first["totalElements"], first["totalPages"], first["size"]) == (3, 2, 2)
    assert (second["page"], second["totalElements"]) == (1, 3)


async def test_a_loans_payments_are_listed_newest_first(system, book):
    one = await _listed(system, f"{PAYMENTS}/loan/{book.loan_one}")
    failed_only = await _listed(system, f"{PAYMENTS}/loan/{book.loan_one}", status="FAILED")
    nothing = await _listed(system, f"{PAYMENTS}/loan/LOAN-WITHOUT-PAYMENTS")

    assert _ids(one) == [book.failed["paymentId"], book.completed["paymentId"]]
    assert {p["loanId"] for p in one["content"]} == {book.loan_one}
    assert _ids(failed_only) == [book.failed["paymentId"]]
    assert (nothing["content"], nothing["totalElements"]) == ([], 0)


async def test_a_customer_without_payments_has_an_empty_list(system, book):
    page = await _listed(system, f"{PAYMENTS}/customer/CUST-WITHOUT-PAYMENTS")

    assert (page["content"], page["totalElements"], page["totalPages"]) == ([], 0, 0)


async def test_a_from_date_after_the_to_date_is_refused(system):
    response = await system.payment.client.get(
        f"{PAYMENTS}/customer/CUST-ANY",
        params={"fromDate": str(TODAY), "toDate": str(TODAY - timedelta(days=1))},
    )

    assert response.status_code == 400, response.text
    assert error(response)["code"] == "VALIDATION_ERROR"
    assert fields(response) == {"fromDate"}


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"status": "LOST"}, "status"),
        ({"size": 101}, "size"),
        ({"size": 0}, "size"),
        ({"page": -1}, "page"),
        ({"fromDate": "yesterday"}, "fromDate"),
    ],
)
async def test_a_bad_list_parameter_is_refused_with_its_name(system, params, field):
    response = await system.payment.client.get(f"{PAYMENTS}/customer/CUST-ANY", params=params)

    assert response.status_code == 400, response.text
    assert fields(response) == {field}
