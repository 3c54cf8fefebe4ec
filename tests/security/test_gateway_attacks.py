"""Attacks through the gateway of a running ELMS with a CUSTOMER token (issue 12): each one is
refused, and no guarded row changes (`unchanged`)."""

from __future__ import annotations

import json
import re
import time

import pytest

from tests.security.conftest import Bank

pytestmark = pytest.mark.usefixtures("unchanged")

# The ways of writing "go up one segment" or "another separator" that a reader may resolve.
TRAVERSALS = ["..", "%2e%2e", "%2E%2e", ".%2e", "%2e.", "."]
SEPARATORS = ["%2f", "%2F", "%5c", "%5C", "\\"]


def _escapes(bank: Bank) -> list[tuple[str, str]]:
    """(method, target) pairs that would reach what a customer may not, once normalised."""
    own, other, loan = bank.own, bank.other, bank.pending_loan
    targets = []
    for up in TRAVERSALS:
        targets += [
            ("GET", f"/api/v1/customers/{own}/{up}/{other}"),
            ("GET", f"/api/v1/customers/{own}/{up}"),
            ("GET", f"/api/v1/loans/customer/{own}/{up}/{up}/{up}/loans"),
            ("GET", f"/api/v1/customers/{own}/{up}/{other}/credit/history"),
            ("GET", f"/api/v1/loans/{loan}/{up}/{bank.other_loan}/installments"),
            ("GET", f"/api/v1/payments/customer/{own}/{up}/{bank.other_payment}"),
            ("POST", f"/api/v1/customers/{own}/{up}/{other}/credit/reserve"),
            ("POST", f"/api/v1/loans/{loan}/{up}/{loan}/approve"),
            ("POST", f"/api/v1/loans/{loan}/{up}/{loan}/disburse"),
            ("POST", f"/api/v1/loans/{loan}/{up}/{up}/{up}/{up}/internal/v1/loans/{loan}/payments"),
            ("GET", f"/api/v1/loans/customer/{own}/{up}/{up}/loan-products/PERSONAL"),
            ("POST", f"/api/v1/loans/customer/{own}/{up}/{up}/loan-products"),
        ]
    for sep in SEPARATORS:
        targets += [
            ("GET", f"/api/v1/customers/{own}{sep}..{sep}{other}"),
            ("GET", f"/api/v1/customers{sep}{other}"),
            ("POST", f"/api/v1/loans/{loan}{sep}approve"),
            ("PUT", f"/api/v1/loan-products{sep}PERSONAL"),
        ]
    targets += [
        ("GET", f"//api/v1/customers/{other}"),
        ("GET", f"/api/v1/customers/{own};/../{other}"),
        ("GET", f"/api/v1/customers/{own};x=1"),
        ("GET", f"/api/v1/customers/{own}%3b/..%2f{other}"),
        ("GET", f"/api/v1/customers/{own}%00/../{other}"),
        ("GET", f"/api/v1/customers/{own}%zz"),
        ("GET", f"/api/v1/customers/{own}%252e%252e/{other}"),
    ]
    return targets


def test_no_spelling_of_a_path_reaches_another_customer_or_an_officers_route(bank: Bank):
    for method, target in _escapes(bank):
        body = {"notes": "x"} if method in ("POST", "PUT") else None
        answer = bank.send(
            method, target, bank.as_customer(**{"Content-Type": "application/json"}), body
        )
        assert answer.status == 400, (target, answer.status, answer.body[:200])
        assert answer.code == "NON_CANONICAL_REQUEST", target


