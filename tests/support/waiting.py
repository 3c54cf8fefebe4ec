"""Waiting for a condition another task or process brings about, never for a length of time:
the condition is checked until it holds, and a bound turns a hang into a failure."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")

BOUND_SECONDS = 60.0


async def until(
    check: Callable[[], Awaitable[T]], what: str, bound_seconds: float = BOUND_SECONDS
) -> T:
    """The first truthy value `check` returns."""
    deadline = time.monotonic() + bound_seconds
    while True:
        found = await check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"still waiting after {bound_seconds} s for {what}")
        await asyncio.sleep(0.02)
