"""The faults the chaos suite injects into a running `elms up`, and how long each takes to heal.

A fault is a signal to one process: SIGKILL of a service or the gateway (the supervisor starts
it again), SIGSTOP and, after a pause, SIGCONT of a service (a hang: its port still accepts,
nothing answers), SIGQUIT to the postmaster (PostgreSQL's immediate shutdown, as a crash; the
supervisor starts it again). It has healed when the gateway answers a cheap authenticated read
of every service again: its recovery time runs from the signal to that answer."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil

SERVICES = ("customer", "loan", "payment")
STOP_SECONDS = 5.0
PROBE_INTERVAL_SECONDS = 0.25
PROBE_TIMEOUT_SECONDS = 5.0
# The reads that show the system healed: each reaches one service (and the gateway's database).
HEALTHY_READS = (
    ("/api/v1/customers?size=1", 200),
    ("/api/v1/loans?size=1", 200),
    ("/api/v1/payments/PAY-CHAOS-PROBE", 404),
    ("/api/v1/saga/history?size=1", 200),
)


@dataclass(frozen=True)
class Fault:
    kind: str  # kill | stop | postgres
    target: str  # a service, "gateway" or "postgresql"

    @property
    def name(self) -> str:
        return {
            "kill": f"SIGKILL {self.target}",
            "stop": f"SIGSTOP {self.target} {STOP_SECONDS:g} s",
            "postgres": "SIGQUIT postgresql",
        }[self.kind]


@dataclass
class Injected:
    fault: Fault
    pid: int
    at_seconds: float  # since the load started
    recovery_seconds: float | None = None  # None: never healed within the bound
    failed_probes: int = 0
    last_probe: str = ""
    extra: dict = field(default_factory=dict)

    def wire(self) -> dict:
        return {
            "fault": self.fault.name,
            "pid": self.pid,
            "atSeconds": round(self.at_seconds, 1),
            "recoverySeconds": (
                None if self.recovery_seconds is None else round(self.recovery_seconds, 2)
            ),
            "failedProbes": self.failed_probes,
            "lastFailedProbe": self.last_probe,
        }


def short_schedule() -> list[Fault]:
    """One fault of each kind."""
    return [
        Fault("kill", "customer"),
        Fault("stop", "loan"),
        Fault("kill", "loan"),
        Fault("postgres", "postgresql"),
        Fault("kill", "payment"),
        Fault("kill", "gateway"),
    ]


def long_schedule() -> list[Fault]:
    """Every fault on every process."""
    every = [Fault("kill", s) for s in SERVICES]
    every += [Fault("stop", s) for s in SERVICES]
    return [*every, Fault("kill", "gateway"), Fault("postgres", "postgresql")]


def service_process(supervisor_pid: int, name: str) -> psutil.Process:
    """The `elms serve <name>` child of the `elms up` process."""
    for child in psutil.Process(supervisor_pid).children():
        try:
            cmdline = child.cmdline()
        except psutil.NoSuchProcess:
            continue
        if "serve" in cmdline and name in cmdline:
            return child
    raise LookupError(f"no running `serve {name}` under {supervisor_pid}")


def postmaster(data_dir: Path) -> psutil.Process:
    pid_file = data_dir / "pgdata" / "postmaster.pid"
    return psutil.Process(int(pid_file.read_text().splitlines()[0]))


async def _target(fault: Fault, supervisor_pid: int, data_dir: Path) -> psutil.Process:
    """The process to signal, waiting (bounded) for it to be there: a service the supervisor
    is still starting again after the previous fault has no process yet."""
    deadline = time.monotonic() + 60
    while True:
        try:
            if fault.kind == "postgres":
                return postmaster(data_dir)
            return service_process(supervisor_pid, fault.target)
        except (LookupError, OSError, ValueError, IndexError, psutil.Error):
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)


async def healthy(api: httpx.AsyncClient) -> str:
    """ "" when every healthy read answers as it should, else what did not."""
    for path, expected in HEALTHY_READS:
        try:
            answer = await api.get(path, timeout=PROBE_TIMEOUT_SECONDS)
        except httpx.HTTPError as error:
            return f"{path}: {type(error).__name__}"
        if answer.status_code != expected:
            return f"{path}: HTTP {answer.status_code}"
    return ""


async def inject(
    fault: Fault,
    supervisor_pid: int,
    data_dir: Path,
    api: httpx.AsyncClient,
    started: float,
    bound_seconds: float,
) -> Injected:
    """Inject `fault` and measure how long the system takes to answer again."""
    process = await _target(fault, supervisor_pid, data_dir)
    sent = time.monotonic()
    injected = Injected(fault, process.pid, sent - started)
    resume: asyncio.Task | None = None
    if fault.kind == "kill":
        os.kill(process.pid, signal.SIGKILL)
    elif fault.kind == "stop":
        os.kill(process.pid, signal.SIGSTOP)

        async def cont() -> None:
            await asyncio.sleep(STOP_SECONDS)
            os.kill(process.pid, signal.SIGCONT)

        resume = asyncio.create_task(cont())
    else:
        os.kill(process.pid, signal.SIGQUIT)  # what `pg_ctl stop -m immediate` sends
    try:
        while time.monotonic() - sent < bound_seconds:
            failure = await healthy(api)
            if not failure and (resume is None or resume.done()):
                injected.recovery_seconds = time.monotonic() - sent
                return injected
            if failure:
                injected.failed_probes += 1
                injected.last_probe = failure
            await asyncio.sleep(PROBE_INTERVAL_SECONDS)
        return injected
    finally:
        if resume is not None:
            await resume