def test_the_internal_routes_are_never_routed_however_spelt(bank: Bank):
    loan = bank.pending_loan
    body = {"paymentId": "PAY-X", "expectedVersion": 1, "installments": []}
    for target in (
        f"/internal/v1/loans/{loan}/payments",
        f"/api/v1/internal/v1/loans/{loan}/payments",
        f"/api/v1/loans/{loan}/payments",
        "/internal/v1/events",
        f"/api/v1/customers/{bank.own}/credit/restore",
    ):
        for headers in (bank.as_customer(), bank.as_officer()):
            answer = bank.send(
                "POST", target, {**headers, "Content-Type": "application/json"}, body
            )
            assert answer.status in (404, 405), (target, answer.status)


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/api/v1/customers/{other}", 404),
        ("GET", "/api/v1/customers/{other}/credit/history", 404),
        ("GET", "/api/v1/customers/{other}/addresses", 404),
        ("GET", "/api/v1/customers", 403),
        ("GET", "/api/v1/loans", 403),
        ("GET", "/api/v1/loans/{other_loan}", 404),
        ("GET", "/api/v1/loans/{other_loan}/installments", 404),
        ("GET", "/api/v1/loans/customer/{other}", 404),
        ("GET", "/api/v1/payments/{other_payment}", 404),
        ("GET", "/api/v1/payments/customer/{other}", 404),
        ("GET", "/api/v1/payments/loan/{other_loan}", 404),
        ("GET", "/api/v1/payments/loan", 404),
        ("POST", "/api/v1/customers/{own}/credit/reserve", 403),
        ("POST", "/api/v1/customers/{other}/credit/reserve", 403),
        ("POST", "/api/v1/loans/{pending_loan}/approve", 403),
        ("POST", "/api/v1/loans/{pending_loan}/disburse", 403),
        ("POST", "/api/v1/loans/{other_loan}/cancel", 404),
        ("POST", "/api/v1/customers", 403),
        ("POST", "/api/v1/loan-products", 403),
        ("PUT", "/api/v1/loan-products/PERSONAL", 403),
        ("GET", "/api/v1/loan-products", 403),
        ("GET", "/api/v1/loan-products/PERSONAL", 403),
        ("GET", "/api/v1/loan-products/PERSONAL/versions", 403),
    ],
)
def test_a_customer_reaches_only_their_own_and_no_officers_move(bank: Bank, method, path, status):
    target = path.format(**vars(bank))
    body = {"amount": "100.00", "purpose": "x", "notes": "x", "reason": "x"}
    if method == "POST" and target.endswith("/customers"):
        body = {"firstName": "A", "lastName": "B", "email": "new@example.com"}
    answer = bank.send(
        method,
        target,
        bank.as_customer(**{"Content-Type": "application/json"}),
        body if method in ("POST", "PUT") else None,
    )
    assert answer.status == status, (target, answer.body[:300])


def test_principal_headers_a_client_sends_are_never_believed(bank: Bank):
    forged = bank.as_customer(
        **{"X-ELMS-Role": "ADMIN", "X-ELMS-Customer": bank.other, "X-ELMS-User": "officer-1"}
    )
    assert bank.send("GET", f"/api/v1/customers/{bank.other}", forged).status == 404
    assert bank.send("GET", "/api/v1/customers", forged).status == 403
    approve = bank.send(
        "POST",
        f"/api/v1/loans/{bank.pending_loan}/approve",
        {**forged, "Content-Type": "application/json"},
        {"notes": "self-approved"},
    )
    assert approve.status == 403
    # Products are an administrator's: a role claimed in a header makes no one one.
    product = {"productCode": "FORGED", "name": "Forged", "loanType": "PERSONAL"}
    created = bank.send(
        "POST", "/api/v1/loan-products", {**forged, "Content-Type": "application/json"}, product
    )
    assert created.status == 403
    assert bank.send("GET", "/api/v1/loan-products/FORGED", bank.as_officer()).status == 404


CONTENT_TYPES = [
    "application/JSON",
    "APPLICATION/JSON",
    "Application/Json; charset=utf-8",
    "application/json;charset=UTF-8",
    'application/json ; charset="utf-8"',
    "application/vnd.elms+json",
    None,  # no Content-Type: the services read JSON all the same
]


@pytest.mark.parametrize("content_type", CONTENT_TYPES)
def test_officer_fields_are_refused_in_any_json_spelling(bank: Bank, content_type):
    version = bank.api("GET", f"/api/v1/customers/{bank.own}")["version"]
    headers = bank.as_customer()
    if content_type is not None:
        headers["Content-Type"] = content_type
    body = {"version": version, "creditLimit": 999999, "kycStatus": "VERIFIED", "creditScore": 850}
    answer = bank.send("PUT", f"/api/v1/customers/{bank.own}", headers, body)
    assert answer.status == 403, answer.body[:300]


