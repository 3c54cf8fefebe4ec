"""`elms up`: every service as its own process, restarted if it dies, all stopped on Ctrl-C; and
the embedded PostgreSQL, when ELMS runs one, started again if it goes away and stopped at the
end, whichever postmaster serves the data directory by then."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import sys
import time

import httpx
import structlog

from elms.core import embedded
from elms.core.config import Settings
from elms.core.internal_auth import HEADER, service_credential

log = structlog.get_logger("elms.supervisor")

READY_TIMEOUT_SECONDS = 60
STOP_GRACE_SECONDS = 10
MAX_BACKOFF_SECONDS = 30
# A process that ran this long before dying is restarted at once, not after a backoff.
STABLE_AFTER_SECONDS = 60
# How often the embedded PostgreSQL is looked at.
DATABASE_CHECK_SECONDS = 1.0


class Supervisor:
    def __init__(self, settings: Settings, dsns: dict[str, str], embedded_db: bool = False) -> None:
        self.settings = settings
        self.dsns = dsns
        self.embedded_db = embedded_db
        self.processes: dict[str, asyncio.subprocess.Process] = {}
        self.stopping = asyncio.Event()
        # The services whose first process exited before it was ready: a port taken after all,
        # a configuration refused. (One merely slow to start is left to become ready.)
        self.failed_to_start: set[str] = set()
        # Each service started here reports this in its detailed health, which only a caller
        # with the credential sees: another ELMS on the same port cannot pass for it.
        self.instance_id = secrets.token_hex(16)
        self.credential = service_credential(settings)

    def _env(self, service: str) -> dict[str, str]:
        env = dict(os.environ)
        env[f"ELMS_{service.upper()}_DATABASE_URL"] = self.dsns[service]
        env["ELMS_INSTANCE_ID"] = self.instance_id
        return env

    async def _start(self, service: str) -> asyncio.subprocess.Process:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "elms", "serve", service, env=self._env(service)
        )
        self.processes[service] = process
        return process

    async def _keep_running(self, service: str, first_start: asyncio.Event) -> None:
        backoff = 1.0
        while not self.stopping.is_set():
            started = time.monotonic()
            process = await self._start(service)
            ready = await self._wait_ready(service, process)
            where = f"http://{self.settings.host}:{self.settings.port_of(service)}"
            print(f"  {service:<10} {where}  {'ready' if ready else 'NOT READY'}", flush=True)
            if not first_start.is_set():
                if not ready and process.returncode is not None:
                    self.failed_to_start.add(service)
                first_start.set()
            code = await process.wait()
            if self.stopping.is_set():
                return
            ran = time.monotonic() - started
            backoff = 1.0 if ran > STABLE_AFTER_SECONDS else min(backoff * 2, MAX_BACKOFF_SECONDS)
            print(f"  {service:<10} exited with {code}; restarting in {backoff:.0f} s", flush=True)
            try:
                await asyncio.wait_for(self.stopping.wait(), timeout=backoff)
            except TimeoutError:
                continue

    async def _keep_database_running(self) -> None:
        """The embedded server, started again when it is gone (killed, stopped by hand), with
        the services' backoff; the services' pools and LISTEN connections find it again."""
        backoff = 1.0
        up_since = time.monotonic()
        while not self.stopping.is_set():
            if await asyncio.to_thread(embedded.is_running, self.settings.data_dir):
                if time.monotonic() - up_since > STABLE_AFTER_SECONDS:
                    backoff = 1.0
            else:
                print(f"  postgresql stopped; starting it again in {backoff:.0f} s", flush=True)
                log.warning("embedded PostgreSQL is down", restart_in_seconds=backoff)
                if await self._stopped_within(backoff):
                    return
                try:
                    await asyncio.to_thread(embedded.restart, self.settings.data_dir)
                    print("  postgresql running again", flush=True)
                    log.info("embedded PostgreSQL is running again")
                    up_since = time.monotonic()
                except Exception as error:  # a failed start is tried again, later
                    log.warning("embedded PostgreSQL did not start", error=str(error))
                backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
            if await self._stopped_within(DATABASE_CHECK_SECONDS):
                return

    async def _stopped_within(self, seconds: float) -> bool:
        try:
            await asyncio.wait_for(self.stopping.wait(), timeout=seconds)
        except TimeoutError:
            return False
        return True

    async def _wait_ready(self, service: str, process: asyncio.subprocess.Process) -> bool:
        url = f"http://{self.settings.host}:{self.settings.port_of(service)}/actuator/health"
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        async with httpx.AsyncClient(timeout=2, headers={HEADER: self.credential}) as client:
            while time.monotonic() < deadline and process.returncode is None:
                try:
                    if self._is_ours(await client.get(url)):
                        return True
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.2)
        return False

    def _is_ours(self, answer: httpx.Response) -> bool:
        if answer.status_code != 200:
            return False
        try:
            return bool(answer.json()["data"].get("instance") == self.instance_id)
        except (ValueError, KeyError, TypeError, AttributeError):
            return False

    async def _stop_all(self) -> None:
        for process in self.processes.values():
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
        for service, process in self.processes.items():
            try:
                await asyncio.wait_for(process.wait(), timeout=STOP_GRACE_SECONDS)
            except TimeoutError:
                log.warning("service did not stop in time; killing it", service=service)
                process.kill()
                await process.wait()

    async def run(self) -> int:
        """Supervise until Ctrl-C (exit code 0), or stop at once, with 1, when a service's
        first process exits before it is ready: restarting it would fail the same way."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.stopping.set)
        started = {service: asyncio.Event() for service in self.dsns}
        keepers = [
            asyncio.create_task(self._keep_running(service, started[service]))
            for service in self.dsns
        ]
        if self.embedded_db:
            keepers.append(asyncio.create_task(self._keep_database_running()))
        all_started = asyncio.gather(*(event.wait() for event in started.values()))
        stop_requested = asyncio.create_task(self.stopping.wait())
        await asyncio.wait([all_started, stop_requested], return_when=asyncio.FIRST_COMPLETED)
        failed = sorted(self.failed_to_start)
        if failed:
            print(
                f"ELMS did not start: {', '.join(failed)} exited before it was ready (see the log"
                " above).",
                flush=True,
            )
            self.stopping.set()
        elif not self.stopping.is_set():
            print("ELMS is running. Ctrl-C stops it.", flush=True)
        await self.stopping.wait()
        print("Stopping ELMS...", flush=True)
        await self._stop_all()
        all_started.cancel()
        await asyncio.gather(*keepers, all_started, return_exceptions=True)
        if self.embedded_db:
            # The server that runs now, which may not be the one first started.
            await asyncio.to_thread(embedded.stop, self.settings.data_dir)
        return 1 if failed else 0
