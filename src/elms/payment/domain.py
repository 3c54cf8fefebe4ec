"""The payment's rules beyond allocation, pure: its statuses and what may be shown of a bank."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

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


# Keys whose values identify an account or a card; only their last four characters are kept.
_SENSITIVE = ("account", "iban", "card", "routing")


def mask(value: str) -> str:
    visible = value[-4:] if len(value) > 4 else ""
    return "*" * max(len(value) - len(visible), 4) + visible


def mask_bank_details(details: dict[str, Any] | None) -> dict[str, Any] | None:
    """Bank details as stored and shown: account, IBAN, card and routing numbers masked down to
    their last four characters, at any depth (in objects and in lists)."""
    if details is None:
        return None

    def masked(key: str, value: Any, sensitive: bool = False) -> Any:
        # Under a sensitive key everything is masked, however deep: {"account": {"number": …}}.
        sensitive = sensitive or any(word in key.lower() for word in _SENSITIVE)
        if isinstance(value, dict):
            return {k: masked(k, v, sensitive) for k, v in value.items()}
        if isinstance(value, list):  # e.g. {"accounts": ["…"]}: each item under the list's key
            return [masked(key, v, sensitive) for v in value]
        if sensitive and isinstance(value, str | int) and not isinstance(value, bool):
            return mask(str(value))
        return value

    return {key: masked(key, value) for key, value in details.items()}
