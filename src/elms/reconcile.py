"""`elms reconcile`: the books of all four services read together and checked against the
invariants of architecture.md §4.

It connects as the cluster's administrator (the URL `elms up` uses, or `ELMS_DATABASE_URL`), the
one role that may read every schema, and runs one query per invariant. Each query counts what it
checked and returns every violation with the ids involved; the arithmetic is PostgreSQL's
NUMERIC, exact to the cent. Run it on a quiet system: a saga or an outbox event in flight is a
moment when the books are legitimately apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import asyncpg

# Outbox events still PENDING after this long are stuck (the relay's backoff tops out at 5 min).
STUCK_AFTER_MINUTES = 10


@dataclass(frozen=True)
class Invariant:
    name: str
    rule: str
    # How many things the rule was checked on.
    population: str
    # One row per violation: `subject` (what, with its id) and `detail` (the numbers).
    violations: str
    # The settings the violations query takes, as $1, $2, … (Limits).
    params: tuple[str, ...] = ()


@dataclass(frozen=True)
class Limits:
    """The settings some invariants depend on (the deployment's)."""

    non_performing_days: int = 90


@dataclass(frozen=True)
class Violation:
    invariant: str
    subject: str
    detail: str


@dataclass
class Report:
    checked: dict[str, int] = field(default_factory=dict)
    violations: list[Violation] = field(default_factory=list)

    @property
    def balanced(self) -> bool:
        return not self.violations

    def wire(self) -> dict[str, Any]:
        return {
            "balanced": self.balanced,
            "checked": self.checked,
            "violations": [
                {"invariant": v.invariant, "subject": v.subject, "detail": v.detail}
                for v in self.violations
            ],
        }


_RESERVED = """COALESCE((SELECT sum(r.reserved_amount) FROM customer_db.credit_reservations r
                   WHERE r.customer_id = c.customer_id AND r.status = 'ACTIVE'), 0)"""
_REPAID = """COALESCE((SELECT sum(a.principal_paid) FROM loan_db.loan_payment_applications a
                 WHERE a.loan_id = l.loan_id), 0)"""
_SCHEDULE = """(SELECT count(*) AS n, COALESCE(sum(principal_amount), 0) AS principal,
                       COALESCE(sum(total_amount), 0) AS total,
                       count(*) FILTER (WHERE status = 'PAID') AS paid
                FROM loan_db.loan_installments i WHERE i.loan_id = l.loan_id)"""
_RESTORED = """(SELECT count(*) AS n, COALESCE(sum(h.amount), 0) AS amount
                FROM customer_db.credit_history h
                WHERE h.reference_id = p.payment_id AND h.transaction_type = 'CREDIT_RESTORED')"""
_PRINCIPAL = """COALESCE((SELECT sum(i.principal_paid) FROM payment_db.payment_installments i
                    WHERE i.payment_id = p.payment_id), 0)"""

INVARIANTS = (
    Invariant(
        "customer.credit",
        "available credit = credit limit − used credit − active reservations, none negative",
        "SELECT count(*) FROM customer_db.customers",
        f"""SELECT 'customer ' || c.customer_id AS subject,
                   format('available %s, but limit %s − used %s − reserved %s = %s',
                          c.available_credit, c.credit_limit, c.used_credit, {_RESERVED},
                          c.credit_limit - c.used_credit - {_RESERVED}) AS detail
            FROM customer_db.customers c
            WHERE c.available_credit <> c.credit_limit - c.used_credit - {_RESERVED}
               OR c.available_credit < 0 OR c.used_credit < 0""",
    ),
    Invariant(
        "customer.credit_history",
        "the credit history's last newAvailableCredit is the customer's available credit",
        "SELECT count(*) FROM customer_db.customers",
        """SELECT 'customer ' || c.customer_id AS subject,
                  format('available %s, history ends at %s', c.available_credit, h.last)
           FROM customer_db.customers c
           CROSS JOIN LATERAL (SELECT new_available_credit AS last FROM customer_db.credit_history
                               WHERE customer_id = c.customer_id
                               ORDER BY history_id DESC LIMIT 1) h
           WHERE h.last IS DISTINCT FROM c.available_credit""",
    ),
    Invariant(
        "customer.used_credit",
        "used credit = what the customer's approved loans still owe in principal",
        "SELECT count(*) FROM customer_db.customers",
        """SELECT 'customer ' || c.customer_id AS subject,
                  format('used %s, loans owe %s', c.used_credit, o.owed)
           FROM customer_db.customers c
           CROSS JOIN LATERAL (SELECT COALESCE(sum(outstanding_amount), 0) AS owed
                               FROM loan_db.loans l WHERE l.customer_id = c.customer_id
                                 AND l.status IN ('APPROVED', 'ACTIVE', 'PAID_OFF')) o
           WHERE c.used_credit <> o.owed""",
    ),
    Invariant(
        "credit.reservation",
        "no loan application holds (or has used) credit twice",
        """SELECT count(DISTINCT loan_application_id) FROM customer_db.credit_reservations
           WHERE loan_application_id IS NOT NULL""",
        """SELECT 'application ' || loan_application_id AS subject,
                  format('%s reservations held or used: %s', count(*),
                         string_agg(reservation_id, ', ' ORDER BY reservation_id))
           FROM customer_db.credit_reservations
           WHERE loan_application_id IS NOT NULL AND status IN ('ACTIVE', 'USED')
           GROUP BY loan_application_id HAVING count(*) > 1""",
    ),
    Invariant(
        "loan.outstanding",
        "outstanding amount = loan amount − principal repaid",
        "SELECT count(*) FROM loan_db.loans",
        f"""SELECT 'loan ' || l.loan_id AS subject,
                   format('outstanding %s, but %s − repaid %s = %s', l.outstanding_amount,
                          l.loan_amount, {_REPAID}, l.loan_amount - {_REPAID}) AS detail
            FROM loan_db.loans l
            WHERE l.outstanding_amount <> l.loan_amount - {_REPAID}""",
    ),
    Invariant(
        "loan.schedule_principal",
        "the installments' principal adds up to the loan amount, one per installment",
        "SELECT count(*) FROM loan_db.loans",
        f"""SELECT 'loan ' || l.loan_id AS subject,
                   format('%s installments of %s, principal %s of %s', s.n, l.installment_count,
                          s.principal, l.loan_amount) AS detail
            FROM loan_db.loans l CROSS JOIN LATERAL {_SCHEDULE} s
            WHERE s.n <> l.installment_count OR s.principal <> l.loan_amount""",
    ),
    Invariant(
        "loan.schedule_total",
        "the installments' totals add up to the total repayment",
        "SELECT count(*) FROM loan_db.loans",
        f"""SELECT 'loan ' || l.loan_id AS subject,
                   format('installments total %s, total repayment %s', s.total,
                          l.total_repayment_amount) AS detail
            FROM loan_db.loans l CROSS JOIN LATERAL {_SCHEDULE} s
            WHERE s.total <> l.total_repayment_amount""",
    ),
    Invariant(
        "loan.product",
        "a loan's product version exists, and its amount, rate, count and method are within it",
        "SELECT count(*) FROM loan_db.loans",
        """SELECT 'loan ' || l.loan_id AS subject,
                  CASE WHEN v.product_code IS NULL
                       THEN format('product %s version %s does not exist', l.product_code,
                                   l.product_version)
                       ELSE format('%s loan of %s at %s, %s installments %s: outside %s version %s',
                                   l.loan_type, l.loan_amount, l.interest_rate,
                                   l.installment_count, l.interest_method, v.product_code,
                                   v.version)
                  END AS detail
           FROM loan_db.loans l
           LEFT JOIN loan_db.loan_product_versions v
                  ON v.product_code = l.product_code AND v.version = l.product_version
           WHERE v.product_code IS NULL
              OR l.loan_type <> v.loan_type
              OR l.loan_amount NOT BETWEEN v.min_amount AND v.max_amount
              OR l.interest_rate NOT BETWEEN v.min_rate AND v.max_rate
              OR NOT l.installment_count = ANY (v.installment_counts)
              OR NOT l.interest_method = ANY (v.interest_methods)""",
    ),
    Invariant(
        "loan.status",
        "a PAID_OFF loan owes nothing and has every installment paid; an ACTIVE one still owes",
        "SELECT count(*) FROM loan_db.loans",
        f"""SELECT 'loan ' || l.loan_id AS subject,
                   format('%s with outstanding %s and %s of %s installments paid', l.status,
                          l.outstanding_amount, s.paid, s.n) AS detail
            FROM loan_db.loans l CROSS JOIN LATERAL {_SCHEDULE} s
            WHERE (l.status = 'PAID_OFF' AND (l.outstanding_amount <> 0 OR s.paid < s.n))
               OR (l.status = 'ACTIVE' AND (l.outstanding_amount = 0 OR s.paid = s.n))""",
    ),
    Invariant(
        "installment.status",
        "an installment is PAID when nothing remains (principal, interest, penalty) and only"
        " then; one never paid is unpaid",
        "SELECT count(*) FROM loan_db.loan_installments",
        """SELECT format('loan %s installment %s', loan_id, installment_number) AS subject,
                  format('%s with %s remaining of %s and %s penalty frozen, %s paid', status,
                         COALESCE(remaining_amount, total_amount), total_amount,
                         penalty_outstanding, paid_amount)
           FROM loan_db.loan_installments
           WHERE (status = 'PAID')
                 <> (COALESCE(remaining_amount, total_amount) = 0 AND penalty_outstanding = 0)
              OR (status = 'PARTIALLY_PAID' AND paid_amount = 0 AND penalty_waived = 0)
              OR (status = 'PENDING'
                  AND COALESCE(remaining_amount, total_amount) <> total_amount)""",
    ),
    Invariant(
        "installment.penalty",
        "penalty balances are never negative, are dated when owed, and within the product's cap",
        "SELECT count(*) FROM loan_db.loan_installments",
        """SELECT format('loan %s installment %s', i.loan_id, i.installment_number) AS subject,
                  format('penalty frozen %s on %s, paid %s, waived %s, cap %s',
                         i.penalty_outstanding, COALESCE(i.penalty_frozen_on::text, 'no date'),
                         i.penalty_applied, i.penalty_waived,
                         COALESCE(round(i.total_amount * v.penalty_cap_ratio, 2)::text, 'none'))
           FROM loan_db.loan_installments i
           JOIN loan_db.loans l ON l.loan_id = i.loan_id
           JOIN loan_db.loan_product_versions v
             ON v.product_code = l.product_code AND v.version = l.product_version
           WHERE i.penalty_outstanding < 0 OR i.penalty_waived < 0 OR i.penalty_applied < 0
              OR (i.penalty_outstanding > 0 AND i.penalty_frozen_on IS NULL)
              OR i.penalty_outstanding + i.penalty_applied + i.penalty_waived
                 > round(i.total_amount * v.penalty_cap_ratio, 2)""",
    ),
    Invariant(
        "loan.oldest_unpaid",
        "a loan's oldest unpaid due date (what its days past due count from) is its installments'",
        "SELECT count(*) FROM loan_db.loans",
        """SELECT 'loan ' || l.loan_id AS subject,
                  format('oldest unpaid due date %s, installments say %s',
                         COALESCE(l.oldest_unpaid_due_date::text, 'none'),
                         COALESCE(u.oldest::text, 'none'))
           FROM loan_db.loans l
           CROSS JOIN LATERAL (SELECT min(due_date) AS oldest FROM loan_db.loan_installments
                               WHERE loan_id = l.loan_id AND status <> 'PAID') u
           WHERE l.oldest_unpaid_due_date IS DISTINCT FROM u.oldest""",
    ),
    Invariant(
        "loan.delinquency",
        "an active loan's bucket and non-performing flag are its days past due's on the last"
        " closed business date (loans changed since that close began excepted)",
        """SELECT count(*) FROM loan_db.loans
           WHERE status = 'ACTIVE' AND EXISTS (SELECT 1 FROM loan_db.cob_runs
                                               WHERE status = 'COMPLETED')""",
        """WITH closed AS (SELECT business_date, started_at FROM loan_db.cob_runs
                           WHERE status = 'COMPLETED' ORDER BY business_date DESC LIMIT 1)
           SELECT 'loan ' || l.loan_id AS subject,
                  format('%s (non-performing %s), but %s days past due on %s: %s (%s)',
                         l.delinquency_bucket, l.non_performing, d.dpd, c.business_date,
                         b.name, d.dpd > $1)
           FROM loan_db.loans l
           CROSS JOIN closed c
           JOIN loan_db.loan_product_versions v
             ON v.product_code = l.product_code AND v.version = l.product_version
           CROSS JOIN LATERAL (
               SELECT CASE WHEN l.oldest_unpaid_due_date < c.business_date
                           THEN c.business_date - l.oldest_unpaid_due_date ELSE 0 END AS dpd) d
           CROSS JOIN LATERAL (
               SELECT x->>'name' AS name FROM jsonb_array_elements(v.delinquency_buckets) x
               WHERE (x->>'minDays')::int <= d.dpd
               ORDER BY (x->>'minDays')::int DESC LIMIT 1) b
           WHERE l.status = 'ACTIVE' AND l.updated_at < c.started_at
             -- moved by a close still running (or cut short) for a later day: judged then
             AND (l.delinquency_as_of IS NULL OR l.delinquency_as_of <= c.business_date)
             AND (l.delinquency_bucket <> b.name OR l.non_performing <> (d.dpd > $1)
                  OR l.in_arrears
                     <> (d.dpd > $1 OR (v.delinquency_buckets->0->>'name') <> b.name))""",
        params=("non_performing_days",),
    ),
    Invariant(
        "payment.rows",
        "a payment's installment rows add up to its amount",
        "SELECT count(*) FROM payment_db.payments",
        """SELECT 'payment ' || p.payment_id AS subject,
                  format('amount %s, rows pay %s', p.payment_amount, r.paid)
           FROM payment_db.payments p
           CROSS JOIN LATERAL (SELECT COALESCE(sum(paid_amount), 0) AS paid
                               FROM payment_db.payment_installments
                               WHERE payment_id = p.payment_id) r
           WHERE r.paid <> p.payment_amount""",
    ),
    Invariant(
        "payment.applied_once",
        "every completed payment is applied to its loan exactly once; no other payment is",
        "SELECT count(*) FROM payment_db.payments",
        """SELECT 'payment ' || p.payment_id AS subject,
                  format('%s, applied to its loan %s times', p.status, a.n)
           FROM payment_db.payments p
           CROSS JOIN LATERAL (SELECT count(*) AS n FROM loan_db.loan_payment_applications
                               WHERE payment_id = p.payment_id AND loan_id = p.loan_id) a
           WHERE a.n <> CASE WHEN p.status = 'COMPLETED' THEN 1 ELSE 0 END
           UNION ALL
           SELECT 'payment ' || a.payment_id, 'applied to loan ' || a.loan_id
                  || ', but the payment service has no such payment'
           FROM loan_db.loan_payment_applications a
           WHERE NOT EXISTS (SELECT 1 FROM payment_db.payments p
                             WHERE p.payment_id = a.payment_id)""",
    ),
    Invariant(
        "payment.installments",
        "each installment carries exactly what the completed payments paid on it, and the"
        " interest their payoffs waived",
        "SELECT count(*) FROM loan_db.loan_installments",
        """SELECT format('loan %s installment %s', i.loan_id, i.installment_number) AS subject,
                  format('paid %s and %s interest waived, completed payments paid %s and waived %s',
                         i.paid_amount, i.interest_waived, c.paid, c.waived)
           FROM loan_db.loan_installments i
           CROSS JOIN LATERAL (
               SELECT COALESCE(sum(pi.paid_amount), 0) AS paid,
                      COALESCE(sum(pi.interest_waived), 0) AS waived
               FROM payment_db.payments p
               JOIN payment_db.payment_installments pi ON pi.payment_id = p.payment_id
               WHERE p.loan_id = i.loan_id AND p.status = 'COMPLETED'
                 AND pi.installment_number = i.installment_number) c
           WHERE i.paid_amount <> c.paid OR i.interest_waived <> c.waived""",
    ),
    Invariant(
        "payment.credit_restored",
        "a completed payment's principal went back to the customer's credit once; no other did",
        "SELECT count(*) FROM payment_db.payments",
        f"""SELECT 'payment ' || p.payment_id AS subject,
                   format('%s with principal %s, restored %s in %s movements', p.status,
                          {_PRINCIPAL}, r.amount, r.n) AS detail
            FROM payment_db.payments p CROSS JOIN LATERAL {_RESTORED} r
            WHERE (p.status = 'COMPLETED' AND {_PRINCIPAL} > 0
                   AND (r.n <> 1 OR r.amount <> {_PRINCIPAL}))
               OR ((p.status <> 'COMPLETED' OR {_PRINCIPAL} = 0) AND r.n <> 0)""",
    ),
    Invariant(
        "saga.finished",
        "no saga is left running past its timeout, nor stopped FAILED for an operator",
        "SELECT count(*) FROM banking_gateway.saga_states",
        """SELECT 'saga ' || saga_id AS subject,
                  format('%s %s at %s, timeout %s', saga_type, status, current_step, timeout_at)
           FROM banking_gateway.saga_states
           WHERE status = 'FAILED'
              OR (status IN ('STARTED', 'IN_PROGRESS', 'COMPENSATING')
                  AND timeout_at < (now() AT TIME ZONE 'UTC'))""",
    ),
    Invariant(
        "outbox.delivered",
        f"no outbox event FAILED, or PENDING for more than {STUCK_AFTER_MINUTES} minutes",
        """SELECT (SELECT count(*) FROM customer_db.data_sync_events)
                + (SELECT count(*) FROM loan_db.data_sync_events)
                + (SELECT count(*) FROM payment_db.data_sync_events)
                + (SELECT count(*) FROM banking_gateway.data_sync_events)""",
        f"""SELECT format('%s event %s', source, event_id) AS subject,
                   format('%s %s of %s %s, %s attempts: %s', status, event_type, entity_type,
                          entity_id, retry_count, COALESCE(error_message, 'not delivered yet'))
            FROM (SELECT 'customer' AS source, * FROM customer_db.data_sync_events
                  UNION ALL SELECT 'loan', * FROM loan_db.data_sync_events
                  UNION ALL SELECT 'payment', * FROM payment_db.data_sync_events
                  UNION ALL SELECT 'gateway', * FROM banking_gateway.data_sync_events) e
            WHERE status = 'FAILED'
               OR (status = 'PENDING' AND created_at
                   < (now() AT TIME ZONE 'UTC') - interval '{STUCK_AFTER_MINUTES} minutes')""",
    ),
)


async def reconcile(admin_url: str, limits: Limits = Limits()) -> Report:
    """Check every invariant, in one repeatable-read snapshot so the four schemas are read at
    the same moment."""
    report = Report()
    conn = await asyncpg.connect(admin_url, server_settings={"timezone": "UTC"})
    try:
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            for invariant in INVARIANTS:
                report.checked[invariant.name] = await conn.fetchval(invariant.population)
                report.violations += [
                    Violation(invariant.name, row[0], row[1])
                    for row in await conn.fetch(
                        invariant.violations, *(getattr(limits, p) for p in invariant.params)
                    )
                ]
    finally:
        await conn.close()
    return report


def render(report: Report) -> str:
    """The report as an operator reads it."""
    lines = ["Invariants checked (architecture.md §4):"]
    found: dict[str, int] = {}
    for violation in report.violations:
        found[violation.invariant] = found.get(violation.invariant, 0) + 1
    for invariant in INVARIANTS:
        mark = f"{found[invariant.name]} VIOLATED" if invariant.name in found else "ok"
        lines.append(
            f"  {mark:<12} {invariant.name:<24} {report.checked[invariant.name]:>7} checked"
            f"  {invariant.rule}"
        )
    if report.violations:
        lines += ["", "Violations:"]
        lines += [f"  [{v.invariant}] {v.subject}: {v.detail}" for v in report.violations]
    lines += ["", "The books balance." if report.balanced else "The books do NOT balance."]
    return "\n".join(lines)
