"""What the gateway lets through, done safely: bank details masked wherever they are kept or
shown, and one user's Idempotency-Key never answering another user's request."""

from __future__ import annotations

import re

import httpx

from tests.security.conftest import Bank, pay
from tests.support.elms_up import token

BANK_DETAILS = {
    "bankName": "First Bank 12",
    "pan": "4111111111111111",
    "bban": "NWBK60161331926819",
    "acctNo": "00012345678",
    "sortCode": "60-16-13",
    "iban": "GB29 NWBK 6016 1331 9268 19",
    "accountNo": 12345678.9,
    "nested": {"routing": [21000021]},
}
# Every digit run the details hold, six digits or more, once separators are dropped.
SECRETS = ["4111111111111111", "60161331926819", "00012345678", "601613", "123456789", "21000021"]


def _no_secret_in(where: str, text: str) -> None:
    compact = re.sub(r"[ .\-]", "", text)  # "6016 1331", "60-16-13" and "12345678.9" too
    for secret in SECRETS:
        assert secret not in compact, (where, secret)


def test_bank_details_are_masked_in_the_answer_the_payment_the_saga_and_the_audit(bank: Bank):
    paid = pay(bank, bank.own_active_loan, bank.as_customer(), "own-masked", BANK_DETAILS)
    _no_secret_in("answer", str(paid))
    payment = bank.api("GET", f"/api/v1/payments/{paid['paymentId']}")
    _no_secret_in("payment as read", str(payment))
    stored = bank.query(
        "SELECT bank_details::text FROM payment_db.payments WHERE payment_id = $1",
        paid["paymentId"],
    )
    _no_secret_in("payments", stored[0][0])
    sagas = bank.query(
        "SELECT saga_data::text FROM banking_gateway.saga_states WHERE saga_id = $1",
        paid["sagaId"],
    )
    _no_secret_in("saga_states", sagas[0][0])
    audited = bank.query(
        "SELECT coalesce(request_body::text, '') || coalesce(response_body::text, '')"
        " FROM banking_gateway.audit_events WHERE request_url LIKE '/api/v1/payments%'"
    )
    assert audited
    for row in audited:
        _no_secret_in("audit_events", row[0])
    # What may stay visible stays: the bank's name, and each number's last four digits.
    assert stored[0][0].count("First Bank 12") == 1
    assert "1111" in stored[0][0] and "6819" in stored[0][0]


def test_one_users_idempotency_key_neither_replays_for_nor_refuses_another_user(bank: Bank):
    other_officer = token(bank.env, "--sub", "officer-2", "--role", "LOAN_OFFICER")
    body = {
        "street": "1 Key St",
        "city": "Keyton",
        "state": "KY",
        "zipCode": "10001",
        "country": "USA",
    }
    first = bank.api("POST", f"/api/v1/customers/{bank.other}/addresses", body, 201, key="shared")
    # The same key and body from another user: a request of its own, not the first one again.
    again = httpx.post(
        f"http://127.0.0.1:{bank.port}/api/v1/customers/{bank.other}/addresses",
        json=body,
        headers={"Authorization": f"Bearer {other_officer}", "Idempotency-Key": "shared"},
    )
    assert again.status_code == 201, again.text
    assert "idempotent-replayed" not in again.headers
    assert again.json()["data"]["addressId"] != first["addressId"]
    # The same key with another body from another user: not "already used".
    changed = httpx.post(
        f"http://127.0.0.1:{bank.port}/api/v1/customers/{bank.other}/addresses",
        json={**body, "street": "2 Key St"},
        headers={"Authorization": f"Bearer {other_officer}", "Idempotency-Key": "shared-2"},
    )
    assert changed.status_code == 201
    reused = httpx.post(
        f"http://127.0.0.1:{bank.port}/api/v1/customers/{bank.other}/addresses",
        json={**body, "street": "3 Key St"},
        headers={"Authorization": f"Bearer {bank.officer}", "Idempotency-Key": "shared-2"},
    )
    assert reused.status_code == 201, reused.text