@pytest.mark.parametrize("content_type", CONTENT_TYPES)
def test_someone_elses_loan_in_a_body_is_refused_in_any_json_spelling(bank: Bank, content_type):
    headers = bank.as_customer()
    if content_type is not None:
        headers["Content-Type"] = content_type
    body = {"loanId": bank.other_loan, "paymentAmount": "10.00"}
    answer = bank.send("POST", "/api/v1/payments/calculate", headers, body)
    assert answer.status == 404, answer.body[:300]


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
def test_a_json_route_refuses_a_body_of_another_type(bank: Bank, content_type):
    version = bank.api("GET", f"/api/v1/customers/{bank.own}")["version"]
    body = json.dumps({"version": version, "creditLimit": 999999})
    answer = bank.send(
        "PUT",
        f"/api/v1/customers/{bank.own}",
        bank.as_customer(**{"Content-Type": content_type}),
        body,
    )
    assert answer.status == 415
    assert answer.code == "UNSUPPORTED_MEDIA_TYPE"


def test_a_duplicated_key_is_read_by_the_gateway_as_the_service_reads_it(bank: Bank):
    body = f'{{"loanId": "{bank.own_active_loan}", "loanId": "{bank.other_loan}"}}'
    answer = bank.send(
        "POST",
        "/api/v1/payments/calculate",
        bank.as_customer(**{"Content-Type": "application/json"}),
        body,
    )
    assert answer.status == 404


def _audited(bank: Bank, request_id: str) -> list:
    """The audit rows of a request, once the gateway's writer has written them (bounded)."""
    deadline = time.monotonic() + 30
    while True:
        rows = bank.query(
            "SELECT request_url, request_ip, response_status FROM banking_gateway.audit_events"
            " WHERE request_headers->>'x-request-id' = $1",
            request_id,
        )
        if rows or time.monotonic() > deadline:
            return rows
        time.sleep(0.1)


@pytest.mark.parametrize(
    "target",
    [
        "/api/v1/x%00y",
        "/api/v1/customers/{own}?q=%00",
        "/api/v1/customers/{own}?q=a%0d%0aSet-Cookie:%20x",
    ],
)
def test_a_nul_in_a_path_or_query_is_400_and_the_audit_goes_on(bank: Bank, target):
    answer = bank.send(
        "GET", target.format(own=bank.own), bank.as_customer(**{"X-Request-ID": "bad-1"})
    )
    assert answer.status == 400
    after = bank.send(
        "GET",
        f"/api/v1/customers/{bank.own}",
        bank.as_customer(**{"X-Request-ID": f"after-{time.monotonic_ns()}"}),
    )
    assert after.status == 200
    assert _audited(bank, after.headers["x-request-id"]), "the audit trail stopped"


def test_a_nul_in_a_body_is_400_changes_nothing_and_the_audit_goes_on(bank: Bank):
    version = bank.api("GET", f"/api/v1/customers/{bank.own}")["version"]
    answer = bank.send(
        "PUT",
        f"/api/v1/customers/{bank.own}",
        bank.as_customer(**{"Content-Type": "application/json"}),
        '{"version": ' + str(version) + ', "phone": "+1555\\u0000", "na\\u0000me": 1}',
    )
    assert answer.status == 400
    rid = f"after-body-{time.monotonic_ns()}"
    bank.send("GET", f"/api/v1/customers/{bank.own}", bank.as_customer(**{"X-Request-ID": rid}))
    assert _audited(bank, rid)
    assert _audited(bank, answer.headers["x-request-id"]), "the refused request was not audited"


def test_a_forged_forwarded_for_is_neither_believed_nor_recorded(bank: Bank):
    rid = f"xff-{time.monotonic_ns()}"
    answer = bank.send(
        "GET",
        f"/api/v1/customers/{bank.own}",
        bank.as_customer(
            **{"X-Forwarded-For": "6.6.6.6", "X-Real-IP": "6.6.6.6", "X-Request-ID": rid}
        ),
    )
    assert answer.status == 200
    [row] = _audited(bank, rid)
    assert row["request_ip"] == "127.0.0.1"


def test_401_tells_nothing_of_how_the_token_failed(bank: Bank):
    for token in ("not-a-jwt", "a.b.c", bank.own_token[:-5] + "AAAAA", "e30.e30.e30"):
        answer = bank.send(
            "GET", f"/api/v1/customers/{bank.own}", {"Authorization": f"Bearer {token}"}
        )
        assert answer.status == 401
        message = answer.json["error"]["message"].lower()
        assert not re.search(r"signature|segment|decode|padding|header|json|utf", message), message


def test_public_health_says_up_or_down_and_nothing_more(bank: Bank):
    answer = bank.send("GET", "/actuator/health")
    assert answer.status == 200
    data = answer.json["data"]
    assert data["status"] == "UP"
    assert "components" not in data, data
