"""Schemathesis hooks for the contract run (SCHEMATHESIS_HOOKS=tests.contract.hooks).

Generated cases repeat header values, and a repeated Idempotency-Key with the same body replays
the first answer, as api.md §1 promises: a case would then be told of an address created, and
since deleted, by an earlier one. Each well-formed key is made unique; malformed ones are sent
as generated (the document's refusals of them are still checked). Replays have their own tests
(the idempotency tests of each suite)."""

from __future__ import annotations

import uuid
from typing import Any

import schemathesis

from elms.core.idempotency import MAX_KEY_LENGTH

HEADER = "Idempotency-Key"


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    key = (case.headers or {}).get(HEADER)
    if isinstance(key, str) and 0 < len(key) <= MAX_KEY_LENGTH and key.isprintable():
        case.headers[HEADER] = f"contract-{uuid.uuid4().hex}"
