"""The books of all four services read together (as an administrator, across the schemas) and
checked against the invariants of architecture.md §4. Each check returns the violations it
finds, with the ids involved; an empty list means the books balance.

(Issue 7's `elms reconcile` is the operator's version of this; these are the checks the saga
tests need.)"""

from __future__ import annotations

from decimal import Decimal

import asyncpg

ZERO = Decimal("0.00")


async def violations(admin_url: str, *, outbox_delivered: bool = True) -> list[str]:
    """Every invariant that does not hold. With `outbox_delivered`, the loan service's events
    are taken to have reached the customer service, so used credit must match the loans."""
    conn = await asyncpg.connect(admin_url)
    try:
        found = [
            *await _credit(conn),
            *await _reservations(conn),
            *await _loans(conn),
            *await _payments(conn),
            *await _restores(conn),
            *await _sagas(conn),
        ]
        if outbox_delivered:
            found += await _used_credit(conn)
        return found
    finally:
        await conn.close()


async def _credit(conn: asyncpg.Connection) -> list[str]:
    rows = await conn.fetch(
        """SELECT c.customer_id, c.credit_limit, c.used_credit, c.available_credit,
                  COALESCE((SELECT sum(reserved_amount) FROM customer_db.credit_reservations r
                            WHERE r.customer_id = c.customer_id AND r.status = 'ACTIVE'), 0)
                      AS reserved,
                  (SELECT new_available_credit FROM customer_db.credit_history h
                   WHERE h.customer_id = c.customer_id ORDER BY history_id DESC LIMIT 1)
                      AS last_available
           FROM customer_db.customers c"""
    )
    found = []
    for r in rows:
        expected = r["credit_limit"] - r["used_credit"] - r["reserved"]
        if r["available_credit"] != expected or min(r["available_credit"], r["used_credit"]) < 0:
            found.append(
                f"customer {r['customer_id']}: available {r['available_credit']} is not"
                f" limit {r['credit_limit']} - used {r['used_credit']} - reserved {r['reserved']}"
            )
        if r["last_available"] is not None and r["last_available"] != r["available_credit"]:
            found.append(
                f"customer {r['customer_id']}: credit history ends at {r['last_available']},"
                f" not {r['available_credit']}"
            )
    return found


async def _reservations(conn: asyncpg.Connection) -> list[str]:
    """No application holds (or has used) credit twice; one reserved and given back is fine."""
    rows = await conn.fetch(
        """SELECT loan_application_id, count(*) AS n FROM customer_db.credit_reservations
           WHERE loan_application_id IS NOT NULL AND status IN ('ACTIVE', 'USED')
           GROUP BY loan_application_id HAVING count(*) > 1"""
    )
    return [f"application {r['loan_application_id']}: credit held {r['n']} times" for r in rows]


async def _loans(conn: asyncpg.Connection) -> list[str]:
    rows = await conn.fetch(
        """SELECT l.loan_id, l.loan_amount, l.outstanding_amount, l.total_repayment_amount,
                  l.installment_count,
                  (SELECT count(*) FROM loan_db.loan_installments i WHERE i.loan_id = l.loan_id)
                      AS installments,
                  (SELECT sum(principal_amount) FROM loan_db.loan_installments i
                   WHERE i.loan_id = l.loan_id) AS principal,
                  (SELECT sum(total_amount) FROM loan_db.loan_installments i
                   WHERE i.loan_id = l.loan_id) AS total,
                  COALESCE((SELECT sum(principal_paid) FROM loan_db.loan_payment_applications a
                            WHERE a.loan_id = l.loan_id), 0) AS repaid
           FROM loan_db.loans l"""
    )
    found = []
    for r in rows:
        if (r["installments"], r["principal"], r["total"]) != (
            r["installment_count"],
            r["loan_amount"],
            r["total_repayment_amount"],
        ):
            found.append(f"loan {r['loan_id']}: schedule does not add up to its totals")
        if r["outstanding_amount"] != r["loan_amount"] - r["repaid"]:
            found.append(
                f"loan {r['loan_id']}: outstanding {r['outstanding_amount']} is not"
                f" {r['loan_amount']} - repaid {r['repaid']}"
            )
    return found


