"""The payment service's reading of a loan (elms.payment.service), pure."""

from __future__ import annotations

from datetime import date

from elms.payment.service import _earliest


def test_a_payment_is_never_dated_before_the_loans_last_change():
    """Disbursement, the last payment applied, or a penalty frozen later (a waiver): dated
    before that, a payment would price days whose penalty is already settled."""
    loan = {
        "disbursementDate": "2025-01-20T00:00:00.000Z",
        "paymentHistory": {"lastPaymentDate": "2025-03-01T00:00:00.000Z"},
        "installments": [
            {"penaltyFrozenOn": "2025-03-01"},
            {"penaltyFrozenOn": "2025-04-15"},
            {"penaltyFrozenOn": None},
        ],
    }
    assert _earliest(loan) == date(2025, 4, 15)
    assert _earliest({**loan, "installments": []}) == date(2025, 3, 1)
    assert _earliest({"disbursementDate": None, "installments": []}) is None
