"""The saga engine (architecture.md §4): runs sagas declared in `definition.py`, keeping their
state in `saga_states`.

A saga is driven by one task at a time. The task owns the row while its `version` is the one it
last wrote: every write is conditional on it (`repository.save_saga`), so a gateway that took the
saga over (recovery, or an operator's cancel) makes the previous owner stop at its next write. The
owner beats the row's heart while it works; a saga whose heart stopped (its gateway died) is taken
over by the recovery worker of any gateway (`FOR UPDATE SKIP LOCKED`). Every step call carries the
idempotency key `<sagaId>:<step>`, so a step run again by a new owner replays what it did instead
of doing it twice.

The state is written before each step is called and after it answers; the write after a step is
the same write as the one before the next step (or the final one), so a saga of four steps costs
six writes. A crash between an answer and that write only means the step runs again, which its
key makes harmless.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import structlog
from prometheus_client import CollectorRegistry

from elms.core.clock import utcnow
from elms.core.config import Settings
from elms.core.context import request_id_var, saga_id_var
from elms.core.database import OUTAGE, Database
from elms.core.errors import not_found
from elms.core.ids import new_id
from elms.core.service_client import (
    ServiceClient,
    ServiceInterrupted,
    ServiceTimeout,
    ServiceUnavailable,
)
from elms.gateway import repository as repo
from elms.gateway.breakers import BreakerBoard, BreakerOpen, own_failure
from elms.gateway.saga import flow
from elms.gateway.saga.definition import (
    SagaDefinition,
    StepAction,
    StepContext,
    StepRefused,
    StepUnavailable,
)
from elms.gateway.saga.flow import Decision
from elms.gateway.saga.metrics import SagaMetrics
from elms.gateway.saga.state import Policy, SagaState

log = structlog.get_logger("elms.gateway.saga")


@dataclass(frozen=True)
class SagaConfig:
    timeout: timedelta
    max_retries: int
    backoff_seconds: float
    heartbeat_seconds: float
    stale_after: timedelta
    recovery_batch: int

    @classmethod
    def from_settings(cls, settings: Settings) -> SagaConfig:
        return cls(
            timeout=timedelta(seconds=settings.saga_timeout_seconds),
            max_retries=settings.saga_max_retries,
            backoff_seconds=settings.saga_retry_backoff_seconds,
            heartbeat_seconds=settings.saga_heartbeat_seconds,
            stale_after=timedelta(seconds=settings.saga_stale_after_seconds),
            recovery_batch=settings.saga_recovery_batch,
        )


class SagaTakenOver(Exception):
    """Another owner wrote the saga since this task last did: this task stops."""


class BreakerRefused(StepUnavailable):
    """The step's service's circuit breaker refused the call: nothing was sent. `retry_after`
    is when the breaker may admit calls again (None: soon)."""

    def __init__(self, error: dict[str, Any], retry_after: datetime | None) -> None:
        super().__init__(error, uncertain=False)
        self.retry_after = retry_after


class _Owned:
    """The state a task drives (carrying the version its last write left, which the heartbeat
    reads), the status that write left, and how long a WAIT decision sleeps."""

    def __init__(self, state: SagaState) -> None:
        self.state = state
        self.written = state.status
        self.wait_seconds = 0.0


class SagaEngine:
    def __init__(self, definitions: Sequence[SagaDefinition], config: SagaConfig) -> None:
        self.definitions = {d.saga_type: d for d in definitions}
        # Steps past a point of no return: a saga there is not taken over for its timeout.
        self.forward_only = sorted({s for d in definitions for s in d.plan.forward_only_steps()})
        self.config = config
        # Counted in a registry of its own until the application gives it the service's.
        self.metrics = SagaMetrics(CollectorRegistry())
        self.tasks: dict[str, asyncio.Task[SagaState]] = {}
        # Time as the engine sees it (steps' times, timeouts); tests move it to a saga's timeout
        # instead of waiting. Heartbeats are the database's clock (repository.py).
        self.clock: Callable[[], datetime] = utcnow
        self.db: Database | None = None
        self.services: ServiceClient | None = None
        self.breakers: BreakerBoard | None = None

    def bind(self, db: Database, services: ServiceClient, breakers: BreakerBoard) -> None:
        """The gateway's pool, client and breakers, once its lifespan has opened them."""
        self.db, self.services, self.breakers = db, services, breakers

    # --- starting and waiting ------------------------------------------------------------

    def new_saga(
        self,
        saga_type: str,
        data: dict[str, Any],
        *,
        timeout: timedelta | None = None,
        policy: Policy = Policy.AUTOMATIC,
    ) -> SagaState:
        plan = self.definitions[saga_type].plan
        return flow.start(
            plan,
            new_id("SAGA"),
            data,
            self.clock(),
            timeout or self.config.timeout,
            self.config.max_retries,
            policy,
        )

    async def insert(self, state: SagaState) -> None:
        """Record a new saga; in the caller's transaction when there is one (an idempotency
        key's claim), so the key and the saga exist together or not at all."""
        assert self.db is not None
        # One statement is atomic on its own: no BEGIN and COMMIT round trips around it.
        async with self.db.connection() as conn:
            await repo.insert_saga(conn, state)
        self.metrics.started(state)

    def spawn(self, state: SagaState) -> asyncio.Task[SagaState]:
        """Drive the saga in a task of its own, which outlives the request that started it. It
        runs in a fresh context (no transaction of the caller's leaks into it) that carries the
        saga's request id and its own id, for the logs and the services' logs."""
        context = contextvars.Context()
        context.run(request_id_var.set, state.data.get("requestId"))
        context.run(saga_id_var.set, state.saga_id)
        task = asyncio.create_task(self._drive(state), name=state.saga_id, context=context)
        self.tasks[state.saga_id] = task

        def forget(done: asyncio.Task[SagaState]) -> None:
            if self.tasks.get(state.saga_id) is done:
                del self.tasks[state.saga_id]

        task.add_done_callback(forget)
        return task

    async def wait(self, saga_id: str, seconds: float) -> SagaState:
        """The saga once it has ended, or as it is after `seconds` if it is still running."""
        task = self.tasks.get(saga_id)
        if task is not None:
            done, _ = await asyncio.wait({task}, timeout=seconds)
            if done and not task.cancelled() and task.exception() is None:
                return task.result()
        return await self.get(saga_id)

    async def answer(self, state: SagaState) -> Any:
        """What a completed saga answers the request that started it: its final result, or what
        its definition reads with it (the loan as the loan service has it). Should that read
        fail, the final result alone: the work is done, and a 5xx would invite doing it again."""
        definition = self.definitions[state.saga_type]
        final = definition.final_result(state.saga_id, state.results())
        if definition.answer is None:
            return final

        async def read(
            service: str,
            method: str,
            path: str,
            body: Any = None,
            params: dict[str, Any] | None = None,
        ) -> Any:
            assert method == "GET", method
            return await self._call(f"{state.saga_id}:answer", service, method, path, body, params)

        try:
            return await definition.answer(final, read)
        except (StepRefused, StepUnavailable) as error:
            log.warning(
                "a completed saga's answer was not read; its final result is given",
                saga_id=state.saga_id,
                error=str(error),
            )
            return final

    async def get(self, saga_id: str) -> SagaState:
        assert self.db is not None
        async with self.db.connection() as conn:
            found = await repo.get_saga(conn, saga_id)
        if found is None:
            raise not_found("Saga", saga_id)
        return found

    async def history(
        self,
        *,
        status: str | None,
        saga_type: str | None,
        dates: tuple[datetime | None, datetime | None],
        started_by_customer: str | None,
        page: int,
        size: int,
    ) -> tuple[list[SagaState], int]:
        assert self.db is not None
        async with self.db.connection() as conn:
            return await repo.list_sagas(
                conn,
                status=status,
                saga_type=saga_type,
                since=dates[0],
                until=dates[1],
                started_by_customer=started_by_customer,
                limit=size,
                offset=page * size,
            )

    # --- recovery and cancel -------------------------------------------------------------

    async def recover_once(self) -> int:
        """Take over sagas nobody works on and drive each in a task; returns how many."""
        assert self.db is not None
        async with self.db.transaction() as conn:
            claimed = await repo.claim_sagas(
                conn,
                stale_seconds=self.config.stale_after.total_seconds(),
                forward_only_steps=self.forward_only,
                excluded=list(self.tasks),
                limit=self.config.recovery_batch,
            )
        for state in claimed:
            log.info(
                "saga taken over",
                saga_id=state.saga_id,
                status=state.status,
                step=state.current_step,
            )
            self.spawn(state)
        return len(claimed)

    async def cancel(self, saga_id: str) -> SagaState:
        """Take the saga over and compensate it (api.md §5); 409 when it ended or is past its
        point of no return. Its previous owner, here or in another gateway, stops at its next
        write; a step it had in flight is resolved by running it again under the same key."""
        assert self.db is not None
        now = self.clock()
        async with self.db.transaction() as conn:
            current = await repo.lock_saga(conn, saga_id)
            if current is None:
                raise not_found("Saga", saga_id)
            cancelled = flow.cancel(self.definitions[current.saga_type].plan, current, now)
            if cancelled is current:
                return current  # already compensating
            version = await repo.save_saga(conn, cancelled)
        assert version is not None  # the row is locked
        log.info("saga cancelled", saga_id=saga_id, step=cancelled.current_step)
        self.spawn(replace(cancelled, version=version))
        return replace(cancelled, version=version)

    async def drain(self) -> None:
        """Wait for every saga this gateway drives to end or park."""
        while self.tasks:
            await asyncio.gather(*list(self.tasks.values()), return_exceptions=True)

    async def stop(self, grace_seconds: float) -> None:
        """On shutdown: let running sagas finish for a moment, then stop the rest; their rows
        stay as last written, and recovery (here after a restart, or in another gateway) goes
        on from there."""
        running = list(self.tasks.values())
        if not running:
            return
        _, pending = await asyncio.wait(running, timeout=grace_seconds)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    # --- driving ---------------------------------------------------------------------------

    async def _drive(self, state: SagaState) -> SagaState:
        owned = _Owned(state)
        heart = asyncio.create_task(self._beat(owned))
        try:
            return await self._run(owned)
        except SagaTakenOver:
            log.info("saga taken over by another owner; this one stops", saga_id=state.saga_id)
        except OUTAGE as error:
            # The row stays as last written; recovery resumes it once its heart is found stale.
            log.warning(
                "saga paused: the gateway's database is out of reach",
                saga_id=state.saga_id,
                error=f"{type(error).__name__}: {error}",
            )
        except Exception:
            log.exception("saga stopped by an error", saga_id=state.saga_id)
        finally:
            heart.cancel()
        # What this task holds may never have been written: answer with the row.
        try:
            return await self.get(state.saga_id)
        except Exception:
            return owned.state

    async def _run(self, owned: _Owned) -> SagaState:
        definition = self.definitions[owned.state.saga_type]
        plan = definition.plan
        while True:
            state = owned.state
            now = self.clock()
            move = flow.next_move(plan, state, now)
            match move:
                case flow.Stop():
                    return state
                case flow.Finish(status=status):
                    await self._save(owned, flow.finish(state, status, now))
                    return owned.state
                case flow.TimeOut():
                    await self._save(owned, flow.timed_out(plan, state, now))
                case flow.Run(step=step) | flow.Resolve(step=step):
                    await self._save(owned, flow.step_started(state, step, now))
                    decision = await self._forward(owned, definition, step)
                    if await self._after(owned, decision):
                        return owned.state
                case flow.Undo(step=step):
                    await self._save(owned, flow.undo_started(state, step, now))
                    decision = await self._undo(owned, definition, step)
                    if await self._after(owned, decision):
                        return owned.state

    async def _forward(self, owned: _Owned, definition: SagaDefinition, step: str) -> Decision:
        plan = definition.plan
        state = owned.state
        action = definition.step(step).action
        try:
            result = await self._act(action, state, f"{state.saga_id}:{step}")
        except StepRefused as refused:
            owned.state, decision = flow.step_refused(
                plan, state, step, refused.error, self.clock()
            )
        except StepUnavailable as failed:
            now = self.clock()
            if isinstance(failed, BreakerRefused) and plan.after_pivot(step):
                # Past the pivot the step must go through: it waits for the breaker.
                owned.state, decision = flow.step_deferred(
                    plan,
                    state,
                    step,
                    failed.error,
                    failed.retry_after,
                    now,
                    self.config.stale_after,
                )
                owned.wait_seconds = flow.breaker_wait_seconds(
                    failed.retry_after, now, self.config.backoff_seconds
                )
            else:
                owned.state, decision = flow.step_failed(
                    plan, state, step, failed.error, failed.uncertain, now
                )
        else:
            owned.state = flow.step_succeeded(plan, state, step, result, self.clock())
            decision = Decision.CONTINUE
        return decision

    async def _undo(self, owned: _Owned, definition: SagaDefinition, step: str) -> Decision:
        state = owned.state
        compensation = definition.step(step).compensation
        assert compensation is not None
        try:
            result = await self._act(compensation, state, f"{state.saga_id}:{step}:undo")
        except StepRefused as refused:
            owned.state = flow.undo_refused(state, step, refused.error, self.clock())
            return Decision.CONTINUE
        except StepUnavailable as failed:
            owned.state, decision = flow.undo_failed(state, step, failed.error, self.clock())
            return decision
        owned.state = flow.undo_succeeded(state, step, result, self.clock())
        return Decision.CONTINUE

    async def _after(self, owned: _Owned, decision: Decision) -> bool:
        """Carry out a decision; True when the task stops here (parked or ended)."""
        if decision is Decision.CONTINUE:
            # Written by the next move's write (the next step's start, or the end).
            if owned.state.finished:
                await self._save(owned, owned.state)
                return True
            return False
        await self._save(owned, owned.state)
        if decision is Decision.PARK:
            log.warning(
                "saga parked until recovery",
                saga_id=owned.state.saga_id,
                step=owned.state.current_step,
                error=owned.state.error,
            )
            return True
        if decision is Decision.WAIT:
            log.info(
                "saga waits for a circuit breaker",
                saga_id=owned.state.saga_id,
                step=owned.state.current_step,
                seconds=owned.wait_seconds,
            )
            await asyncio.sleep(owned.wait_seconds)
            return False
        await asyncio.sleep(
            flow.backoff_seconds(owned.state.retry_count - 1, self.config.backoff_seconds)
        )
        return False

    async def _act(self, action: StepAction, state: SagaState, key: str) -> Any:
        async def call(
            service: str,
            method: str,
            path: str,
            body: Any = None,
            params: dict[str, Any] | None = None,
        ) -> Any:
            return await self._call(key, service, method, path, body, params)

        context = StepContext(state.saga_id, state.data, state.results(), call, state.error)
        try:
            return await action(context)
        except (StepRefused, StepUnavailable):
            raise
        except Exception as error:
            # A step that breaks (a bug, an answer of an unexpected shape, the gateway's own
            # database lost while it moved a breaker) may have acted: it is retried, resolved
            # before any compensation, and parks the saga if it keeps breaking.
            if isinstance(error, OUTAGE):
                log.warning(
                    "saga step interrupted: the gateway's database is out of reach",
                    saga_id=state.saga_id,
                    key=key,
                    error=f"{type(error).__name__}: {error}",
                )
            else:
                log.exception("saga step broke", saga_id=state.saga_id, key=key)
            raise StepUnavailable(
                {"code": "STEP_ERROR", "message": f"{type(error).__name__}: {error}"},
                uncertain=True,
            ) from error

    async def _call(
        self,
        key: str,
        service: str,
        method: str,
        path: str,
        body: Any,
        params: dict[str, Any] | None,
    ) -> Any:
        """One call of a step through the service's breaker, judged by the engine's clock. 2xx
        gives the data; 4xx is a refusal; no answer, a 5xx or an open breaker is a failure worth
        retrying. Services answer 5xx only when their transaction rolled back, so only a timeout
        or a broken connection leaves the outcome uncertain. A 5xx relaying another service's
        failure fails the step but does not count against this service's breaker."""
        services, breakers = self.services, self.breakers
        assert services is not None and breakers is not None
        try:
            answer = await breakers.guard(
                service,
                lambda: services.call(
                    service,
                    method,
                    path,
                    body,
                    idempotency_key=key if method != "GET" else None,
                    params=params,
                ),
                lambda answer: own_failure(answer.status, answer.relayed),
                self.clock,
            )
        except BreakerOpen as error:
            raise BreakerRefused(
                {"code": "SERVICE_UNAVAILABLE", "message": error.message, **error.extra},
                error.retry_after,
            ) from error
        except ServiceUnavailable as error:
            uncertain = isinstance(error, ServiceTimeout | ServiceInterrupted)
            code = "GATEWAY_TIMEOUT" if isinstance(error, ServiceTimeout) else "SERVICE_UNAVAILABLE"
            raise StepUnavailable({"code": code, "message": str(error)}, uncertain) from error
        if answer.status >= 500:
            raise StepUnavailable({**answer.error, "status": answer.status}, uncertain=False)
        if not answer.ok:
            raise StepRefused(answer.status, answer.error)
        return answer.data

    async def _save(self, owned: _Owned, state: SagaState) -> None:
        assert self.db is not None
        # One conditional UPDATE, atomic on its own (the most frequent write of the gateway:
        # before and after every step), so no BEGIN and COMMIT round trips around it.
        async with self.db.connection() as conn:
            version = await repo.save_saga(conn, state)
        if version is None:
            raise SagaTakenOver(state.saga_id)
        owned.state = replace(state, version=version)
        if state.finished and owned.written is not state.status:
            self.metrics.finished(state)
            log.info("saga ended", saga_id=state.saga_id, status=state.status)
        owned.written = state.status

    async def _beat(self, owned: _Owned) -> None:
        assert self.db is not None
        while True:
            await asyncio.sleep(self.config.heartbeat_seconds)
            try:
                async with self.db.connection() as conn:
                    await repo.beat_saga(conn, owned.state.saga_id, owned.state.version)
            except Exception:
                log.warning("saga heartbeat failed", saga_id=owned.state.saga_id, exc_info=True)
