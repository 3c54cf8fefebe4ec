"""Generated identifiers: a readable prefix and 96 random bits, so ids cannot be guessed."""

from __future__ import annotations

import secrets


def new_id(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(12).upper()}"
