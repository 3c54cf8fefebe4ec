from decimal import Decimal

import pytest

from elms.loan.underwriting import Applicant, Policy, decide

GOOD = Applicant("VERIFIED", 760, "LOW", Decimal("120000.00"))


def test_a_verified_low_risk_applicant_with_room_in_income_is_approved_automatically():
    decision = decide(GOOD, Decimal("4000.00"), Policy())
    assert decision.approved
    assert decision.reasons == ["All automatic underwriting checks passed"]


@pytest.mark.parametrize(
    ("applicant", "installment", "failed"),
    [
        (Applicant("PENDING", 760, "LOW", Decimal("120000")), "100.00", "KYC_VERIFIED"),
        (Applicant("VERIFIED", 699, "MEDIUM", Decimal("120000")), "100.00", "CREDIT_SCORE"),
        (Applicant("VERIFIED", None, "LOW", Decimal("120000")), "100.00", "CREDIT_SCORE"),
        (Applicant("VERIFIED", 760, "HIGH", Decimal("120000")), "100.00", "RISK_LEVEL"),
        (GOOD, "4000.01", "INSTALLMENT_TO_INCOME"),
        (Applicant("VERIFIED", 760, "LOW", None), "1.00", "INSTALLMENT_TO_INCOME"),
    ],
)
def test_each_failed_check_sends_the_loan_to_an_officer_and_is_named(
    applicant, installment, failed
):
    decision = decide(applicant, Decimal(installment), Policy())
    assert not decision.approved
    assert [c.name for c in decision.checks if not c.passed] == [failed]
    assert decision.reasons[0].startswith(failed)


def test_thresholds_come_from_the_policy():
    strict = Policy(min_credit_score=800, max_installment_to_income=Decimal("0.10"))
    decision = decide(GOOD, Decimal("1000.01"), strict)
    assert {c.name for c in decision.checks if not c.passed} == {
        "CREDIT_SCORE",
        "INSTALLMENT_TO_INCOME",
    }
