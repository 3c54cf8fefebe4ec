"""The README's walk-through ("Try it"), run as written against `elms up`: every shell block of
that section, taken from README.md itself, run in one bash, in a directory laid out as the
repository is (`.venv/bin/elms`, `docs/examples/`), so the README cannot drift from what works."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

from tests.support.elms_up import books_balance, elms_up, environment

REPOSITORY = Path(__file__).parents[2]
SECTION = "## Try it"
# A bound on the whole walk-through; it takes a few seconds.
WALKTHROUGH_SECONDS = 300


def walkthrough_blocks(readme: str) -> list[str]:
    """The ```sh blocks of the "Try it" section, in order."""
    section = readme.split(f"\n{SECTION}\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^```sh\n(.*?)^```$", section, flags=re.DOTALL | re.MULTILINE)


def _answers(output: str) -> list[dict[str, Any]]:
    """Every answer the walk-through printed (one JSON document a line), in order."""
    return [
        json.loads(line, parse_float=Decimal)
        for line in output.splitlines()
        if line.startswith("{")
    ]


def _calls(script: str) -> int:
    """How many requests the script sends: a `curl` that is not in a comment."""
    return sum(line.split("#", 1)[0].count("curl ") for line in script.splitlines())


def _by_message(answers: list[dict[str, Any]], message: str) -> list[dict[str, Any]]:
    return [a for a in answers if a["message"] == message]


def test_the_readme_walkthrough_runs_as_written(tmp_path: Path):
    blocks = walkthrough_blocks((REPOSITORY / "README.md").read_text())
    assert blocks, "no ```sh block under the README's Try it"
    script = "\n".join(blocks)
    # The README's commands name `.venv/bin/elms` and `docs/examples/` from the repository's
    # root: the same layout, with the interpreter running these tests.
    workdir = tmp_path / "checkout"
    workdir.mkdir()
    (workdir / ".venv").symlink_to(sys.prefix)
    (workdir / "docs").symlink_to(REPOSITORY / "docs")
    env = environment(tmp_path / "data")

    with elms_up(env):
        ran = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script],
            cwd=workdir,
            env={**env, "PATH": os.environ["PATH"]},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=WALKTHROUGH_SECONDS,
        )
        books_balance(env)
    output = ran.stdout
    assert ran.returncode == 0, output

    answers = _answers(output)
    assert len(answers) == _calls(script), output
    refused = [a["error"]["code"] for a in answers if a["status"] == "ERROR"]
    assert refused == ["VALIDATION_ERROR", "INSUFFICIENT_CREDIT", "FORBIDDEN", "UNAUTHORIZED"], (
        output
    )

    (customer,) = _by_message(answers, "Customer created")
    assert customer["data"]["availableCredit"] == Decimal("25000.00")
    assert customer["data"]["riskLevel"] == "LOW"
    loan, car = _by_message(answers, "Loan application created")
    assert loan["data"]["status"] == "APPROVED"
    assert loan["data"]["installmentAmount"] == Decimal("1066.19")
    assert loan["data"]["productCode"] == "PERSONAL"

    # The second product: created by the administrator, its ranges enforced, a loan under it.
    (product,) = _by_message(answers, "Loan product created")
    assert (product["data"]["productCode"], product["data"]["version"]) == ("AUTO36", 1)
    (outside,) = [
        a for a in answers if a["status"] == "ERROR" and a["error"]["code"] == "VALIDATION_ERROR"
    ]
    assert {d["field"] for d in outside["error"]["details"]} == {"interestRate", "installmentCount"}
    assert (car["data"]["productCode"], car["data"]["productVersion"]) == ("AUTO36", 1)
    assert (car["data"]["status"], car["data"]["installmentCount"]) == ("APPROVED", 36)
    assert car["data"]["installmentAmount"] == Decimal("250.32")
    assert car["data"]["paymentTerms"]["penaltyGraceDays"] == 5
    (document,) = _by_message(answers, "Document uploaded")
    assert document["data"]["mimeType"] == "application/pdf"
    assert document["data"]["documentName"] == "payslip.pdf"

    # The payment the README explains: one whole installment, less its early discount; the
    # rest of the 1100.00 not taken. The day decides the discount, the rule does not change.
    (quote,) = _by_message(answers, "Payment calculated")
    (payment,) = _by_message(answers, "Payment processed")
    paid = payment["data"]
    assert paid["status"] == "COMPLETED"
    assert paid["installmentsPaid"] == 1
    assert paid["paymentAmount"] + paid["unappliedAmount"] == Decimal("1100.00")
    (row,) = paid["installmentPayments"]
    assert paid["paymentAmount"] == Decimal("1066.19") - row["discountApplied"]
    assert quote["data"]["calculation"]["finalAmount"] == paid["paymentAmount"]
    assert quote["data"]["unappliedAmount"] == paid["unappliedAmount"]
    advice = quote["data"]["paymentAdvice"]
    assert advice["savingsOpportunity"] >= row["discountApplied"]
    # The customer's credit after the payment: the principal repaid is available again.
    after = [a for a in _by_message(answers, "Customer") if a["status"] == "SUCCESS"]
    assert after[-1]["data"]["usedCredit"] == Decimal("12000.00") - row["principalPaid"]

    (refusal,) = [
        a for a in answers if a["status"] == "ERROR" and a["error"]["code"] == "INSUFFICIENT_CREDIT"
    ]
    assert refusal["error"]["sagaStatus"] == "COMPENSATED"
    (history,) = _by_message(answers, "Saga history")
    assert [s["sagaId"] for s in history["data"]["content"]] == [refusal["error"]["sagaId"]]
