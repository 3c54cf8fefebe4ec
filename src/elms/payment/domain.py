"""The payment's rules beyond allocation, pure: its statuses and what may be shown of a bank."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from elms.core import masking
from elms.core.errors import business_rule


class PaymentStatus(StrEnum):
    PENDING = "PENDING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"


class HistoryType(StrEnum):
    PAYMENT_RECORDED = "PAYMENT_RECORDED"
    PAYMENT_COMPLETED = "PAYMENT_COMPLETED"
    PAYMENT_FAILED = "PAYMENT_FAILED"


def check_move(current: str, target: PaymentStatus) -> bool:
    """Whether the move changes anything: PENDING → COMPLETED or FAILED; repeating the move a
    payment already made is a no-op (False); any other move is refused."""
    if current == target:
        return False
    if current != PaymentStatus.PENDING:
        raise business_rule(
            f"A {current} payment cannot become {target}",
            "INVALID_PAYMENT_STATE",
            currentStatus=current,
        )
    return True


def mask_bank_details(details: dict[str, Any] | None) -> dict[str, Any] | None:
    """Bank details as stored and shown: every value holding six or more digits, whatever its
    key and at any depth, masked down to its last four digits (elms.core.masking)."""
    return None if details is None else masking.mask_bank_details(details)
