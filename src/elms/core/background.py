"""Background jobs of a service: each runs every few seconds while the service runs.

Jobs coordinate through row locks in PostgreSQL, never through this process's memory, so any
number of replicas may run the same job."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass

import structlog

from elms.core.database import OUTAGE

log = structlog.get_logger("elms.background")


@dataclass(frozen=True)
class Job:
    name: str
    interval_seconds: float
    # Returns how many items the round processed.
    run: Callable[[], Awaitable[int]]
    # Set to run the next round at once instead of at the end of the interval.
    wake: asyncio.Event | None = None


async def _every(job: Job) -> None:
    failing = False
    while True:
        try:
            done = await job.run()
            if done:
                log.debug("job round", job=job.name, processed=done)
            if failing:
                log.info("job rounds succeed again", job=job.name)
            failing = False
        except asyncio.CancelledError:
            raise
        except Exception as error:
            # A failed round (database restarting, say) must not end the loop; an outage is
            # logged once, not at every round of it, and without a traceback: it is no bug.
            if not failing and isinstance(error, OUTAGE):
                log.warning(
                    "job round failed: the database is out of reach",
                    job=job.name,
                    error=f"{type(error).__name__}: {error}",
                )
            elif not failing:
                log.exception("job round failed", job=job.name)
            else:
                log.debug("job round failed again", job=job.name, exc_info=True)
            failing = True
        await _pause(job)


async def _pause(job: Job) -> None:
    if job.wake is None:
        await asyncio.sleep(job.interval_seconds)
        return
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(job.wake.wait(), job.interval_seconds)
    job.wake.clear()


@asynccontextmanager
async def running(jobs: Sequence[Job]) -> AsyncIterator[None]:
    tasks = [asyncio.create_task(_every(job), name=job.name) for job in jobs]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