async def _payments(conn: asyncpg.Connection) -> list[str]:
    found = []
    payments = await conn.fetch(
        """SELECT p.payment_id, p.status, p.payment_amount,
                  COALESCE((SELECT sum(paid_amount) FROM payment_db.payment_installments i
                            WHERE i.payment_id = p.payment_id), 0) AS rows_paid,
                  (SELECT count(*) FROM loan_db.loan_payment_applications a
                   WHERE a.payment_id = p.payment_id) AS applied
           FROM payment_db.payments p"""
    )
    for p in payments:
        if p["rows_paid"] != p["payment_amount"]:
            found.append(f"payment {p['payment_id']}: its installment rows do not add up")
        expected = 1 if p["status"] == "COMPLETED" else 0
        if p["applied"] != expected:
            found.append(f"payment {p['payment_id']} ({p['status']}) applied {p['applied']} times")
    # Each installment carries exactly what the completed payments paid on it.
    mismatched = await conn.fetch(
        """SELECT i.loan_id, i.installment_number, i.paid_amount,
                  COALESCE(sum(pi.paid_amount), 0) AS paid_by_payments
           FROM loan_db.loan_installments i
           LEFT JOIN payment_db.payments p
                  ON p.loan_id = i.loan_id AND p.status = 'COMPLETED'
           LEFT JOIN payment_db.payment_installments pi
                  ON pi.payment_id = p.payment_id
                 AND pi.installment_number = i.installment_number
           GROUP BY i.loan_id, i.installment_number, i.paid_amount
           HAVING i.paid_amount <> COALESCE(sum(pi.paid_amount), 0)"""
    )
    found += [
        f"loan {r['loan_id']} installment {r['installment_number']}: paid {r['paid_amount']},"
        f" completed payments paid {r['paid_by_payments']}"
        for r in mismatched
    ]
    applied_elsewhere = await conn.fetch(
        """SELECT a.payment_id FROM loan_db.loan_payment_applications a
           LEFT JOIN payment_db.payments p USING (payment_id)
           WHERE p.payment_id IS NULL OR p.status <> 'COMPLETED'"""
    )
    found += [
        f"loan applied payment {r['payment_id']}, which did not complete" for r in applied_elsewhere
    ]
    return found


async def _restores(conn: asyncpg.Connection) -> list[str]:
    """Each completed payment's principal went back to the customer's credit once."""
    rows = await conn.fetch(
        """SELECT p.payment_id, p.status,
                  COALESCE((SELECT sum(principal_paid) FROM payment_db.payment_installments i
                            WHERE i.payment_id = p.payment_id), 0) AS principal,
                  (SELECT count(*) FROM customer_db.credit_history h
                   WHERE h.reference_id = p.payment_id AND h.transaction_type = 'CREDIT_RESTORED')
                      AS restores,
                  (SELECT sum(amount) FROM customer_db.credit_history h
                   WHERE h.reference_id = p.payment_id AND h.transaction_type = 'CREDIT_RESTORED')
                      AS restored
           FROM payment_db.payments p"""
    )
    found = []
    for r in rows:
        owed = r["status"] == "COMPLETED" and r["principal"] > 0
        if (r["restores"], r["restored"]) != ((1, r["principal"]) if owed else (0, None)):
            found.append(
                f"payment {r['payment_id']} ({r['status']}): principal {r['principal']},"
                f" restored {r['restored']} in {r['restores']} movements"
            )
    return found


async def _sagas(conn: asyncpg.Connection) -> list[str]:
    rows = await conn.fetch(
        """SELECT saga_id, status, current_step FROM banking_gateway.saga_states
           WHERE status IN ('STARTED', 'IN_PROGRESS', 'COMPENSATING', 'FAILED')"""
    )
    return [f"saga {r['saga_id']} is {r['status']} at {r['current_step']}" for r in rows]


async def _used_credit(conn: asyncpg.Connection) -> list[str]:
    """Used credit is what the customer's approved loans still owe in principal."""
    rows = await conn.fetch(
        """SELECT c.customer_id, c.used_credit,
                  COALESCE((SELECT sum(outstanding_amount) FROM loan_db.loans l
                            WHERE l.customer_id = c.customer_id
                              AND l.status IN ('APPROVED', 'ACTIVE', 'PAID_OFF')), 0) AS owed
           FROM customer_db.customers c"""
    )
    return [
        f"customer {r['customer_id']}: used credit {r['used_credit']}, loans owe {r['owed']}"
        for r in rows
        if r["used_credit"] != r["owed"]
    ]
