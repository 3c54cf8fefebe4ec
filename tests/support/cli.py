"""Running the `elms` command as an operator does: a process of its own."""

from __future__ import annotations

import asyncio
import sys
from asyncio.subprocess import PIPE


async def run_elms(env: dict[str, str], *args: str) -> tuple[int, str]:
    """The exit code and everything it printed (stdout, then stderr)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "elms", *args, env=env, stdout=PIPE, stderr=PIPE
    )
    out, err = await process.communicate()
    return process.returncode or 0, out.decode() + err.decode()
