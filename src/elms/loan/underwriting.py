"""The automatic underwriting decision (api.md §3 "Underwriting"), pure.

A loan is approved automatically when every check passes; otherwise it waits for an officer.
Each check is kept with its value and threshold, so the decision explains itself."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal

from elms.core.money import CENT

MONTHS_PER_YEAR = 12


@dataclass(frozen=True)
class Policy:
    min_credit_score: int = 700
    # The installment may take at most this share of the monthly income.
    max_installment_to_income: Decimal = Decimal("0.40")
    allowed_risk_levels: tuple[str, ...] = ("LOW", "MEDIUM")


@dataclass(frozen=True)
class Applicant:
    kyc_status: str
    credit_score: int | None
    risk_level: str
    annual_income: Decimal | None


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    value: object
    threshold: object

    def as_dict(self) -> dict[str, object]:
        return {
            "check": self.name,
            "passed": self.passed,
            "value": self.value,
            "threshold": self.threshold,
        }


@dataclass(frozen=True)
class Decision:
    approved: bool
    checks: tuple[Check, ...]

    @property
    def reasons(self) -> list[str]:
        failed = [c for c in self.checks if not c.passed]
        if not failed:
            return ["All automatic underwriting checks passed"]
        return [f"{c.name}: {c.value} (needs {c.threshold})" for c in failed]


def decide(applicant: Applicant, installment: Decimal, policy: Policy) -> Decision:
    income, share = applicant.annual_income, policy.max_installment_to_income
    # Compared exactly, installment × 12 ≤ share × annual income: rounding the monthly income or
    # the limit to the cent (api.md §1 names no rounding here) could let through an installment
    # a fraction of a cent above the share. The limit shown is the largest installment that fits.
    fits, limit = False, None
    if income:
        fits = installment * MONTHS_PER_YEAR <= share * income
        limit = (share * income / MONTHS_PER_YEAR).quantize(CENT, ROUND_DOWN)
    score = applicant.credit_score
    checks = (
        Check("KYC_VERIFIED", applicant.kyc_status == "VERIFIED", applicant.kyc_status, "VERIFIED"),
        Check(
            "CREDIT_SCORE",
            score is not None and score >= policy.min_credit_score,
            score,
            f">= {policy.min_credit_score}",
        ),
        Check(
            "RISK_LEVEL",
            applicant.risk_level in policy.allowed_risk_levels,
            applicant.risk_level,
            f"one of {', '.join(policy.allowed_risk_levels)}",
        ),
        Check(
            "INSTALLMENT_TO_INCOME",
            fits,
            installment,
            f"<= {limit}" if limit is not None else "a known income",
        ),
    )
    return Decision(all(c.passed for c in checks), checks)
